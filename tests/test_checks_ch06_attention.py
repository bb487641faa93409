"""Chapter 6 checks: honest variants written unlike the solutions pass, the classic attention,
multi-head and scan slips are named, the reversal design is judged by what its weights do (any
d_k, any construction), a loop over time is refused where a parallel scan is asked for, and an
answer that calls a failing earlier part is told to fix that part first.

What tests/test_parts.py checks for every part (the solution passes every case, the stub fails
every case, every declared mistake is caught and named by a visible case) is not repeated here."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import assert_passes, assert_rejected, solution_namespace

from autograder.checks import ch06_attention as checks

SOL = solution_namespace("06-attention")


def blelloch_scan(a, b, h0):
    """Work-efficient (Blelloch 1990) up-sweep / down-sweep on pairs, padded to a power of 2."""
    B, T, H = a.shape
    n = 1 << max(0, (T - 1).bit_length())
    A = np.ones((B, n, H))
    Bv = np.zeros((B, n, H))
    A[:, :T], Bv[:, :T] = a, b
    Bv[:, 0] = a[:, 0] * h0 + b[:, 0]
    orig_A, orig_B = A.copy(), Bv.copy()
    step = 1
    while step < n:  # up-sweep: reduce pairs of blocks
        right = np.arange(2 * step - 1, n, 2 * step)
        left = right - step
        Bv[:, right] = A[:, right] * Bv[:, left] + Bv[:, right]
        A[:, right] = A[:, right] * A[:, left]
        step *= 2
    A[:, n - 1], Bv[:, n - 1] = 1.0, 0.0  # exclusive down-sweep from the identity
    step = n // 2
    while step >= 1:
        right = np.arange(2 * step - 1, n, 2 * step)
        left = right - step
        tA, tB = A[:, left].copy(), Bv[:, left].copy()
        A[:, left], Bv[:, left] = A[:, right], Bv[:, right]
        Bv[:, right] = tA * Bv[:, right] + tB
        A[:, right] = A[:, right] * tA
        step //= 2
    inclusive_B = orig_A * Bv + orig_B  # exclusive prefix, then own pair
    return inclusive_B[:, :T]


def sdpa_einsum(q, k, v, mask):
    s = np.einsum("bqd,bkd->bqk", q, k) / np.sqrt(q.shape[-1])
    s = np.where(mask, s, -1e300)
    w = np.exp(s - s.max(-1, keepdims=True)) * mask
    w /= w.sum(-1, keepdims=True)
    return np.einsum("bqk,bkv->bqv", w, v), w


def additive_loops(query, keys, values, W_q, W_k, w_v):
    """One score at a time, column vectors, as in the chapter's cell."""
    B, T = keys.shape[:2]
    scores = np.empty((B, T))
    for b in range(B):
        for j in range(T):
            scores[b, j] = w_v @ np.tanh(W_q @ query[b] + W_k @ keys[b, j])
    weights = np.exp(scores - scores.max(1, keepdims=True))
    weights /= weights.sum(1, keepdims=True)
    return np.einsum("bt,btv->bv", weights, values), weights


def pe_stacked(T, d):
    """Pairs built as (sin, cos) on a last axis of 2, then flattened: interleaved."""
    angle = np.outer(np.arange(T), np.exp(-np.log(10000.0) * np.arange(0, d, 2) / d))
    return np.stack([np.sin(angle), np.cos(angle)], axis=-1).reshape(T, d)


def mha_head_loop(x, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, num_heads):
    """A loop over the heads, each taking its columns of the projections (the book's cell)."""
    B, T, E = x.shape
    dh = E // num_heads
    W_q, W_k, W_v = in_proj_weight[:E], in_proj_weight[E : 2 * E], in_proj_weight[2 * E :]
    b_q, b_k, b_v = in_proj_bias[:E], in_proj_bias[E : 2 * E], in_proj_bias[2 * E :]
    q, k, v = x @ W_q.T + b_q, x @ W_k.T + b_k, x @ W_v.T + b_v
    future = np.triu(np.ones((T, T), dtype=bool), 1)
    outs, weights = [], np.zeros((B, T, T))
    for h in range(num_heads):
        cols = slice(h * dh, (h + 1) * dh)
        s = np.einsum("btd,bsd->bts", q[..., cols], k[..., cols]) / np.sqrt(dh)
        s[:, future] = -np.inf
        w = np.exp(s - s.max(-1, keepdims=True))
        w /= w.sum(-1, keepdims=True)
        outs.append(w @ v[..., cols])
        weights += w / num_heads
    return np.concatenate(outs, -1) @ out_proj_weight.T + out_proj_bias, weights


def mha_with_part_1(x, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, num_heads):
    """Heads on a leading axis, attention by the student's own Part 1 (4-D arrays, a mask
    broadcast to every batch row and head)."""
    B, T, E = x.shape
    proj = np.einsum("bte,fe->btf", x, in_proj_weight) + in_proj_bias
    q, k, v = (
        np.moveaxis(z.reshape(B, T, num_heads, -1), 2, 1) for z in np.split(proj, 3, axis=-1)
    )
    mask = np.broadcast_to(np.tril(np.ones((T, T), dtype=bool)), (B, num_heads, T, T))
    out, w = SOL["scaled_dot_product_attention"](q, k, v, mask)
    out = np.moveaxis(out, 1, 2).reshape(B, T, E)
    return out @ out_proj_weight.T + out_proj_bias, w.mean(1)


def _pair_reflection(T, d):
    """p_t @ M = p_{T-1-t}, built pair by pair with a loop."""
    M = np.zeros((d, d))
    for i in range(d // 2):
        c = (T - 1) / 10000.0 ** (2 * i / d)
        M[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = [[-np.cos(c), np.sin(c)], [np.sin(c), np.cos(c)]]
    return M


def reversal_least_squares(P):
    """Least squares: the W with P W = P reversed (exact, since a reflection exists), scaled."""
    W, *_ = np.linalg.lstsq(P, P[::-1], rcond=None)
    return 1e3 * W, np.eye(P.shape[1])


def reversal_keys_reflected(P):
    """The reflection on the keys instead of the queries (the score matrix is symmetric)."""
    T, d = P.shape
    return 200.0 * np.eye(d), _pair_reflection(T, d)


def reversal_one_pair(P):
    """d_k = 2: one pair of columns, the fastest whose angle turns less than pi over the
    sequence, so that cos((T - 1 - t - j) w) peaks only at j = T - 1 - t; a large factor."""
    T, d = P.shape
    w = 10000.0 ** (-np.arange(0, d, 2) / d)
    i = int(np.argmax(w * max(T - 1, 1) < np.pi))
    cols = [2 * i, 2 * i + 1]
    select = np.zeros((d, 2))
    select[cols, [0, 1]] = 1.0
    gap = 1.0 - np.cos(w[i])
    W_q = _pair_reflection(T, d)[:, cols] * 20.0 * np.sqrt(2) * np.log(100 * T + 1) / gap
    return W_q, select


def min_gru_blelloch(x, h0, W_z, b_z, W_h, b_h):
    z = 0.5 * (1.0 + np.tanh(0.5 * (np.einsum("btd,hd->bth", x, W_z) + b_z)))  # sigmoid
    return blelloch_scan(1.0 - z, z * (np.einsum("btd,hd->bth", x, W_h) + b_h), h0)


HONEST = [
    (checks.check_scaled_dot_product_attention, sdpa_einsum),
    (checks.check_additive_attention, additive_loops),
    (checks.check_causal_self_attention, mha_head_loop),
    (checks.check_causal_self_attention, mha_with_part_1),
    (checks.check_sinusoidal_positional_encoding, pe_stacked),
    (checks.check_reversal_projections, reversal_least_squares),
    (checks.check_reversal_projections, reversal_keys_reflected),
    (checks.check_reversal_projections, reversal_one_pair),
    (checks.check_linear_scan, blelloch_scan),
    (checks.check_min_gru_forward, min_gru_blelloch),
]


@pytest.mark.parametrize("check,fn", HONEST, ids=lambda v: getattr(v, "__name__", "variant"))
def test_honest_implementations_pass_every_case(check, fn, capfd):
    assert_passes(check, fn, capfd)


def a_first_in_place(a, b, h0):
    """Hillis-Steele in place, a updated before b in each round."""
    A, Bv = a.copy(), b.copy()
    Bv[:, 0] = a[:, 0] * h0 + b[:, 0]
    s = 1
    while s < a.shape[1]:
        A[:, s:] = A[:, s:] * A[:, :-s]
        Bv[:, s:] = A[:, s:] * Bv[:, :-s] + Bv[:, s:]
        s *= 2
    return Bv


def pe_column_loop(T, d):
    """A loop over the columns j, with j where the pair index i belongs."""
    pe = np.zeros((T, d))
    for t in range(T):
        for j in range(d):
            angle = t / 10000.0 ** (2 * j / d)
            pe[t, j] = np.sin(angle) if j % 2 == 0 else np.cos(angle)
    return pe


def mha_variant(
    x,
    in_proj_weight,
    in_proj_bias,
    out_proj_weight,
    out_proj_bias,
    num_heads,
    *,
    future=None,
    split=None,
    width=None,
):
    """An einsum implementation with one slip injected (the mask, the head split, the scale)."""
    B, T, E = x.shape
    H = num_heads
    split = split or (lambda z, B, T, H: z.reshape(B, T, H, -1).transpose(0, 2, 1, 3))
    future = np.triu(np.ones((T, T), dtype=bool), 1) if future is None else future
    q, k, v = (
        split(z, B, T, H)
        for z in np.split(np.einsum("bte,fe->btf", x, in_proj_weight) + in_proj_bias, 3, -1)
    )
    s = np.einsum("bhtd,bhsd->bhts", q, k) / np.sqrt(width(E, H) if width else E // H)
    s = np.where(future, -np.inf, s)
    with np.errstate(invalid="ignore"):
        w = np.exp(s - s.max(-1, keepdims=True))
        w = w / w.sum(-1, keepdims=True)
    out = (w @ v).transpose(0, 2, 1, 3).reshape(B, T, E)
    return out @ out_proj_weight.T + out_proj_bias, w.mean(1)


def mha_calling_part_1(mask_of):
    """Heads by a loop, attention by the solution's Part 1 under the mask ``mask_of(T)``."""

    def mha(x, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, num_heads):
        B, T, E = x.shape
        dh = E // num_heads
        q, k, v = np.split(x @ in_proj_weight.T + in_proj_bias, 3, axis=-1)
        mask = np.broadcast_to(mask_of(T), (B, T, T))
        outs, ws = [], []
        for h in range(num_heads):
            cols = slice(h * dh, (h + 1) * dh)
            with np.errstate(invalid="ignore"):
                o, w = SOL["scaled_dot_product_attention"](
                    q[..., cols], k[..., cols], v[..., cols], mask
                )
            outs.append(o)
            ws.append(w)
        return np.concatenate(outs, -1) @ out_proj_weight.T + out_proj_bias, np.mean(ws, 0)

    return mha


def mha_interleaved(x, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, num_heads):
    """Head h takes the features h, h + H, ... (a strided slice), and puts them back there."""
    B, T, E = x.shape
    H = num_heads
    q, k, v = np.split(x @ in_proj_weight.T + in_proj_bias, 3, axis=-1)
    merged, weights = np.zeros((B, T, E)), np.zeros((B, T, T))
    causal = np.tril(np.ones((T, T), dtype=bool))
    for h in range(H):
        s = q[..., h::H] @ np.swapaxes(k[..., h::H], -1, -2) / np.sqrt(E // H)
        w = np.exp(np.where(causal, s, -np.inf) - s.max(-1, keepdims=True))
        w /= w.sum(-1, keepdims=True)
        merged[..., h::H] = w @ v[..., h::H]
        weights += w / H
    return merged @ out_proj_weight.T + out_proj_bias, weights


def _blocks_as(order):
    """The packed weights with their q, k, v blocks read in ``order`` ("qvk": block 1 as v)."""

    def mha(x, W, b, Wo, bo, H):
        E = x.shape[2]
        Ws = dict(zip(order, np.split(W, 3)))
        bs = dict(zip(order, np.split(b, 3)))
        W2 = np.concatenate([Ws[n] for n in "qkv"])
        b2 = np.concatenate([bs[n] for n in "qkv"])
        assert W2.shape == (3 * E, E)
        return mha_head_loop(x, W2, b2, Wo, bo, H)

    return mha


def mha_torch(x, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, num_heads):
    E = x.shape[2]
    mha = torch.nn.MultiheadAttention(E, num_heads, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.from_numpy(in_proj_weight))
        mha.in_proj_bias.copy_(torch.from_numpy(in_proj_bias))
        mha.out_proj.weight.copy_(torch.from_numpy(out_proj_weight))
        mha.out_proj.bias.copy_(torch.from_numpy(out_proj_bias))
        xs = torch.from_numpy(x)
        T = x.shape[1]
        out, w = mha(xs, xs, xs, attn_mask=torch.ones(T, T, dtype=torch.bool).triu(1))
    return out.numpy(), w.numpy()


def loop_scan(a, b, h0):
    h, out = h0, []
    for t in range(a.shape[1]):
        h = a[:, t] * h + b[:, t]
        out.append(h)
    return np.stack(out, 1)


def sdpa_torch(q, k, v, mask):
    out = torch.nn.functional.scaled_dot_product_attention(
        torch.from_numpy(q),
        torch.from_numpy(k),
        torch.from_numpy(v),
        attn_mask=torch.from_numpy(mask),
    )
    return out.numpy(), sdpa_einsum(q, k, v, mask)[1]


MUTANTS = [
    (
        checks.check_scaled_dot_product_attention,
        "no scaling",
        lambda q, k, v, mask: sdpa_einsum(q * np.sqrt(q.shape[-1]), k, v, mask),
        "not scaled by 1/sqrt(d)",
    ),
    (
        checks.check_scaled_dot_product_attention,
        "mask after softmax",
        lambda q, k, v, mask: (lambda w: (w @ v, w))(
            (lambda s: np.exp(s) / np.exp(s).sum(-1, keepdims=True))(
                q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
            )
            * mask
        ),
        "after the softmax",
    ),
    (checks.check_scaled_dot_product_attention, "torch", sdpa_torch, "NumPy only"),
    (
        checks.check_sinusoidal_positional_encoding,
        "cos first",
        lambda T, d: (
            SOL["sinusoidal_positional_encoding"](T, d)
            .reshape(T, d // 2, 2)[..., ::-1]
            .reshape(T, d)
        ),
        "wrong way round",
    ),
    (
        checks.check_linear_scan,
        "loop over time",
        loop_scan,
        "A loop with one iteration per time step runs at least T lines and does not fit",
    ),
    (
        checks.check_linear_scan,
        "exclusive",
        lambda a, b, h0: np.concatenate([h0[:, None], SOL["linear_scan"](a, b, h0)[:, :-1]], 1),
        "exclusive",
    ),
    (
        checks.check_linear_scan,
        "h0 dropped",
        lambda a, b, h0: SOL["linear_scan"](a, b, np.zeros_like(h0)),
        "h0 is dropped",
    ),
    (
        checks.check_linear_scan,
        "a updated first, in place",
        a_first_in_place,
        "each round's b is computed from the a already updated in the same round",
    ),
    (
        checks.check_min_gru_forward,
        "z swapped",
        lambda x, h0, W_z, b_z, W_h, b_h: SOL["min_gru_forward"](x, h0, -W_z, -b_z, W_h, b_h),
        "z and 1 - z",
    ),
    (
        checks.check_sinusoidal_positional_encoding,
        "column number as i",
        pe_column_loop,
        "the column number j is used where the pair index i belongs",
    ),
    (
        checks.check_sinusoidal_positional_encoding,
        "cos column's own number",
        lambda T, d: np.array(
            [[(np.sin, np.cos)[j % 2](t / 10000.0 ** (j / d)) for j in range(d)] for t in range(T)]
        ),
        "each cos column 2i+1 uses its own column number",
    ),
    (
        checks.check_causal_self_attention,
        "mask hides the diagonal",
        lambda *a: mha_variant(*a, future=np.triu(np.ones((a[0].shape[1],) * 2, dtype=bool))),
        "the causal mask also hides the diagonal",
    ),
    (
        checks.check_causal_self_attention,
        "heads split by a plain reshape",
        lambda *a: mha_variant(*a, split=lambda z, B, T, H: z.reshape(B, H, T, -1)),
        "the heads are split by reshaping (B, T, E) straight to (B, H, T, d_head)",
    ),
    (
        checks.check_causal_self_attention,
        "scaled by the model width",
        lambda *a: mha_variant(*a, width=lambda E, H: E),
        "the scores are scaled by 1/sqrt(E)",
    ),
    (
        checks.check_causal_self_attention,
        "blocks read as k, q, v",
        lambda x, W, b, Wo, bo, H: mha_head_loop(
            x,
            np.concatenate(
                [W[len(W) // 3 : 2 * len(W) // 3], W[: len(W) // 3], W[2 * len(W) // 3 :]]
            ),
            np.concatenate(
                [b[len(b) // 3 : 2 * len(b) // 3], b[: len(b) // 3], b[2 * len(b) // 3 :]]
            ),
            Wo,
            bo,
            H,
        ),
        "the query and key blocks of the packed in_proj_weight are swapped",
    ),
    (
        checks.check_causal_self_attention,
        "no output projection",
        lambda x, W, b, Wo, bo, H: mha_head_loop(x, W, b, np.eye(len(Wo)), np.zeros_like(bo), H),
        "the output projection (out_proj_weight, out_proj_bias) is left out",
    ),
    (
        checks.check_causal_self_attention,
        "torch's module",
        mha_torch,
        "NumPy only",
    ),
    (  # student walk-through: MultiheadAttention's mask handed to Part 1 (True = may attend)
        checks.check_causal_self_attention,
        "future passed to Part 1",
        mha_calling_part_1(lambda T: np.triu(np.ones((T, T), dtype=bool), 1)),
        "the causal mask is inverted: it is nn.MultiheadAttention's `future`",
    ),
    (
        checks.check_causal_self_attention,
        "np.triu(ones) passed to Part 1",
        mha_calling_part_1(lambda T: np.triu(np.ones((T, T), dtype=bool))),
        "the causal mask is np.triu(ones), diagonal included, read as True = may attend",
    ),
    (
        checks.check_causal_self_attention,
        "~np.triu(ones) passed to Part 1",
        mha_calling_part_1(lambda T: ~np.triu(np.ones((T, T), dtype=bool))),
        "the causal mask also hides the diagonal",
    ),
    (
        checks.check_causal_self_attention,
        "interleaved heads",
        mha_interleaved,
        "head h takes the interleaved features h, h + H, h + 2H",
    ),
    *[
        (
            checks.check_causal_self_attention,
            f"blocks read as {order}",
            _blocks_as(order),
            f"the three blocks of the packed in_proj_weight are read as {', '.join(order)}",
        )
        for order in ("qvk", "vkq", "kvq", "vqk")
    ],
    (
        checks.check_causal_self_attention,
        "out_proj not transposed",
        lambda x, W, b, Wo, bo, H: mha_head_loop(x, W, b, Wo.T, bo, H),
        "the output projection multiplies by out_proj_weight untransposed",
    ),
    (
        checks.check_reversal_projections,
        "identity projections",
        lambda P: (30.0 * np.eye(P.shape[1]), np.eye(P.shape[1])),
        "step t attends to position t (the diagonal)",
    ),
    (
        checks.check_reversal_projections,
        "reflection about T / 2",
        lambda P: (200.0 * _pair_reflection(P.shape[0] + 1, P.shape[1]), np.eye(P.shape[1])),
        "step t attends to position T - t, one past T - 1 - t",
    ),
    (  # student walk-through: passed every case until (T, d) = (64, 8) was visible
        checks.check_reversal_projections,
        "reflection scaled by 39",
        lambda P: (39.0 * _pair_reflection(*P.shape), np.eye(P.shape[1])),
        "Query t = 0 puts 0.897 of its weight on key T - 1 - t = 63",
    ),
    (  # review: a scale that grows with T passed every visible case until T = 2 was visible
        checks.check_reversal_projections,
        "scale proportional to T",
        lambda P: (4.0 * P.shape[0] * _pair_reflection(*P.shape), np.eye(P.shape[1])),
        "(2 of the 2 queries miss; T = 2, d = 10",
    ),
    (  # review: only the two fastest pairs passed until (T, d) = (64, 64) was visible
        checks.check_reversal_projections,
        "only the two fastest pairs",
        lambda P: (
            200.0 * 2.0 * _pair_reflection(*P.shape)[:, :4],
            np.eye(P.shape[1])[:, :4],
        ),
        "T = 64, d = 64, your d_k = 4",
    ),
    (
        checks.check_reversal_projections,
        "no scale",
        lambda P: (_pair_reflection(*P.shape), np.eye(P.shape[1])),
        "the scores are too close together",
    ),
    (
        checks.check_reversal_projections,
        "widths differ",
        lambda P: (np.ones((P.shape[1], 3)), np.ones((P.shape[1], 4))),
        "W_q has 3 columns and W_k has 4",
    ),
    (
        checks.check_reversal_projections,
        "overflow",
        lambda P: (1e200 * _pair_reflection(*P.shape), 1e200 * np.eye(P.shape[1])),
        "overflow float64",
    ),
    (
        checks.check_reversal_projections,
        "one-hot keys only fit while T <= d",
        lambda P: (50.0 * np.linalg.pinv(P)[:, ::-1], np.linalg.pinv(P)),
        "queries miss; T = 29, d = 26",  # the first visible case with T > d
    ),
]


@pytest.mark.parametrize(
    "check,name,fn,hint", MUTANTS, ids=[f"{c.__name__}-{n}" for c, n, _, _ in MUTANTS]
)
def test_mutants_are_rejected_with_a_pointed_message(check, name, fn, hint):
    assert_rejected(check, fn, hint, name)


def test_the_line_budget_is_generous_for_scans_and_tight_for_loops():
    """A scan's line count grows with log2(T); a loop's with T (measured, both). At T = 64 a
    loop still fits the budget, which is why the visible cases include T = 4096."""
    from autograder import calling
    from autograder.parts import Case

    part = checks.LINEAR_SCAN
    for T in (64, 512, 1000):
        args, _ = part.build(Case(7, T=T, batch=1, H=1))
        scan = calling.call(SOL["linear_scan"], args, count_lines=True).lines
        loop = calling.call(loop_scan, args, count_lines=True).lines
        assert scan <= checks._scan_budget(args) // 3, (T, scan)
        assert (loop > checks._scan_budget(args)) == (T >= 512), (T, loop)


def test_a_loop_doing_two_steps_per_line_is_refused_too():
    """Review finding: an unrolled loop beat the budget at T = 512; the visible case is 4096."""

    def unrolled(a, b, h0):
        T = a.shape[1]
        hs = np.empty_like(a)
        h = h0
        if T % 2:
            hs[:, 0] = h = a[:, 0] * h + b[:, 0]
        for t in range(T % 2, T, 2):
            hs[:, t] = h = a[:, t] * h + b[:, t]
            hs[:, t + 1] = h = a[:, t + 1] * h + b[:, t + 1]  # noqa: E702
        return hs

    assert_rejected(checks.check_linear_scan, unrolled, "at least T lines and does not fit")


def test_the_budget_message_says_what_it_counts_and_allows():
    """Issue 18, item 28: the message states the count, the allowance and what it refuses,
    and claims no more (a loop doing many steps per line can fit, and nothing says otherwise)."""
    message = assert_rejected(checks.check_linear_scan, loop_scan, "of your own Python")
    for words in (
        "your helper functions included; lines inside NumPy do not count",
        "40 lines per doubling round, for ceil(log2 T) + 1 rounds, plus 80",
        "more than the 600 this part allows",
    ):
        assert words in message, words


SCAN = """
import numpy as np

def linear_scan(a, b, h0):
    A, Bv = a.copy(), b.copy()
    Bv[:, 0] = a[:, 0] * h0 + b[:, 0]        # FOLD_H0
    s = 1
    while s < a.shape[1]:
        Bv[:, s:], A[:, s:] = A[:, s:] * Bv[:, :-s] + Bv[:, s:], A[:, s:] * A[:, :-s]
        s *= 2
    return Bv
"""
SCAN_DROPPING_H0 = SCAN.replace("Bv[:, 0] = a[:, 0] * h0 + b[:, 0]        # FOLD_H0", "pass")

MIN_GRU = """
def min_gru_forward(x, h0, W_z, b_z, W_h, b_h):
    z = 1 / (1 + np.exp(-(x @ W_z.T + b_z)))
    return linear_scan(1 - z, z * (x @ W_h.T + b_h), h0)
"""
MIN_GRU_Z_SWAPPED = MIN_GRU.replace("linear_scan(1 - z, z *", "linear_scan(z, (1 - z) *")


def _notebook(*cells: str) -> dict:
    """The namespace of a notebook whose cells are these sources (functions see each other)."""
    namespace: dict = {}
    exec("\n".join(cells), namespace)
    return namespace


def test_a_min_gru_calling_a_failing_linear_scan_is_told_to_fix_it_first():
    """Issue 19: the failure is the earlier part's; say so first (``uses=(LINEAR_SCAN,)``)."""
    namespace = _notebook(SCAN_DROPPING_H0, MIN_GRU)
    message = assert_rejected(
        checks.check_min_gru_forward, namespace["min_gru_forward"], "fix it first"
    )
    assert message.startswith("Your `min_gru_forward` calls your `linear_scan`, which fails")
    assert "`check_linear_scan`" in message and "h0 is dropped" in message


def test_a_min_gru_with_a_correct_scan_is_not_blamed_on_it():
    """The mistake is min_gru's own (z and 1 - z swapped): no "fix it first"; and with both
    right, full marks."""
    namespace = _notebook(SCAN, MIN_GRU_Z_SWAPPED)
    message = assert_rejected(
        checks.check_min_gru_forward, namespace["min_gru_forward"], "z and 1 - z"
    )
    assert "fix it first" not in message
    checks.check_min_gru_forward(_notebook(SCAN, MIN_GRU)["min_gru_forward"])


WRONG_SDPA_AND_MHA = """
import numpy as np

def scaled_dot_product_attention(q, k, v, mask):     # no 1/sqrt(d): fails its own check
    s = np.where(mask, q @ np.swapaxes(k, -1, -2), -np.inf)
    w = np.exp(s - s.max(-1, keepdims=True))
    w = w / w.sum(-1, keepdims=True)
    return w @ v, w

def causal_self_attention(x, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias,
                          num_heads):
    B, T, E = x.shape
    qkv = x @ in_proj_weight.T + in_proj_bias
    q, k, v = (z.reshape(B, T, num_heads, -1).transpose(0, 2, 1, 3) for z in np.split(qkv, 3, -1))
    out, w = scaled_dot_product_attention(q, k, v, np.tril(np.ones((T, T), dtype=bool)))
    out = out.transpose(0, 2, 1, 3).reshape(B, T, E)
    return out @ out_proj_weight.T + out_proj_bias, w.mean(1)
"""


def test_multi_head_attention_calling_a_failing_part_1_is_told_to_fix_it_first():
    namespace: dict = {}
    exec(WRONG_SDPA_AND_MHA, namespace)
    message = assert_rejected(
        checks.check_causal_self_attention, namespace["causal_self_attention"], "fix it first"
    )
    assert "`scaled_dot_product_attention`" in message
    assert "the scores are not scaled by 1/sqrt(d_head)" in message


def test_the_reversal_message_names_the_query_where_it_looks_and_the_pattern():
    """The property's message: the first query that misses, its weight on T - 1 - t, where its
    largest weight sits, the whole pattern, and the diagnosis."""
    message = assert_rejected(
        checks.check_reversal_projections,
        lambda P: (30.0 * np.eye(P.shape[1]), np.eye(P.shape[1])),
        "Diagnosis: each query finds its own position",
    )
    assert message.startswith("Query t = 0 puts 0.000 of its weight on key T - 1 - t = 11")
    assert "its largest weight, 0.979, is on key 0" in message
    assert "weighs most: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11" in message


def test_a_rotation_is_diagnosed_as_a_shift():
    """Eq. (eq-ch6-pe-shift)'s rotation moves every position by T - 1: named, with its k."""

    def rotation(P):
        """p_t @ R = p_{t + T - 1}: each pair turned by (T - 1) w_i."""
        T, d = P.shape
        R = np.zeros((d, d))
        for i in range(d // 2):
            k = (T - 1) / 10000.0 ** (2 * i / d)
            R[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = [
                [np.cos(k), -np.sin(k)],
                [np.sin(k), np.cos(k)],
            ]
        return 200.0 * R, np.eye(d)

    message = assert_rejected(checks.check_reversal_projections, rotation, "(here k = 11)")
    assert "the map shifts every position by the same amount" in message


@pytest.mark.parametrize("d_k", [1, 600])
def test_the_reversal_width_is_checked(d_k):
    def answer(P):
        return np.ones((P.shape[1], d_k)), np.ones((P.shape[1], d_k))

    hint = "must be 1 to 512" if d_k > 512 else "Query t = 0 puts"
    assert_rejected(checks.check_reversal_projections, answer, hint)


def _least_reversal_weight(T, d, scale):
    """The smallest weight any query puts on key T - 1 - t under the reflection design
    ``scale * M`` (M the reflection, W_k the identity), in NumPy."""
    P = SOL["sinusoidal_positional_encoding"](T, d)
    s = (P @ (scale * _pair_reflection(T, d))) @ P.T / np.sqrt(d)
    w = np.exp(s - s.max(1, keepdims=True))
    w /= w.sum(1, keepdims=True)
    return w[np.arange(T), T - 1 - np.arange(T)].min()


def test_a_visible_reversal_case_is_the_hardest_of_the_declared_range():
    """Student walk-through: 39 M passed every declared case but missed at (T, d) = (64, 8),
    inside the stated range (T 1..64, d 8..64 even). For the reflection design at every scale
    near the threshold, the worst (T, d) of the whole range is a visible case, so passing the
    visible cases means passing the range."""
    part = checks.REVERSAL_PROJECTIONS
    visible = [(args["P"].shape) for args, _ in (part.build(c) for c in part.visible)]
    grid = [(T, d) for T in range(1, 65) for d in range(8, 65, 2)]
    for scale in (20.0, 30.0, 39.0, 45.0, 60.0):
        worst = min(grid, key=lambda size: _least_reversal_weight(*size, scale))
        assert worst in visible, (scale, worst)
