"""Chapter 6's graded parts (the path to Transformers), declared once.

References (:mod:`autograder.references.ch06_attention`):
``torch.nn.functional.scaled_dot_product_attention``, Bahdanau's scores
from ``torch.nn.Linear`` layers, Vaswani et al.'s sinusoids, and the
*sequential* loops of the linear recurrence and of minGRU, against which the
students' parallel scans are checked. The scans must also be parallel in
structure: a line budget (a few dozen lines per doubling step) refuses a loop
over time, on a visible case long enough to tell the two apart.
"""

from __future__ import annotations

import math

import numpy as np

from ..parts import Case, Output, Part
from ..references import ch06_attention as ref

__all__ = [
    "PARTS",
    "check_scaled_dot_product_attention",
    "check_additive_attention",
    "check_sinusoidal_positional_encoding",
    "check_linear_scan",
    "check_min_gru_forward",
]


def _softmax(z, axis=-1, shift=True):
    if shift:
        z = z - np.max(z, axis=axis, keepdims=True)
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


# ---------------------------------------------------------------- part 1: scaled dot-product


def _sdpa_inputs(
    seed,
    batch=None,
    queries=None,
    keys=None,
    d=None,
    dv=None,
    causal=False,
    no_mask=False,
    large=False,
):
    """``large``: queries and keys 30 times larger, so scores reach the thousands, past where
    float64's exp overflows (about 709): a softmax must subtract the row maximum first."""
    rng = np.random.default_rng(seed)
    B = batch or int(rng.integers(1, 4))
    Tq = queries or int(rng.integers(2, 6))
    Tk = keys or (Tq if causal else int(rng.integers(2, 7)))
    d = d or int(rng.integers(2, 9))
    dv = dv or int(rng.choice([n for n in range(2, 7) if n != d]))
    if causal:
        mask = np.broadcast_to(np.tril(np.ones((Tq, Tk), dtype=bool)), (B, Tq, Tk)).copy()
    elif no_mask:
        mask = np.ones((B, Tq, Tk), dtype=bool)
    else:
        mask = rng.random((B, Tq, Tk)) < 0.7
        mask[..., 0] = True  # every query sees at least one key ...
        if Tk > 1:
            mask[..., -1] = False  # ... and misses at least one
    gain = 30.0 if large else 1.0
    return {
        "q": rng.normal(0, 1.5 * gain, (B, Tq, d)),
        "k": rng.normal(0, 1.5 * gain, (B, Tk, d)),
        "v": rng.normal(0, 1, (B, Tk, dv)),
        "mask": mask,
    }


def _sdpa_numpy(
    q, k, v, mask, *, scale="sqrt", axis=-1, mask_after=False, invert=False, shift=True
):
    d = q.shape[-1]
    s = q @ np.swapaxes(k, -1, -2)
    s = s / {"sqrt": math.sqrt(d), "none": 1.0, "d": d}[scale]
    m = ~mask if invert else mask
    if mask_after:
        w = _softmax(s, axis=axis, shift=shift) * m
    else:
        s = np.where(m, s, -np.inf)
        with np.errstate(invalid="ignore"):
            w = _softmax(s, axis=axis, shift=shift)
    with np.errstate(invalid="ignore"):
        return w @ v, w


def _sdpa_mistakes(a):
    run = lambda **s: _sdpa_numpy(a["q"], a["k"], a["v"], a["mask"], **s)  # noqa: E731
    return {
        "the scores are not scaled by 1/sqrt(d)": lambda: run(scale="none"),
        "the scores are scaled by 1/d instead of 1/sqrt(d)": lambda: run(scale="d"),
        "the softmax is taken over the queries (axis -2) instead of over the keys (axis -1)": lambda: (
            run(axis=-2) if not (~a["mask"]).any() else None
        ),
        "the mask is applied after the softmax (masked weights are zeroed but the rest no "
        "longer sum to 1; mask the scores with -inf before it)": lambda: run(mask_after=True),
        "the mask is read the wrong way round (True means: may attend)": lambda: (
            run(invert=True) if (~a["mask"]).any(axis=-1).all() else None
        ),
        "the softmax does not subtract each row's maximum first (exp overflows to inf past "
        "about 709 in float64, and inf / inf is nan; shifting the scores by a constant "
        "changes no weight)": lambda: run(shift=False),
    }


SCALED_DOT_PRODUCT_ATTENTION = Part(
    grade_id="scaled_dot_product_attention",
    points=3,
    signature=("q", "k", "v", "mask"),
    inputs=_sdpa_inputs,
    reference=ref.scaled_dot_product_attention,
    reference_name="torch.nn.functional.scaled_dot_product_attention",
    outputs=(
        Output("output", "attention output", axes=("batch row", "query", "value unit")),
        Output("weights", "attention weights", axes=("batch row", "query", "key")),
    ),
    visible=(
        Case(0),
        Case(1, no_mask=True),
        Case(2, causal=True, queries=4),
        Case(3, large=True),  # scores in the thousands: an unshifted softmax overflows
    ),
    hidden=(
        Case(1801),
        Case(1802),
        Case(1803, batch=1, queries=1),
        Case(1804, causal=True),
        Case(1805, d=1),
        Case(1806, keys=1, no_mask=True),
        Case(1807, large=True, causal=True),
    ),
    forbidden=("torch.nn.functional.scaled_dot_product_attention",),
    mistakes=_sdpa_mistakes,
    hint="q is (B, Tq, d), k (B, Tk, d), v (B, Tk, dv), mask (B, Tq, Tk) bool (True: may "
    "attend). Return (output (B, Tq, dv), weights (B, Tq, Tk)).",
    sizes=lambda a: {
        "B": a["q"].shape[0],
        "Tq": a["q"].shape[1],
        "Tk": a["k"].shape[1],
        "d": a["q"].shape[2],
        "dv": a["v"].shape[2],
    },
)


# ---------------------------------------------------------------- part 2: additive attention


def _additive_inputs(seed, batch=None, T=None, A=None):
    rng = np.random.default_rng(seed)
    B, T = batch or int(rng.integers(1, 4)), T or int(rng.integers(2, 7))
    dq, dk = int(rng.integers(2, 5)), int(rng.integers(5, 8))  # distinct: a swap fails loudly
    dv, A = int(rng.integers(2, 6)), A or int(rng.integers(2, 6))
    return {
        "query": rng.normal(0, 1, (B, dq)),
        "keys": rng.normal(0, 1, (B, T, dk)),
        "values": rng.normal(0, 1, (B, T, dv)),
        "W_q": rng.normal(0, 0.8, (A, dq)),
        "W_k": rng.normal(0, 0.8, (A, dk)),
        "w_v": rng.normal(0, 1.2, A),
    }


def _additive_numpy(
    query, keys, values, W_q, W_k, w_v, *, tanh=True, axis=-1, normalise=True, use_keys=False
):
    pre = (query @ W_q.T)[:, None, :] + keys @ W_k.T
    scores = (np.tanh(pre) if tanh else pre) @ w_v
    weights = _softmax(scores, axis=axis) if normalise else np.exp(scores)
    source = keys if use_keys else values
    return np.einsum("bt,btv->bv", weights, source), weights


def _additive_mistakes(a):
    run = lambda **s: _additive_numpy(**a, **s)  # noqa: E731
    return {
        "tanh is missing (score = w_v . (W_q q + W_k k_j))": lambda: run(tanh=False),
        "the softmax is taken over the batch instead of over the keys": lambda: (
            run(axis=0) if a["query"].shape[0] > 1 else None
        ),
        "the weights are not normalised (exp of the scores, no softmax)": lambda: run(
            normalise=False
        ),
    }


ADDITIVE_ATTENTION = Part(
    grade_id="additive_attention",
    points=3,
    signature=("query", "keys", "values", "W_q", "W_k", "w_v"),
    inputs=_additive_inputs,
    reference=ref.additive_attention,
    reference_name="Bahdanau attention built from torch.nn.Linear layers",
    outputs=(
        Output("context", "context vector", axes=("batch row", "value unit")),
        Output("weights", "attention weights", axes=("batch row", "key")),
    ),
    visible=(Case(0, batch=3), Case(1, T=9)),
    hidden=(Case(1901), Case(1902), Case(1903, batch=1), Case(1904, T=1), Case(1905, A=1)),
    mistakes=_additive_mistakes,
    hint="query is (B, dq), keys (B, T, dk), values (B, T, dv), W_q (A, dq), W_k (A, dk), "
    "w_v (A,). Return (context (B, dv), weights (B, T)).",
    sizes=lambda a: {"B": a["query"].shape[0], "T": a["keys"].shape[1], "A": a["w_v"].shape[0]},
)


# ---------------------------------------------------------------- part 3: positional encoding


def _pe_inputs(seed, T=None, d=None):
    rng = np.random.default_rng(seed)
    return {"T": int(T or rng.integers(2, 40)), "d": int(d or 2 * rng.integers(2, 12))}


def _pe_numpy(T, d, *, swap=False, halves=False, start=0, exponent="2i"):
    pos = np.arange(start, start + T)[:, None]
    i = np.arange(d // 2)[None, :]
    rate = 10000.0 ** ((2 * i if exponent == "2i" else i) / d)
    angle = pos / rate
    first, second = (np.cos(angle), np.sin(angle)) if swap else (np.sin(angle), np.cos(angle))
    if halves:
        return np.concatenate([first, second], axis=1)
    pe = np.empty((T, d))
    pe[:, 0::2], pe[:, 1::2] = first, second
    return pe


def _pe_mistakes(a):
    run = lambda **s: _pe_numpy(a["T"], a["d"], **s)  # noqa: E731
    return {
        "sin and cos are the wrong way round (sin on even columns 2i, cos on odd 2i+1)": lambda: (
            run(swap=True)
        ),
        "sin and cos are concatenated as two halves instead of interleaved (even columns sin, "
        "odd columns cos)": lambda: run(halves=True),
        "positions start at 1 instead of 0": lambda: run(start=1),
        "the frequency uses 10000^(i/d) instead of 10000^(2i/d)": lambda: run(exponent="i"),
    }


SINUSOIDAL_POSITIONAL_ENCODING = Part(
    grade_id="sinusoidal_positional_encoding",
    points=2,
    signature=("T", "d"),
    inputs=_pe_inputs,
    reference=ref.sinusoidal_positional_encoding,
    reference_name="Vaswani et al.'s sinusoidal encoding",
    outputs=(Output("pe", "positional encoding", axes=("position", "feature")),),
    visible=(Case(0, T=10, d=8), Case(1)),
    hidden=(Case(2001), Case(2002), Case(2003, T=1), Case(2004, d=2), Case(2005, T=200, d=64)),
    mistakes=_pe_mistakes,
    hint="return a float64 array of shape (T, d): row t is position t (starting at 0); column "
    "2i holds sin(t / 10000^(2i/d)) and column 2i+1 holds cos of the same angle.",
    sizes=lambda a: dict(a),
)


# ---------------------------------------------------------------- parts 4-5: scans


def _scan_budget(args):
    """Lines of the student's own code a scan may execute: generous per doubling step."""
    T = (args["a"] if "a" in args else args["x"]).shape[1]
    return 40 * (math.ceil(math.log2(max(T, 2))) + 1) + 80


SCAN_HINT = (
    "Combine pairs with log2(T) doubling steps (step 1, 2, 4, ...: each step "
    "updates every position at once with array operations), not with a loop over "
    "the T time steps."
)


def _scan_inputs(seed, batch=None, T=None, H=None, zero_state=False):
    rng = np.random.default_rng(seed)
    B, T = batch or int(rng.integers(1, 4)), T or int(rng.integers(3, 20))
    H = H or int(rng.integers(1, 5))
    return {
        "a": rng.uniform(0.5, 1.0, (B, T, H)),
        "b": rng.normal(0, 1, (B, T, H)),
        "h0": np.zeros((B, H)) if zero_state else rng.normal(0, 1, (B, H)),
    }


def _scan_numpy(a, b, h0, *, order="right", exclusive=False, drop_h0=False):
    """Hillis-Steele over pairs (A, B): (a1, b1) then (a2, b2) = (a1 a2, a2 b1 + b2)."""
    A, Bv = a.copy(), b.copy()
    if not drop_h0:
        Bv[:, 0] = a[:, 0] * h0 + b[:, 0]
    T, step = a.shape[1], 1
    while step < T:
        A_prev, B_prev = A[:, :-step], Bv[:, :-step]
        A_new, B_new = A.copy(), Bv.copy()
        if order == "right":
            B_new[:, step:] = A[:, step:] * B_prev + Bv[:, step:]
        else:  # a1 b2 + b1: the pair combined the wrong way
            B_new[:, step:] = A_prev * Bv[:, step:] + B_prev
        A_new[:, step:] = A[:, step:] * A_prev
        A, Bv, step = A_new, B_new, step * 2
    if exclusive:
        start = h0 if not drop_h0 else np.zeros_like(h0)
        return np.concatenate([start[:, None], Bv[:, :-1]], axis=1)
    return Bv


def _scan_mistakes(args):
    run = lambda **s: _scan_numpy(args["a"], args["b"], args["h0"], **s)  # noqa: E731
    return {
        "the pairs are combined in the wrong order (a1 b2 + b1 instead of a2 b1 + b2)": lambda: run(
            order="left"
        ),
        "the scan is exclusive (h_0..h_{T-1}) where an inclusive one (h_1..h_T) is asked": lambda: (
            run(exclusive=True)
        ),
        "h0 is dropped (fold it in first: b_1 <- a_1 h0 + b_1)": lambda: run(drop_h0=True),
    }


LINEAR_SCAN = Part(
    grade_id="linear_scan",
    points=4,
    signature=("a", "b", "h0"),
    inputs=_scan_inputs,
    reference=ref.linear_recurrence,
    reference_name="the sequential loop h_t = a_t * h_{t-1} + b_t",
    outputs=(
        Output("hs", "states h_1..h_T", axes=("batch row", "time step", "unit"), time_axis=1),
    ),
    visible=(Case(0), Case(1, T=4096, batch=1, H=2)),
    hidden=(
        Case(2101),
        Case(2102),
        Case(2103, T=1),
        Case(2104, T=2),
        Case(2105, zero_state=True),
        Case(2106, T=1000, batch=1, H=2),
        Case(2107, T=64),
    ),
    mistakes=_scan_mistakes,
    hint="a, b are (B, T, H), h0 (B, H); return hs (B, T, H) with hs[:, t] = h_{t+1}.",
    sizes=lambda a: {"B": a["a"].shape[0], "T": a["a"].shape[1], "H": a["a"].shape[2]},
    line_budget=_scan_budget,
    budget_hint=SCAN_HINT,
)


def _mingru_inputs(seed, batch=None, T=None, D=None, H=None, zero_state=False):
    rng = np.random.default_rng(seed)
    B, T = batch or int(rng.integers(1, 4)), T or int(rng.integers(3, 20))
    D = D or int(rng.integers(2, 5))
    H = H or int(rng.choice([h for h in range(2, 6) if h != D]))
    return {
        "x": rng.normal(0, 1, (B, T, D)),
        "h0": np.zeros((B, H)) if zero_state else rng.normal(0, 1, (B, H)),
        "W_z": rng.normal(0, 1, (H, D)),
        "b_z": rng.normal(0, 0.5, H),
        "W_h": rng.normal(0, 1, (H, D)),
        "b_h": rng.normal(0, 0.5, H),
    }


def _mingru_numpy(x, h0, W_z, b_z, W_h, b_h, *, swap=False, tanh=False, **scan):
    z = 1.0 / (1.0 + np.exp(-(x @ W_z.T + b_z)))
    cand = x @ W_h.T + b_h
    cand = np.tanh(cand) if tanh else cand
    a, b = (z, (1 - z) * cand) if swap else (1 - z, z * cand)
    return _scan_numpy(a, b, h0, **scan)


def _mingru_mistakes(args):
    run = lambda **s: _mingru_numpy(**args, **s)  # noqa: E731
    return {
        "z and 1 - z are swapped (h_t = (1 - z_t) h_{t-1} + z_t h~_t)": lambda: run(swap=True),
        "tanh is applied to the candidate (minGRU's h~_t = W_h x_t + b_h has no tanh)": lambda: run(
            tanh=True
        ),
        "the scan is exclusive (h_0..h_{T-1}) where an inclusive one is asked": lambda: run(
            exclusive=True
        ),
        "h0 is dropped": lambda: run(drop_h0=True),
    }


MIN_GRU_FORWARD = Part(
    grade_id="min_gru_forward",
    points=3,
    signature=("x", "h0", "W_z", "b_z", "W_h", "b_h"),
    inputs=_mingru_inputs,
    reference=ref.min_gru_forward,
    reference_name="the sequential minGRU (Feng et al. 2024)",
    outputs=(
        Output(
            "hs", "states h_1..h_T", axes=("batch row", "time step", "hidden unit"), time_axis=1
        ),
    ),
    visible=(Case(0), Case(1, T=4096, batch=1)),
    hidden=(
        Case(2201),
        Case(2202),
        Case(2203, T=1),
        Case(2204, zero_state=True),
        Case(2205, T=1000, batch=1),
    ),
    mistakes=_mingru_mistakes,
    hint="x is (B, T, D), h0 (B, H), W_z and W_h (H, D), b_z and b_h (H,); return hs "
    "(B, T, H). You may call your linear_scan.",
    sizes=lambda a: {
        "B": a["x"].shape[0],
        "T": a["x"].shape[1],
        "D": a["x"].shape[2],
        "H": a["h0"].shape[1],
    },
    line_budget=_scan_budget,
    budget_hint=SCAN_HINT,
)

PARTS = (
    SCALED_DOT_PRODUCT_ATTENTION,
    ADDITIVE_ATTENTION,
    SINUSOIDAL_POSITIONAL_ENCODING,
    LINEAR_SCAN,
    MIN_GRU_FORWARD,
)

check_scaled_dot_product_attention = SCALED_DOT_PRODUCT_ATTENTION.make_check()
check_additive_attention = ADDITIVE_ATTENTION.make_check()
check_sinusoidal_positional_encoding = SINUSOIDAL_POSITIONAL_ENCODING.make_check()
check_linear_scan = LINEAR_SCAN.make_check()
check_min_gru_forward = MIN_GRU_FORWARD.make_check()
