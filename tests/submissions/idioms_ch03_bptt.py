"""Chapter 3's PyTorch part (``tbptt_gradients``) answered in the idioms people use: each must
get full marks in the kernel, the sandbox and ``make grade`` (tests/test_grading_*.py).

Every one carries the state across chunks and detaches it at each chunk's start; they differ
in how the model is built, how the loss is scaled and how the gradients are collected."""

NN_MODULES_OPTIMIZER = """
import torch
from torch import nn

def tbptt_gradients(x, targets, h0, W_ih, W_hh, b_ih, b_hh, W_hy, b_y, k):
    rnn = nn.RNN(W_ih.shape[1], W_ih.shape[0], batch_first=True, dtype=torch.float64)
    head = nn.Linear(W_hy.shape[1], W_hy.shape[0], dtype=torch.float64)
    with torch.no_grad():
        for p, value in zip([*rnn.parameters(), *head.parameters()],
                            (W_ih, W_hh, b_ih, b_hh, W_hy, b_y)):
            p.copy_(torch.as_tensor(value))
    params = [*rnn.parameters(), *head.parameters()]
    optimizer = torch.optim.SGD(params, lr=0.1)
    optimizer.zero_grad()                      # once: the chunks' gradients accumulate
    criterion = nn.CrossEntropyLoss(reduction="sum")
    B, T = targets.shape
    h = torch.as_tensor(h0).unsqueeze(0)
    for start in range(0, T, k):
        h = h.detach()
        out, h = rnn(torch.as_tensor(x[:, start:start + k]), h)
        logits = head(out)
        loss = criterion(logits.flatten(0, 1), torch.as_tensor(targets[:, start:start + k]).flatten())
        (loss / (B * T)).backward()
    return tuple(p.grad.detach().cpu().numpy().copy() for p in params) + (h[0].detach().numpy(),)
"""

CHUNK_MEAN_REWEIGHTED = """
import torch
import torch.nn.functional as F

def tbptt_gradients(x, targets, h0, W_ih, W_hh, b_ih, b_hh, W_hy, b_y, k):
    # F.cross_entropy's default mean over the chunk, reweighted by the chunk's share of B*T
    cell = torch.nn.RNNCell(W_ih.shape[1], W_ih.shape[0], dtype=torch.float64)
    cell.weight_ih.data = torch.from_numpy(W_ih.copy())
    cell.weight_hh.data = torch.from_numpy(W_hh.copy())
    cell.bias_ih.data = torch.from_numpy(b_ih.copy())
    cell.bias_hh.data = torch.from_numpy(b_hh.copy())
    W_out = torch.from_numpy(W_hy.copy()).requires_grad_()
    b_out = torch.from_numpy(b_y.copy()).requires_grad_()
    B, T = targets.shape
    xs, ys = torch.from_numpy(x), torch.from_numpy(targets)
    h = torch.from_numpy(h0)
    for start in range(0, T, k):
        stop = min(start + k, T)
        h = h.detach()
        outs = []
        for t in range(start, stop):
            h = cell(xs[:, t], h)
            outs.append(F.linear(h, W_out, b_out))
        logits = torch.stack(outs, 1)
        mean = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ys[:, start:stop].reshape(-1))
        (mean * (stop - start) / T).backward()
    grads = [cell.weight_ih.grad, cell.weight_hh.grad, cell.bias_ih.grad, cell.bias_hh.grad,
             W_out.grad, b_out.grad]
    return tuple(g.numpy() for g in grads) + (h.detach().numpy(),)
"""

AUTOGRAD_GRAD = """
import numpy as np
import torch
import torch.nn.functional as F

def tbptt_gradients(x, targets, h0, W_ih, W_hh, b_ih, b_hh, W_hy, b_y, k):
    params = [torch.tensor(p, requires_grad=True) for p in (W_ih, W_hh, b_ih, b_hh, W_hy, b_y)]
    totals = [np.zeros_like(p) for p in (W_ih, W_hh, b_ih, b_hh, W_hy, b_y)]
    B, T = targets.shape
    h = torch.tensor(h0)
    chunks = np.array_split(np.arange(T), range(k, T, k))
    for steps in chunks:
        h = h.detach()
        loss = 0.0
        for t in steps:
            h = torch.tanh(F.linear(torch.tensor(x[:, t]), params[0], params[2])
                           + F.linear(h, params[1], params[3]))
            logits = F.linear(h, params[4], params[5])
            loss = loss + F.cross_entropy(logits, torch.tensor(targets[:, t]), reduction="sum")
        grads = torch.autograd.grad(loss / (B * T), params)
        for total, g in zip(totals, grads):
            total += g.numpy()
    return (*totals, h.detach().numpy())
"""

TORCH_FUNC = """
import torch
import torch.nn.functional as F
from torch.func import grad

def _chunk_loss(params, h, xs, ys, n):
    W_ih, W_hh, b_ih, b_hh, W_hy, b_y = params
    total = 0.0
    for t in range(xs.shape[1]):
        h = torch.tanh(xs[:, t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
        total = total + F.cross_entropy(h @ W_hy.T + b_y, ys[:, t], reduction="sum")
    return total / n, h

def tbptt_gradients(x, targets, h0, W_ih, W_hh, b_ih, b_hh, W_hy, b_y, k):
    params = tuple(torch.as_tensor(p) for p in (W_ih, W_hh, b_ih, b_hh, W_hy, b_y))
    xs, ys = torch.as_tensor(x), torch.as_tensor(targets)
    n = ys.numel()
    h = torch.as_tensor(h0)
    acc = [torch.zeros_like(p) for p in params]
    for start in range(0, ys.shape[1], k):
        # grad differentiates in params only: the carried h goes in as a constant
        g, h = grad(_chunk_loss, has_aux=True)(params, h, xs[:, start:start + k],
                                                 ys[:, start:start + k], n)
        acc = [a + gi for a, gi in zip(acc, g)]
    with torch.no_grad():
        return tuple(a.numpy() for a in acc) + (h.numpy(),)
"""

ONE_BACKWARD_DETACH_IN_LOOP = """
import torch
import torch.nn.functional as F

def tbptt_gradients(x, targets, h0, W_ih, W_hh, b_ih, b_hh, W_hy, b_y, k):
    # one backward of the whole loss: the detach points alone make it truncated
    Wi, Wh, bi, bh, Wy, by = ps = [torch.tensor(p).requires_grad_(True)
                                   for p in (W_ih, W_hh, b_ih, b_hh, W_hy, b_y)]
    h = torch.tensor(h0)
    logits = []
    for t in range(x.shape[1]):
        if t % k == 0:
            h = h.detach()
        h = torch.tanh(torch.tensor(x[:, t]) @ Wi.T + bi + h @ Wh.T + bh)
        logits.append(h @ Wy.T + by)
    loss = F.cross_entropy(torch.stack(logits, 1).transpose(1, 2), torch.tensor(targets))
    loss.backward()
    return tuple(p.grad.numpy() for p in ps) + (h.detach().numpy(),)
"""

IDIOMS = {
    "tbptt_gradients": {
        "nn modules, torch.optim zero_grad": NN_MODULES_OPTIMIZER,
        "RNNCell, F.cross_entropy's mean reweighted": CHUNK_MEAN_REWEIGHTED,
        "torch.autograd.grad, F.linear, .numpy()": AUTOGRAD_GRAD,
        "torch.func.grad with aux": TORCH_FUNC,
        "one backward, detach in the loop, .detach()": ONE_BACKWARD_DETACH_IN_LOOP,
    },
}
