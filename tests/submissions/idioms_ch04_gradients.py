"""Chapter 4's PyTorch parts (``gradient_signal``, ``clipped_sgd_step``) answered in the idioms
people use: each must get full marks in the kernel, the sandbox and ``make grade``
(tests/test_grading_*.py)."""

SIGNAL_AUTOGRAD_GRAD = """
import torch
import torch.nn.functional as F

def gradient_signal(x, targets, W_ih, W_hh, b_ih, b_hh, W_hy, b_y):
    xs = torch.from_numpy(x).requires_grad_()
    h = torch.zeros(x.shape[0], W_hh.shape[0], dtype=torch.float64)
    W_ih, W_hh, b_ih, b_hh, W_hy, b_y = map(torch.from_numpy, (W_ih, W_hh, b_ih, b_hh, W_hy, b_y))
    for x_t in xs.unbind(1):
        h = torch.tanh(F.linear(x_t, W_ih, b_ih) + F.linear(h, W_hh, b_hh))
    loss = F.cross_entropy(F.linear(h, W_hy, b_y), torch.from_numpy(targets), reduction="sum")
    grad = torch.autograd.grad(loss, xs)[0]
    return torch.linalg.vector_norm(grad, dim=2).numpy()
"""

SIGNAL_BACKWARD = """
import numpy as np
import torch

def gradient_signal(x, targets, W_ih, W_hh, b_ih, b_hh, W_hy, b_y):
    B, T, _ = x.shape
    xs = torch.tensor(x)
    xs.requires_grad_()
    h = torch.zeros(B, W_hh.shape[0], dtype=torch.float64)
    for t in range(T):
        h = torch.tanh(xs[:, t] @ torch.tensor(W_ih).T + torch.tensor(b_ih + b_hh)
                       + h @ torch.tensor(W_hh).T)
    logits = h @ torch.tensor(W_hy).T + torch.tensor(b_y)
    log_p = torch.log_softmax(logits, dim=1)
    loss = -log_p[torch.arange(B), torch.tensor(targets)].sum()
    loss.backward()
    return np.sqrt((xs.grad.detach().numpy() ** 2).sum(axis=-1))
"""

SIGNAL_NN_MODULES = """
import torch
from torch import nn

def gradient_signal(x, targets, W_ih, W_hh, b_ih, b_hh, W_hy, b_y):
    rnn = nn.RNN(W_ih.shape[1], W_ih.shape[0], batch_first=True, dtype=torch.float64)
    head = nn.Linear(W_hy.shape[1], W_hy.shape[0], dtype=torch.float64)
    with torch.no_grad():
        for p, value in zip([*rnn.parameters(), *head.parameters()],
                            (W_ih, W_hh, b_ih, b_hh, W_hy, b_y)):
            p.copy_(torch.as_tensor(value))
    xs = torch.as_tensor(x).clone().requires_grad_(True)
    _, h_n = rnn(xs)
    loss = nn.CrossEntropyLoss(reduction="sum")(head(h_n[0]), torch.as_tensor(targets))
    loss.backward()
    return xs.grad.norm(dim=-1).detach().cpu().numpy()
"""

SIGNAL_TORCH_FUNC = """
import torch
import torch.nn.functional as F
from torch.func import grad, vmap

def _loss_of_one(x_seq, target, W_ih, W_hh, b_ih, b_hh, W_hy, b_y):
    h = torch.zeros(W_hh.shape[0], dtype=torch.float64)
    for t in range(x_seq.shape[0]):
        h = torch.tanh(W_ih @ x_seq[t] + b_ih + W_hh @ h + b_hh)
    return F.cross_entropy((W_hy @ h + b_y)[None], target[None])

def gradient_signal(x, targets, W_ih, W_hh, b_ih, b_hh, W_hy, b_y):
    weights = [torch.as_tensor(w) for w in (W_ih, W_hh, b_ih, b_hh, W_hy, b_y)]
    per_sequence = vmap(grad(_loss_of_one), in_dims=(0, 0) + (None,) * 6)
    g = per_sequence(torch.as_tensor(x), torch.as_tensor(targets), *weights)
    return g.norm(dim=-1).numpy()
"""

SIGNAL_TORCH_VJP = """
import torch
import torch.nn.functional as F
from torch.func import vjp

def gradient_signal(x, targets, W_ih, W_hh, b_ih, b_hh, W_hy, b_y):
    W_ih, W_hh, b_ih, b_hh, W_hy, b_y = (torch.as_tensor(w) for w in (W_ih, W_hh, b_ih, b_hh, W_hy, b_y))
    y = torch.as_tensor(targets)

    def loss_of(xs):
        h = torch.zeros(xs.shape[0], W_hh.shape[0], dtype=xs.dtype)
        for t in range(xs.shape[1]):
            h = torch.tanh(xs[:, t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
        return F.cross_entropy(h @ W_hy.T + b_y, y, reduction="sum")

    loss, pullback = vjp(loss_of, torch.as_tensor(x))
    (g,) = pullback(torch.ones_like(loss))
    return g.pow(2).sum(-1).sqrt().numpy()
"""

SGD_OPTIMIZER = """
import torch
import torch.nn.functional as F

def clipped_sgd_step(x, targets, W_ih, W_hh, b_ih, b_hh, W_hy, b_y, lr, max_norm):
    params = [torch.tensor(p, requires_grad=True) for p in (W_ih, W_hh, b_ih, b_hh, W_hy, b_y)]
    optimizer = torch.optim.SGD(params, lr=lr)
    xs = torch.from_numpy(x)
    h = torch.zeros(x.shape[0], W_hh.shape[0], dtype=torch.float64)
    for t in range(x.shape[1]):
        h = torch.tanh(xs[:, t] @ params[0].T + params[2] + h @ params[1].T + params[3])
    loss = F.cross_entropy(h @ params[4].T + params[5], torch.from_numpy(targets))
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, max_norm)
    optimizer.step()
    return tuple(p.detach().numpy() for p in params) + (loss.item(),)
"""

NN_MODULES = """
import torch
from torch import nn

def clipped_sgd_step(x, targets, W_ih, W_hh, b_ih, b_hh, W_hy, b_y, lr, max_norm):
    rnn = nn.RNN(W_ih.shape[1], W_ih.shape[0], batch_first=True, dtype=torch.float64)
    head = nn.Linear(W_hy.shape[1], W_hy.shape[0], dtype=torch.float64)
    with torch.no_grad():
        for p, value in zip([*rnn.parameters(), *head.parameters()],
                            (W_ih, W_hh, b_ih, b_hh, W_hy, b_y)):
            p.copy_(torch.as_tensor(value))
    _, h_n = rnn(torch.as_tensor(x))
    loss = nn.CrossEntropyLoss()(head(h_n[0]), torch.as_tensor(targets))
    loss.backward()
    params = [*rnn.parameters(), *head.parameters()]
    nn.utils.clip_grad_norm_(params, max_norm)
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad
    return (*[p.detach().cpu().numpy().copy() for p in params], float(loss.detach()))
"""

AUTOGRAD_GRAD = """
import torch
import torch.nn.functional as F

def clipped_sgd_step(x, targets, W_ih, W_hh, b_ih, b_hh, W_hy, b_y, lr, max_norm):
    params = [torch.from_numpy(p.copy()).requires_grad_() for p in (W_ih, W_hh, b_ih, b_hh, W_hy, b_y)]
    h = torch.zeros(x.shape[0], W_hh.shape[0], dtype=torch.float64)
    for x_t in torch.from_numpy(x).unbind(1):
        h = torch.tanh(F.linear(x_t, params[0], params[2]) + F.linear(h, params[1], params[3]))
    loss = F.cross_entropy(F.linear(h, params[4], params[5]), torch.from_numpy(targets))
    grads = torch.autograd.grad(loss, params)
    total = torch.sqrt(sum((g ** 2).sum() for g in grads))
    scale = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    with torch.no_grad():
        new = [p - lr * scale * g for p, g in zip(params, grads)]
    return tuple(p.numpy() for p in new) + (loss.item(),)
"""

TORCH_FUNC = """
import torch
import torch.nn.functional as F
from torch.func import grad_and_value

def _loss(params, x, targets):
    W_ih, W_hh, b_ih, b_hh, W_hy, b_y = params
    h = torch.zeros(x.shape[0], W_hh.shape[0], dtype=torch.float64)
    for t in range(x.shape[1]):
        h = torch.tanh(x[:, t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
    return F.cross_entropy(h @ W_hy.T + b_y, targets)

def clipped_sgd_step(x, targets, W_ih, W_hh, b_ih, b_hh, W_hy, b_y, lr, max_norm):
    params = tuple(torch.as_tensor(p) for p in (W_ih, W_hh, b_ih, b_hh, W_hy, b_y))
    grads, loss = grad_and_value(_loss)(params, torch.as_tensor(x), torch.as_tensor(targets))
    norm = torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads]))
    coef = min(1.0, max_norm / (norm.item() + 1e-6))
    return tuple((p - lr * coef * g).detach().numpy() for p, g in zip(params, grads)) + (float(loss),)
"""

IDIOMS = {
    "gradient_signal": {
        "torch.autograd.grad, F.linear": SIGNAL_AUTOGRAD_GRAD,
        ".backward() on x.requires_grad_(), a log-softmax by hand": SIGNAL_BACKWARD,
        "nn.RNN and nn.CrossEntropyLoss modules": SIGNAL_NN_MODULES,
        "torch.func.grad under vmap, one sequence at a time": SIGNAL_TORCH_FUNC,
        "torch.func.vjp": SIGNAL_TORCH_VJP,
    },
    "clipped_sgd_step": {
        "torch.optim.SGD": SGD_OPTIMIZER,
        "nn modules, no_grad": NN_MODULES,
        "torch.autograd.grad, F.linear": AUTOGRAD_GRAD,
        "torch.func.grad_and_value": TORCH_FUNC,
    },
}
