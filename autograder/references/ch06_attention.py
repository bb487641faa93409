"""Chapter 6 references: attention, positional encoding and linear recurrences, by PyTorch.

* :func:`scaled_dot_product_attention`: the output from
  ``torch.nn.functional.scaled_dot_product_attention`` and the weights from
  ``torch.softmax`` of the masked, scaled scores;
* :func:`additive_attention`: Bahdanau's scores built from ``torch.nn.Linear``
  layers (no bias) and ``torch.tanh``, softmax over the keys, ``torch.bmm``;
* :func:`sinusoidal_positional_encoding`: Vaswani et al.'s table, in torch;
* :func:`linear_recurrence` and :func:`min_gru_forward`: the *sequential*
  loops (h_t = a_t * h_{t-1} + b_t; minGRU of Feng et al. 2024) in torch,
  against which the students' parallel scans are checked.

Shapes: ``q`` (B, Tq, d), ``k`` (B, Tk, d), ``v`` (B, Tk, dv), ``mask`` (B, Tq, Tk)
bool with True where a query may attend (PyTorch's convention for a boolean
``attn_mask``); linear recurrences ``a``, ``b`` (B, T, H), ``h0`` (B, H).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..device import REFERENCE_DTYPE, reference_device, to_device, to_numpy

__all__ = [
    "scaled_dot_product_attention",
    "additive_attention",
    "sinusoidal_positional_encoding",
    "linear_recurrence",
    "min_gru_forward",
]


def scaled_dot_product_attention(q, k, v, mask, *, device=None):
    """(output (B, Tq, dv), weights (B, Tq, Tk))."""
    device = device or reference_device()
    q_t, k_t, v_t = (to_device(a, device) for a in (q, k, v))
    m = to_device(np.asarray(mask, dtype=bool), device).bool()
    out = F.scaled_dot_product_attention(q_t, k_t, v_t, attn_mask=m)
    scores = (q_t @ k_t.transpose(-2, -1)) / math.sqrt(q_t.shape[-1])
    weights = torch.softmax(scores.masked_fill(~m, float("-inf")), dim=-1)
    return to_numpy(out), to_numpy(weights)


def additive_attention(query, keys, values, W_q, W_k, w_v, *, device=None):
    """Bahdanau attention: (context (B, dv), weights (B, T)).

    score_j = w_v . tanh(W_q query + W_k key_j); weights = softmax_j(score);
    context = sum_j weights_j value_j.
    """
    device = device or reference_device()
    A, dq = np.shape(W_q)
    dk = np.shape(W_k)[1]
    lin_q = torch.nn.Linear(dq, A, bias=False, dtype=REFERENCE_DTYPE, device=device)
    lin_k = torch.nn.Linear(dk, A, bias=False, dtype=REFERENCE_DTYPE, device=device)
    lin_v = torch.nn.Linear(A, 1, bias=False, dtype=REFERENCE_DTYPE, device=device)
    with torch.no_grad():
        lin_q.weight.copy_(to_device(W_q, device))
        lin_k.weight.copy_(to_device(W_k, device))
        lin_v.weight.copy_(to_device(w_v, device)[None])
        scores = lin_v(
            torch.tanh(lin_q(to_device(query, device))[:, None] + lin_k(to_device(keys, device)))
        )[..., 0]  # (B, T)
        weights = torch.softmax(scores, dim=-1)
        context = torch.bmm(weights[:, None], to_device(values, device))[:, 0]
    return to_numpy(context), to_numpy(weights)


def sinusoidal_positional_encoding(T, d, *, device=None):
    """PE (T, d): PE[t, 2i] = sin(t / 10000^(2i/d)), PE[t, 2i+1] = cos(t / 10000^(2i/d))."""
    device = device or reference_device()
    position = torch.arange(int(T), dtype=REFERENCE_DTYPE, device=device)[:, None]
    div = torch.exp(
        torch.arange(0, int(d), 2, dtype=REFERENCE_DTYPE, device=device)
        * (-math.log(10000.0) / int(d))
    )
    pe = torch.zeros(int(T), int(d), dtype=REFERENCE_DTYPE, device=device)
    pe[:, 0::2] = torch.sin(position * div)
    pe[:, 1::2] = torch.cos(position * div)
    return to_numpy(pe)


def linear_recurrence(a, b, h0, *, device=None):
    """h_1..h_T (B, T, H) of h_t = a_t * h_{t-1} + b_t, by a sequential loop."""
    device = device or reference_device()
    a_t, b_t = to_device(a, device), to_device(b, device)
    h = to_device(h0, device)
    out = []
    for t in range(a_t.shape[1]):
        h = a_t[:, t] * h + b_t[:, t]
        out.append(h)
    return to_numpy(torch.stack(out, dim=1))


def min_gru_forward(x, h0, W_z, b_z, W_h, b_h, *, device=None):
    """minGRU (Feng et al. 2024), sequentially: z_t = sigmoid(W_z x_t + b_z),
    h~_t = W_h x_t + b_h, h_t = (1 - z_t) * h_{t-1} + z_t * h~_t. Returns (B, T, H)."""
    device = device or reference_device()
    H, D = np.shape(W_z)
    lin_z = torch.nn.Linear(D, H, dtype=REFERENCE_DTYPE, device=device)
    lin_h = torch.nn.Linear(D, H, dtype=REFERENCE_DTYPE, device=device)
    with torch.no_grad():
        lin_z.weight.copy_(to_device(W_z, device))
        lin_z.bias.copy_(to_device(b_z, device))
        lin_h.weight.copy_(to_device(W_h, device))
        lin_h.bias.copy_(to_device(b_h, device))
        xs = to_device(x, device)
        z, cand = torch.sigmoid(lin_z(xs)), lin_h(xs)
        h = to_device(h0, device)
        out = []
        for t in range(xs.shape[1]):
            h = (1 - z[:, t]) * h + z[:, t] * cand[:, t]
            out.append(h)
    return to_numpy(torch.stack(out, dim=1))
