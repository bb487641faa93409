"""Chapter 6 references: attention, positional encoding and linear recurrences, by PyTorch.

* :func:`scaled_dot_product_attention`: the output from
  ``torch.nn.functional.scaled_dot_product_attention`` and the weights from
  ``torch.softmax`` of the masked, scaled scores;
* :func:`additive_attention`: Bahdanau's scores built from ``torch.nn.Linear``
  layers (no bias) and ``torch.tanh``, softmax over the keys, ``torch.bmm``;
* :func:`multi_head_causal_self_attention`: ``torch.nn.MultiheadAttention`` given the packed
  weights, batch first, with a causal mask; its head-averaged weights;
* :func:`sinusoidal_positional_encoding`: Vaswani et al.'s table, in torch (and
  :func:`positional_encoding_at`, the same rows at any positions, negative ones included);
* :func:`attention_weights` and :func:`reversal_projections`: the weights of scaled dot-product
  attention between projections of positional encodings (``scaled_dot_product_attention`` with
  the identity as values), and one pair of projections that makes them reverse the order;
* :func:`linear_recurrence` and :func:`min_gru_forward`: the *sequential*
  loops (h_t = a_t * h_{t-1} + b_t; minGRU of Feng et al. 2024) in torch,
  against which the students' parallel scans are checked.

Shapes: ``q`` (B, Tq, d), ``k`` (B, Tk, d), ``v`` (B, Tk, dv), ``mask`` (B, Tq, Tk)
bool with True where a query may attend (the convention of a boolean ``attn_mask`` in
``F.scaled_dot_product_attention``; ``nn.MultiheadAttention``'s is the opposite); linear recurrences ``a``, ``b`` (B, T, H), ``h0`` (B, H).
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
    "multi_head_causal_self_attention",
    "sinusoidal_positional_encoding",
    "positional_encoding_at",
    "attention_weights",
    "reversal_projections",
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


def multi_head_causal_self_attention(
    x, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, num_heads, *, device=None
):
    """``torch.nn.MultiheadAttention(E, num_heads, batch_first=True)`` holding these weights,
    self-attention of ``x`` (B, T, E) under a causal mask: (output (B, T, E), weights (B, T, T)
    averaged over the heads)."""
    device = device or reference_device()
    E, T = np.shape(x)[2], np.shape(x)[1]
    mha = torch.nn.MultiheadAttention(
        E, int(num_heads), batch_first=True, dtype=REFERENCE_DTYPE, device=device
    )
    mha.eval()
    with torch.no_grad():
        mha.in_proj_weight.copy_(to_device(in_proj_weight, device))
        mha.in_proj_bias.copy_(to_device(in_proj_bias, device))
        mha.out_proj.weight.copy_(to_device(out_proj_weight, device))
        mha.out_proj.bias.copy_(to_device(out_proj_bias, device))
        xs = to_device(x, device)
        # A boolean attn_mask of nn.MultiheadAttention is True where a query may NOT attend.
        future = torch.ones(T, T, dtype=torch.bool, device=device).triu(1)
        out, weights = mha(
            xs, xs, xs, attn_mask=future, need_weights=True, average_attn_weights=True
        )
    return to_numpy(out), to_numpy(weights)


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


def positional_encoding_at(positions, d, *, device=None):
    """Rows p_t of eq. (eq-ch6-pe) at the given (integer, possibly negative) positions, (n, d)."""
    device = device or reference_device()
    t = torch.as_tensor(np.asarray(positions), dtype=REFERENCE_DTYPE, device=device)[:, None]
    i = torch.arange(int(d) // 2, dtype=REFERENCE_DTYPE, device=device)[None, :]
    angle = t / 10000.0 ** (2 * i / int(d))
    return to_numpy(torch.stack([torch.sin(angle), torch.cos(angle)], dim=-1).reshape(-1, int(d)))


def attention_weights(P_q, P_k, W_q, W_k, *, device=None):
    """softmax((P_q W_q)(P_k W_k)^T / sqrt(d_k)) over the keys, by
    ``F.scaled_dot_product_attention`` with the identity as values (its output is then the
    weights themselves). P_q (Tq, d), P_k (Tk, d), W_q and W_k (d, d_k): (Tq, Tk)."""
    device = device or reference_device()
    q = to_device(P_q, device) @ to_device(W_q, device)
    k = to_device(P_k, device) @ to_device(W_k, device)
    identity = torch.eye(k.shape[0], dtype=REFERENCE_DTYPE, device=device)
    return to_numpy(F.scaled_dot_product_attention(q[None], k[None], identity[None])[0])


def reversal_projections(P, *, device=None):
    """One answer to the reversal design: (W_q, W_k), each (d, d).

    Pair i of p_t is (sin t w_i, cos t w_i); with c_i = (T - 1) w_i, the reflection
    [[-cos c_i, sin c_i], [sin c_i, cos c_i]] turns it into pair i of p_{T-1-t}. So
    p_t W_q = beta p_{T-1-t} with W_q = beta M (M symmetric), W_k = I, and the score of key j is
    beta p_{T-1-t} . p_j / sqrt(d), largest at j = T-1-t. beta is set from the smallest gap
    between that score and any other so that every weight on the right key exceeds 0.99."""
    device = device or reference_device()
    P_t = to_device(P, device)
    T, d = P_t.shape
    w = 10000.0 ** (-2 * torch.arange(d // 2, dtype=REFERENCE_DTYPE, device=device) / d)
    c = (T - 1) * w
    M = torch.zeros(d, d, dtype=REFERENCE_DTYPE, device=device)
    M[0::2, 0::2] = torch.diag(-torch.cos(c))
    M[0::2, 1::2] = torch.diag(torch.sin(c))
    M[1::2, 0::2] = torch.diag(torch.sin(c))
    M[1::2, 1::2] = torch.diag(torch.cos(c))
    reversed_rows = P_t @ M  # row t is p_{T-1-t}
    dots = reversed_rows @ P_t.T  # (T, T): p_{T-1-t} . p_j
    right = torch.arange(T - 1, -1, -1, device=device)
    best = dots[torch.arange(T, device=device), right]
    gaps = best[:, None] - dots
    gaps[torch.arange(T, device=device), right] = float("inf")
    gap = float(gaps.min()) if T > 1 else 1.0
    beta = math.sqrt(d) * (math.log(100.0 * T) + 1.0) / gap
    return to_numpy(beta * M), to_numpy(torch.eye(d, dtype=REFERENCE_DTYPE, device=device))


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
