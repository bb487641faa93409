"""Chapter 3 references: backpropagation through time, computed by ``torch.autograd``.

Every function takes NumPy float64 arrays in PyTorch's layout (batch first),
builds the forward computation with ``torch.nn.RNNCell`` / ``torch.nn.RNN`` /
``torch.nn.Linear`` in float64 on the reference device, and asks autograd for
the gradients. The course writes no backward formula here: the reference
*is* autograd, and the chapter's formulas and the students' code are checked
against it.

Shapes (B batch, T time steps, D input size, H hidden size, O output size):
``x`` (B, T, D), ``h0`` (B, H), ``hs`` (B, T, H) the states h_1..h_T,
``W_ih`` (H, D), ``W_hh`` (H, H), ``b_ih``/``b_hh`` (H,), ``W_hy`` (O, H),
``b_y`` (O,). Gradients have the shape of what they are gradients of.

Conventions (the chapter's "Mind the indices"): maths counts time from 1, arrays from 0.
``hs[:, t-1]`` holds h_t (and ``x[:, t-1]`` holds x_t), for t = 1..T; the initial state h_0 is
kept apart, in ``h0``. ``dhs[:, t-1]`` holds the gradient arriving at h_t *from the output at
step t* (the upstream part); the total gradient g_t = dL/dh_t adds what flows back from
h_{t+1}. A loss given by its upstream gradients is therefore
``L = sum_{t=1..T} sum_b dhs[b, t-1] . h_t[b]``. Weight gradients are sums over the batch and
over time (CS231n's convention; CMU 11-785 divides by the batch size, we do not).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..device import reference_device, to_device, to_numpy
from .ch02_elman import elman_module, linear_module, rnn_forward

__all__ = [
    "rnn_step_backward",
    "rnn_backward",
    "sequence_loss",
    "sequence_loss_grads",
    "truncated_bptt_grads",
    "numerical_gradient_W_hh",
    "tbptt_gradients",
    "forward_states",
]


def _leaf(array, device):
    return to_device(np.asarray(array, dtype=np.float64), device).requires_grad_(True)


def _cell(W_ih, W_hh, b_ih, b_hh, device):
    return elman_module(torch.nn.RNNCell, W_ih, W_hh, b_ih, b_hh, "tanh", device)


def _grads(params):
    return tuple(
        to_numpy(p.grad) if p.grad is not None else np.zeros(tuple(p.shape)) for p in params
    )


def forward_states(x, h0, W_ih, W_hh, b_ih, b_hh, *, device=None):
    """h_1..h_T, (B, T, H), by ``torch.nn.RNN(batch_first=True)`` (what a forward pass stores):
    chapter 2's reference, under the name chapter 3 uses."""
    return rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh, device=device)


def rnn_step_backward(dh, x_t, h_prev, W_ih, W_hh, b_ih, b_hh, *, device=None):
    """Gradients of ``L = sum(dh * h_t)``, ``h_t = RNNCell(x_t, h_prev)``, by autograd.

    ``dh`` is the *total* gradient g_t on h_t (from its output and from h_{t+1}), not only the
    upstream part.

    Returns ``(dx_t, dh_prev, dW_ih, dW_hh, db_ih, db_hh)``.
    """
    device = device or reference_device()
    cell = _cell(W_ih, W_hh, b_ih, b_hh, device)
    x_leaf, h_leaf = _leaf(x_t, device), _leaf(h_prev, device)
    h_t = cell(x_leaf, h_leaf)
    (h_t * to_device(dh, device)).sum().backward()
    return (
        to_numpy(x_leaf.grad),
        to_numpy(h_leaf.grad),
        *_grads([cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh]),
    )


def rnn_backward(dhs, x, h0, W_ih, W_hh, b_ih, b_hh, *, device=None):
    """Full BPTT: gradients of ``L = sum_{t=1..T} sum(dhs[:, t-1] * h_t)`` by autograd through
    ``nn.RNN``. ``dhs[:, t-1]`` is the upstream part of g_t (from the output at step t).

    Returns ``(dx, dh0, dW_ih, dW_hh, db_ih, db_hh)``.
    """
    device = device or reference_device()
    rnn = elman_module(torch.nn.RNN, W_ih, W_hh, b_ih, b_hh, "tanh", device, batch_first=True)
    x_leaf, h_leaf = _leaf(x, device), _leaf(h0, device)
    out, _ = rnn(x_leaf, h_leaf.unsqueeze(0))
    (out * to_device(dhs, device)).sum().backward()
    return (
        to_numpy(x_leaf.grad),
        to_numpy(h_leaf.grad),
        *_grads([rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0]),
    )


def _sequence_loss_tensor(x, h0, params, targets, mask, device):
    W_ih, W_hh, b_ih, b_hh, W_hy, b_y = params
    hidden, inputs = W_ih.shape
    B, T, _ = x.shape
    h = to_device(h0, device)
    xs = to_device(x, device)
    hs = []
    for t in range(T):  # F.rnn_tanh_cell is exactly nn.RNNCell's computation
        h = torch.tanh(xs[:, t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
        hs.append(h)
    logits = torch.stack(hs, dim=1) @ W_hy.T + b_y  # (B, T, O)
    ce = F.cross_entropy(
        logits.reshape(B * T, -1), to_device(targets, device).long().reshape(-1), reduction="none"
    ).reshape(B, T)
    m = to_device(np.asarray(mask, dtype=np.float64), device)
    return (ce * m).sum() / m.sum()


def sequence_loss(x, h0, W_ih, W_hh, b_ih, b_hh, W_hy, b_y, targets, mask, *, device=None) -> float:
    """Masked many-to-many cross-entropy: the mean over real (mask = True) tokens only."""
    device = device or reference_device()
    params = [to_device(p, device) for p in (W_ih, W_hh, b_ih, b_hh, W_hy, b_y)]
    with torch.no_grad():
        return float(_sequence_loss_tensor(x, h0, params, targets, mask, device))


def sequence_loss_grads(x, h0, W_ih, W_hh, b_ih, b_hh, W_hy, b_y, targets, mask, *, device=None):
    """The masked sequence loss and its gradients, by autograd.

    ``targets`` (B, T) int64 class ids; ``mask`` (B, T) bool, True for real
    tokens, False for padding. ``loss = sum(mask * ce) / sum(mask)`` with
    ``ce[b, t]`` the softmax cross-entropy of ``logits[b, t] = W_hy h_t + b_y``.
    Returns ``(loss, dW_ih, dW_hh, db_ih, db_hh, dW_hy, db_y)``; ``loss`` a float.
    """
    device = device or reference_device()
    params = [_leaf(p, device) for p in (W_ih, W_hh, b_ih, b_hh, W_hy, b_y)]
    loss = _sequence_loss_tensor(x, h0, params, targets, mask, device)
    loss.backward()
    return (float(loss.detach()), *_grads(params))


def truncated_bptt_grads(dhs, x, h0, W_ih, W_hh, b_ih, b_hh, k, *, device=None):
    """Parameter gradients of ``L = sum_{t=1..T} sum(dhs[:, t-1] * h_t)`` when the state is
    detached every ``k`` steps (PyTorch's idiom: ``h = h.detach()`` before steps k, 2k, 3k, ...).

    Time is cut into chunks ``[0, k), [k, 2k), ...``; the state entering each
    chunk is a constant, so no gradient flows from one chunk into the one
    before it. Returns ``(dW_ih, dW_hh, db_ih, db_hh)``; ``k >= T`` is full BPTT.
    """
    device = device or reference_device()
    cell = _cell(W_ih, W_hh, b_ih, b_hh, device)
    xs, d = to_device(x, device), to_device(dhs, device)
    h = to_device(h0, device)
    total = 0
    for t in range(xs.shape[1]):
        if t % int(k) == 0:
            h = h.detach()
        h = cell(xs[:, t], h)
        total = total + (h * d[:, t]).sum()
    total.backward()
    return _grads([cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh])


def numerical_gradient_W_hh(dhs, x, h0, W_ih, W_hh, b_ih, b_hh, eps, *, device=None):
    """The centred finite difference of ``L = sum_{t=1..T} sum(dhs[:, t-1] * h_t)`` with respect
    to every entry of ``W_hh``, the forward passes by ``torch.nn.RNN`` (float64, no autograd):
    ``(L(W_hh + eps E_ij) - L(W_hh - eps E_ij)) / (2 eps)``, one entry at a time, each nudge
    undone before the next. Returns an ``(H, H)`` array (what ``rnn_backward``'s ``dW_hh``
    approximates, to order eps**2)."""
    device = device or reference_device()
    rnn = elman_module(torch.nn.RNN, W_ih, W_hh, b_ih, b_hh, "tanh", device, batch_first=True)
    xs, state, d = to_device(x, device), to_device(h0, device).unsqueeze(0), to_device(dhs, device)
    weight = rnn.weight_hh_l0
    grad = np.zeros(np.shape(W_hh))
    with torch.no_grad():
        original = weight.clone()

        def loss():
            return float((rnn(xs, state)[0] * d).sum())

        for i in range(grad.shape[0]):
            for j in range(grad.shape[1]):
                w = float(W_hh[i, j])
                weight[i, j] = w + eps
                up = loss()
                weight[i, j] = w - eps
                down = loss()
                weight.copy_(original)
                grad[i, j] = (up - down) / (2 * eps)
    return grad


def tbptt_gradients(x, targets, h0, W_ih, W_hh, b_ih, b_hh, W_hy, b_y, k, *, device=None):
    """Truncated BPTT as a PyTorch training loop computes it, over one long sequence.

    Time is cut into chunks ``[0, k), [k, 2k), ...`` (the last may be shorter). The state is
    *carried* from chunk to chunk and detached at each chunk's start (``h = h.detach()``);
    each chunk's loss is backpropagated on its own and the gradients accumulate. The loss is
    the mean cross-entropy over all ``B * T`` positions of ``logits[:, t] = W_hy h_t + b_y``
    against ``targets`` (``(B, T)`` class ids), so chunk ``c`` contributes
    ``sum_{t in c} sum_b CE[b, t] / (B * T)`` and the chunks' losses add up to the mean.

    Returns ``(dW_ih, dW_hh, db_ih, db_hh, dW_hy, db_y, h_T)``: the accumulated gradients and
    the state carried out of the last chunk (``(B, H)``).
    """
    device = device or reference_device()
    rnn = elman_module(torch.nn.RNN, W_ih, W_hh, b_ih, b_hh, "tanh", device, batch_first=True)
    head = linear_module(W_hy, b_y, device)
    xs, ys = to_device(x, device), to_device(targets, device).long()
    B, T = ys.shape
    h = to_device(h0, device).unsqueeze(0)
    for start in range(0, T, int(k)):
        h = h.detach()
        out, h = rnn(xs[:, start : start + k], h)
        logits = head(out)
        ce = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            ys[:, start : start + k].reshape(-1),
            reduction="sum",
        )
        (ce / (B * T)).backward()
    params = [
        rnn.weight_ih_l0,
        rnn.weight_hh_l0,
        rnn.bias_ih_l0,
        rnn.bias_hh_l0,
        head.weight,
        head.bias,
    ]
    return (*_grads(params), to_numpy(h[0]))
