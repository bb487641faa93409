"""Chapter 5 references: LSTM and GRU, computed by ``torch.nn`` itself.

NumPy float64 arrays in PyTorch's packed layout go in, ``torch.nn.LSTMCell`` /
``LSTM`` / ``GRUCell`` / ``GRU`` run in float64 on the reference device, and
NumPy arrays come out. The backward reference is autograd through ``LSTMCell``.

Packed layout (H hidden size, D input size):

* LSTM: ``W_ih`` (4H, D), ``W_hh`` (4H, H), ``b_ih``/``b_hh`` (4H,), gate blocks in
  the order **i, f, g, o** (input, forget, cell candidate, output);
* GRU: ``W_ih`` (3H, D), ``W_hh`` (3H, H), ``b_ih``/``b_hh`` (3H,), blocks **r, z, n**
  (reset, update, new); the reset gate multiplies ``W_hn h + b_hn``.
"""

from __future__ import annotations

import numpy as np
import torch

from ..device import REFERENCE_DTYPE, reference_device, to_device, to_numpy

__all__ = ["lstm_step", "lstm_forward", "gru_step", "gru_forward", "lstm_step_backward"]


def _module(cls, W_ih, W_hh, b_ih, b_hh, device, **kwargs):
    gates = {"LSTM": 4, "LSTMCell": 4, "GRU": 3, "GRUCell": 3}[cls.__name__]
    rows, inputs = np.shape(W_ih)
    module = cls(inputs, rows // gates, dtype=REFERENCE_DTYPE, device=device, **kwargs)
    suffix = "_l0" if cls in (torch.nn.LSTM, torch.nn.GRU) else ""
    with torch.no_grad():
        for name, value in (
            ("weight_ih", W_ih),
            ("weight_hh", W_hh),
            ("bias_ih", b_ih),
            ("bias_hh", b_hh),
        ):
            getattr(module, name + suffix).copy_(to_device(value, device))
    return module


def lstm_step(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh, *, device=None):
    """(h_t, c_t) from ``torch.nn.LSTMCell``."""
    device = device or reference_device()
    cell = _module(torch.nn.LSTMCell, W_ih, W_hh, b_ih, b_hh, device)
    with torch.no_grad():
        h, c = cell(to_device(x_t, device), (to_device(h_prev, device), to_device(c_prev, device)))
    return to_numpy(h), to_numpy(c)


def lstm_forward(x, h0, c0, W_ih, W_hh, b_ih, b_hh, *, device=None):
    """(hs, c_T): all hidden states (B, T, H) and the last cell state (B, H), by ``nn.LSTM``."""
    device = device or reference_device()
    lstm = _module(torch.nn.LSTM, W_ih, W_hh, b_ih, b_hh, device, batch_first=True)
    with torch.no_grad():
        out, (_, c_n) = lstm(
            to_device(x, device),
            (to_device(h0, device).unsqueeze(0), to_device(c0, device).unsqueeze(0)),
        )
    return to_numpy(out), to_numpy(c_n[0])


def gru_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh, *, device=None):
    """h_t from ``torch.nn.GRUCell``."""
    device = device or reference_device()
    cell = _module(torch.nn.GRUCell, W_ih, W_hh, b_ih, b_hh, device)
    with torch.no_grad():
        return to_numpy(cell(to_device(x_t, device), to_device(h_prev, device)))


def gru_forward(x, h0, W_ih, W_hh, b_ih, b_hh, *, device=None):
    """All hidden states (B, T, H) from ``torch.nn.GRU(batch_first=True)``."""
    device = device or reference_device()
    gru = _module(torch.nn.GRU, W_ih, W_hh, b_ih, b_hh, device, batch_first=True)
    with torch.no_grad():
        out, _ = gru(to_device(x, device), to_device(h0, device).unsqueeze(0))
    return to_numpy(out)


def lstm_step_backward(dh_t, dc_t, x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh, *, device=None):
    """Gradients of ``L = sum(dh_t * h_t) + sum(dc_t * c_t)`` through ``LSTMCell``, by autograd.

    Returns ``(dx_t, dh_prev, dc_prev, dW_ih, dW_hh, db_ih, db_hh)``.
    """
    device = device or reference_device()
    cell = _module(torch.nn.LSTMCell, W_ih, W_hh, b_ih, b_hh, device)
    leaves = [to_device(a, device).requires_grad_(True) for a in (x_t, h_prev, c_prev)]
    h, c = cell(leaves[0], (leaves[1], leaves[2]))
    ((h * to_device(dh_t, device)).sum() + (c * to_device(dc_t, device)).sum()).backward()
    params = [cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh]
    return tuple(to_numpy(t.grad) for t in leaves) + tuple(to_numpy(p.grad) for p in params)
