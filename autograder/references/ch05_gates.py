"""Chapter 5 references: LSTM and GRU, computed by ``torch.nn`` itself.

NumPy float64 arrays in PyTorch's packed layout go in, ``torch.nn.LSTMCell`` /
``LSTM`` / ``GRUCell`` / ``GRU`` run in float64 on the reference device, and
NumPy arrays come out. The backward reference is autograd through ``LSTMCell``.

Two parts are judged by a property rather than by equality with these answers:

* :func:`cue_carrier` returns one hand-made set of LSTM weights (and a read-out) that
  carries the cue of the cue-to-blank language (:mod:`autograder.experiments.cue_task`) to
  the blank; :func:`lstm_readout` runs any such weights through ``nn.LSTM`` and
  ``nn.Linear`` on one-hot sentences, for the property check;
* :func:`repack_cs231n` moves CS231n's LSTM weights into PyTorch's layout (one of many right
  splits of the bias); :func:`cs231n_lstm_forward` is CS231n's ``lstm_forward``
  (assignment 3), transcribed in torch, which the property check compares with
  :func:`lstm_forward` given the repacked weights.

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
from .ch02_elman import linear_module

__all__ = [
    "lstm_step",
    "lstm_forward",
    "gru_step",
    "gru_forward",
    "lstm_step_backward",
    "cue_carrier",
    "lstm_readout",
    "repack_cs231n",
    "cs231n_lstm_forward",
    "CS231N_TO_TORCH",
    "other_gate_order",
]


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


# ---------------------------------------------------------------- the design part: cue_carrier

#: Saturation of the hand-made gates: sigmoid(20) = 1 - 2e-9, tanh(20) = 1 to float64.
CUE_GATE = 20.0
#: The read-out's weight: the answer's score is 10 * tanh(1) = 7.6, every other score ~0.
CUE_READOUT = 10.0


def cue_carrier(vocab_size, cue_ids, answer_ids, blank_id, sentences):
    """One LSTM (packed i, f, g, o) and read-out that answers every cue-to-blank sentence.

    One memory unit per cue (H = len(cue_ids)): unit k's input gate opens on cue k only, its
    candidate is +1, its forget gate stays at 1 - 2e-9, and every output gate opens at the
    blank; the read-out gives answer k the score 10 * h_k. Returns
    ``(W_ih, W_hh, b_ih, b_hh, W_hy, b_y)`` as float64 arrays.
    """
    del sentences  # the weights do not depend on the sentences they are judged on
    K, V, big = len(cue_ids), int(vocab_size), CUE_GATE
    H, units = K, np.arange(K)
    W_ih, W_hh = np.zeros((4 * H, V)), np.zeros((4 * H, H))
    b_ih, b_hh = np.zeros(4 * H), np.zeros(4 * H)
    i, f, g, o = (slice(k * H, (k + 1) * H) for k in range(4))
    b_ih[i], b_ih[f], b_ih[g], b_ih[o] = -big, big, big, -big
    W_ih[i.start + units, np.asarray(cue_ids)] = 2 * big
    W_ih[o, int(blank_id)] = 2 * big
    W_hy, b_y = np.zeros((V, H)), np.zeros(V)
    W_hy[np.asarray(answer_ids), units] = CUE_READOUT
    return W_ih, W_hh, b_ih, b_hh, W_hy, b_y


def lstm_readout(tokens, W_ih, W_hh, b_ih, b_hh, W_hy, b_y, *, device=None):
    """``nn.LSTM(batch_first=True)`` from zero states on one-hot words ``tokens`` (N, T), and
    ``nn.Linear`` on the state at the last word: ``(hs (N, T, H), scores (N, V))``."""
    device = device or reference_device()
    vocab = np.shape(W_ih)[1]
    lstm = _module(torch.nn.LSTM, W_ih, W_hh, b_ih, b_hh, device, batch_first=True)
    readout = linear_module(W_hy, b_y, device)
    with torch.no_grad():
        words = torch.nn.functional.one_hot(to_device(tokens, device).long(), vocab)
        hs, _ = lstm(words.to(REFERENCE_DTYPE))
        scores = readout(hs[:, -1])
    return to_numpy(hs), to_numpy(scores)


# ---------------------------------------------------------------- real-world: CS231n's layout

#: CS231n packs the gates i, f, o, g; PyTorch i, f, g, o. Swapping the last two blocks maps
#: one order to the other (either way): block k of one is block CS231N_TO_TORCH[k] of the other.
CS231N_TO_TORCH = (0, 1, 3, 2)


def other_gate_order(packed, H):
    """The last axis's four blocks of size H in the other convention's order (CS231n's
    i, f, o, g to PyTorch's i, f, g, o, or back)."""
    blocks = np.split(np.asarray(packed), 4, axis=-1)
    assert blocks[0].shape[-1] == H
    return np.concatenate([blocks[k] for k in CS231N_TO_TORCH], axis=-1)


def repack_cs231n(Wx, Wh, b, x, h0):
    """PyTorch's ``(W_ih, W_hh, b_ih, b_hh)`` for CS231n's ``Wx`` (D, 4H), ``Wh`` (H, 4H),
    ``b`` (4H,): blocks reordered, matrices transposed, the whole bias in ``b_ih``."""
    del x, h0  # the inputs the property is checked on
    H = np.shape(Wh)[0]
    return (
        other_gate_order(Wx, H).T.copy(),
        other_gate_order(Wh, H).T.copy(),
        other_gate_order(b, H),
        np.zeros(4 * H),
    )


def cs231n_lstm_forward(x, h0, Wx, Wh, b, *, device=None):
    """CS231n's ``lstm_forward`` (assignment 3): hidden states (N, T, H) from ``h0`` and a zero
    cell state, with ``a = x_t Wx + h Wh + b`` split into i, f, o, g."""
    device = device or reference_device()
    x, h, Wx, Wh, b = (to_device(v, device) for v in (x, h0, Wx, Wh, b))
    H = h.shape[1]
    c, hs = torch.zeros_like(h), []
    for t in range(x.shape[1]):
        a = x[:, t] @ Wx + h @ Wh + b
        i, f, o = (torch.sigmoid(a[:, k * H : (k + 1) * H]) for k in range(3))
        c = f * c + i * torch.tanh(a[:, 3 * H :])
        h = o * torch.tanh(c)
        hs.append(h)
    return to_numpy(torch.stack(hs, dim=1))
