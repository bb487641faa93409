"""Chapter 6's graded parts (the path to Transformers), declared once.

References (:mod:`autograder.references.ch06_attention`):
``torch.nn.functional.scaled_dot_product_attention``, Bahdanau's scores
from ``torch.nn.Linear`` layers, ``torch.nn.MultiheadAttention`` with a causal
mask, Vaswani et al.'s sinusoids, and the *sequential* loops of the linear
recurrence and of minGRU, against which the students' parallel scans are
checked. The scans must also be parallel in structure: a line budget (40 lines
per doubling round, plus 80) refuses a loop with one iteration per time step,
on a visible case long enough to tell the two apart.

One part is a design, judged by a property (many answers are right):
``reversal_projections`` returns query and key projections of the positional
encodings under which attention reverses the order (step t attends to position
T - 1 - t); the check runs them through PyTorch's attention and names the first
query that misses, where it looks instead, and which known mistake that pattern is.
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
    "check_causal_self_attention",
    "check_sinusoidal_positional_encoding",
    "check_reversal_projections",
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
    "attend, as in F.scaled_dot_product_attention). Return (output (B, Tq, dv), weights "
    "(B, Tq, Tk)).",
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


# ---------------------------------------------------------------- part 3: multi-head causal


def _mha_inputs(seed, batch=None, T=None, heads=None, d_head=None):
    rng = np.random.default_rng(seed)
    B, T = batch or int(rng.integers(1, 4)), T or int(rng.integers(3, 8))
    H = heads or int(rng.integers(2, 4))
    E = H * (d_head or int(rng.integers(2, 5)))
    scale = 1.0 / math.sqrt(E)
    return {
        "x": rng.normal(0, 1, (B, T, E)),
        "in_proj_weight": rng.normal(0, 1.5 * scale, (3 * E, E)),
        "in_proj_bias": rng.normal(0, 0.3, 3 * E),
        "out_proj_weight": rng.normal(0, scale, (E, E)),
        "out_proj_bias": rng.normal(0, 0.3, E),
        "num_heads": H,
    }


def _mha_numpy(
    x,
    in_proj_weight,
    in_proj_bias,
    out_proj_weight,
    out_proj_bias,
    num_heads,
    *,
    split="right",
    merge="right",
    scale="head",
    mask="causal",
    out_proj=True,
    order="qkv",
    transpose=True,
    bias=True,
    average=True,
    out_transpose=True,
):
    """``split``: "right", "wrong" (a plain reshape to (B, H, T, d_head)) or "interleaved"
    (head h takes the features h, h + H, h + 2H, ..., and is put back there); ``order``: the
    blocks of the packed weights as read (``"kqv"``: the first block taken for k, ...);
    ``mask``: "causal", "diagonal" (hidden too), "future" (key t + 1 seen), "none",
    "inverted" (``np.triu(ones, 1)``, nn.MultiheadAttention's ``future``, read as True = may
    attend) or "upper" (``np.triu(ones)`` read as True = may attend)."""
    B, T, E = x.shape
    H = num_heads
    dh = E // H
    blocks = dict(zip(order, zip(np.split(in_proj_weight, 3), np.split(in_proj_bias, 3))))
    q, k, v = (
        x @ (w.T if transpose else w) + (c if bias else 0.0)
        for w, c in (blocks[name] for name in "qkv")
    )

    def heads(z):
        if split == "right":
            return z.reshape(B, T, H, dh).transpose(0, 2, 1, 3)
        if split == "interleaved":
            return z.reshape(B, T, dh, H).transpose(0, 3, 1, 2)
        return z.reshape(B, H, T, dh)

    q, k, v = heads(q), heads(k), heads(v)
    divide = {"head": math.sqrt(dh), "none": 1.0, "model": math.sqrt(E)}[scale]
    scores = q @ np.swapaxes(k, -1, -2) / divide
    ones = np.ones((T, T), dtype=bool)
    allowed = {
        "causal": np.tril(ones),
        "diagonal": np.tril(ones, k=-1),
        "future": np.tril(ones, k=1),
        "inverted": np.triu(ones, k=1),
        "upper": np.triu(ones),
    }.get(mask)
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
    with np.errstate(invalid="ignore"):
        weights = _softmax(scores, axis=-1)
        per_head = weights @ v  # (B, H, T, dh)
    if split == "interleaved":
        merged = per_head.transpose(0, 2, 3, 1).reshape(B, T, E)
    elif merge == "swap" or (merge == "right" and split == "right"):
        merged = per_head.transpose(0, 2, 1, 3).reshape(B, T, E)
    else:
        merged = per_head.reshape(B, T, E)
    W_out = out_proj_weight.T if out_transpose else out_proj_weight
    with np.errstate(invalid="ignore"):
        out = merged @ W_out + out_proj_bias if out_proj else merged
    return out, (weights.mean(axis=1) if average else weights.sum(axis=1))


def _mha_mistakes(a):
    def run(**slip):  # with one head, the slips about heads change nothing: None
        heads_only = {"split", "merge", "average"} & set(slip) or slip.get("scale") == "model"
        return None if heads_only and a["num_heads"] == 1 else _mha_numpy(**a, **slip)

    return {
        "the heads are split by reshaping (B, T, E) straight to (B, H, T, d_head) (correct: "
        "reshape to (B, T, H, d_head), then swap the T and H axes)": lambda: run(split="wrong"),
        "the heads are split by reshaping (B, T, E) straight to (B, H, T, d_head) but merged "
        "back by swapping the H and T axes first (correct: split by reshaping to (B, T, H, "
        "d_head), then swapping the T and H axes)": lambda: run(split="wrong", merge="swap"),
        "the heads are merged by reshaping (B, H, T, d_head) straight back to (B, T, E) "
        "(correct: swap the H and T axes back first, then reshape)": lambda: run(merge="wrong"),
        "the scores are not scaled by 1/sqrt(d_head)": lambda: run(scale="none"),
        "the scores are scaled by 1/sqrt(E), the model's width (correct: 1/sqrt(d_head), one "
        "head's width E / num_heads)": lambda: run(scale="model"),
        "the causal mask also hides the diagonal (correct: query t sees keys 0..t, its own "
        "included)": lambda: run(mask="diagonal"),
        "the causal mask lets query t see key t + 1, one step into the future (correct: keys "
        "0..t)": lambda: run(mask="future"),
        "there is no causal mask (query t sees the keys after t)": lambda: run(mask="none"),
        "the output projection (out_proj_weight, out_proj_bias) is left out": lambda: run(
            out_proj=False
        ),
        "the query and key blocks of the packed in_proj_weight are swapped (correct: rows "
        "0..E-1 are W_q, E..2E-1 W_k, 2E..3E-1 W_v, and the same for in_proj_bias)": lambda: run(
            order="kqv"
        ),
        **{
            f"the three blocks of the packed in_proj_weight are read as {', '.join(order)} "
            f"(correct: q, k, v: rows 0..E-1 are W_q, E..2E-1 W_k, 2E..3E-1 W_v, and the same "
            f"for in_proj_bias)": (lambda order=order: run(order=order))
            for order in ("qvk", "vkq", "kvq", "vqk")
        },
        "the q, k, v projections multiply by the weight untransposed, x @ W (correct: "
        "x @ W.T + b, as torch.nn.Linear does)": lambda: run(transpose=False),
        "in_proj_bias is not added to the projections": lambda: run(bias=False),
        "the output projection multiplies by out_proj_weight untransposed, heads @ "
        "out_proj_weight (correct: heads @ out_proj_weight.T + out_proj_bias, as "
        "torch.nn.Linear does)": lambda: run(out_transpose=False),
        "head h takes the interleaved features h, h + H, h + 2H, ... of the projections "
        "(correct: the block h * d_head .. (h + 1) * d_head - 1, a reshape to (B, T, H, "
        "d_head))": lambda: run(split="interleaved"),
        "the causal mask is inverted: it is nn.MultiheadAttention's `future` (np.triu(ones, "
        "1), True = hidden) passed where True means may attend, as in Part 1 and "
        "F.scaled_dot_product_attention, so query t sees only the keys after t and the last "
        "query none (a fully masked row: nan; pass the keys 0..t a query may see)": lambda: run(
            mask="inverted"
        ),
        "the causal mask is np.triu(ones), diagonal included, read as True = may attend: query "
        "t sees the keys t..T-1, itself and the future (correct: the keys 0..t, "
        "np.tril(ones))": lambda: run(mask="upper"),
        "the returned weights are summed over the heads (correct: averaged, "
        "average_attn_weights=True)": lambda: run(average=False),
    }


CAUSAL_SELF_ATTENTION = Part(
    grade_id="causal_self_attention",
    points=4,
    signature=(
        "x",
        "in_proj_weight",
        "in_proj_bias",
        "out_proj_weight",
        "out_proj_bias",
        "num_heads",
    ),
    inputs=_mha_inputs,
    reference=ref.multi_head_causal_self_attention,
    reference_name="torch.nn.MultiheadAttention (batch_first=True, a causal attn_mask)",
    outputs=(
        Output(
            "output",
            "attention output",
            axes=("batch row", "time step", "model unit"),
            time_axis=1,
        ),
        Output("weights", "head-averaged attention weights", axes=("batch row", "query", "key")),
    ),
    visible=(Case(0, T=5, heads=2, d_head=3), Case(1, batch=1, T=4, heads=3, d_head=2)),
    hidden=(
        Case(2401),
        Case(2402),
        Case(2403, batch=1, T=1),
        Case(2404, T=2, heads=1),
        Case(2405, T=12, heads=4, d_head=4),
        Case(2406, heads=2, d_head=1),
    ),
    forbidden=(
        "torch.nn.MultiheadAttention",
        "torch.nn.functional.multi_head_attention_forward",
        "torch.nn.functional.scaled_dot_product_attention",
    ),
    mistakes=_mha_mistakes,
    hint="x is (B, T, E); in_proj_weight (3E, E) packs W_q, W_k, W_v (in that order) and "
    "in_proj_bias (3E,) their biases; out_proj_weight (E, E), out_proj_bias (E,); num_heads "
    "divides E. Return (output (B, T, E), weights (B, T, T) averaged over the heads). Part 1's "
    "mask is True where a query may attend; nn.MultiheadAttention's attn_mask `future` is True "
    "where it may not.",
    sizes=lambda a: {
        "B": a["x"].shape[0],
        "T": a["x"].shape[1],
        "E": a["x"].shape[2],
        "num_heads": a["num_heads"],
    },
    uses=(SCALED_DOT_PRODUCT_ATTENTION,),
)


# ---------------------------------------------------------------- part 4: positional encoding


def _pe_inputs(seed, T=None, d=None):
    rng = np.random.default_rng(seed)
    return {"T": int(T or rng.integers(2, 40)), "d": int(d or 2 * rng.integers(2, 12))}


def _pe_numpy(T, d, *, swap=False, halves=False, start=0, exponent="2i"):
    """``exponent``: "2i" (right), "i" (the pair index without its 2), "2j" (the column number
    j in place of the pair index: 10000^(2j/d)), "j" (10000^(j/d): right on the sin columns,
    but each cos column uses its own number 2i+1)."""
    pos = np.arange(start, start + T)[:, None]
    i = np.arange(d // 2)[None, :]
    powers = {"2i": (2 * i, 2 * i), "i": (i, i), "2j": (4 * i, 4 * i + 2), "j": (2 * i, 2 * i + 1)}
    even, odd = powers[exponent]
    angle_even, angle_odd = pos / 10000.0 ** (even / d), pos / 10000.0 ** (odd / d)
    first, second = np.sin(angle_even), np.cos(angle_odd)
    if swap:
        first, second = np.cos(angle_even), np.sin(angle_odd)
    if halves:
        return np.concatenate([first, second], axis=1)
    pe = np.empty((T, d))
    pe[:, 0::2], pe[:, 1::2] = first, second
    return pe


def _pe_mistakes(a):
    run = lambda **s: _pe_numpy(a["T"], a["d"], **s)  # noqa: E731
    return {
        "sin and cos are the wrong way round (correct: sin on even columns 2i, cos on odd "
        "2i+1)": lambda: run(swap=True),
        "sin and cos are concatenated as two halves instead of interleaved (correct: even "
        "columns sin, odd columns cos)": lambda: run(halves=True),
        "positions start at 1 instead of 0": lambda: run(start=1),
        "the frequency uses 10000^(i/d) instead of 10000^(2i/d)": lambda: run(exponent="i"),
        "the column number j is used where the pair index i belongs (10000^(2j/d); correct: "
        "10000^(2i/d) with i = j // 2, the same for both columns of a pair)": lambda: run(
            exponent="2j"
        ),
        "each cos column 2i+1 uses its own column number, 10000^((2i+1)/d) (correct: "
        "10000^(2i/d), shared with its sin column 2i)": lambda: run(exponent="j"),
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
    hint="return a float64 array of shape (T, d): row t is position t (starting at 0); for "
    "each pair index i = 0..d/2-1, column 2i holds sin(t / 10000^(2i/d)) and column 2i+1 "
    "holds cos of the same angle.",
    sizes=lambda a: dict(a),
)


# ---------------------------------------------------------------- part 5: reversal by design

#: The weight every query t must put on key T - 1 - t.
REVERSAL_WEIGHT = 0.9
#: The widest d_k accepted (any width from 1 up can be tried).
MAX_KEY_WIDTH = 512


def _reversal_inputs(seed, T=None, d=None):
    rng = np.random.default_rng(seed)
    T, d = int(T or rng.integers(3, 41)), int(d or 2 * rng.integers(4, 17))
    return {"P": _pe_numpy(T, d)}


def _rotation(positions, d, *, reflect):
    """The (d, d) matrix M with p_t M = p_{positions - t} (``reflect``) or p_{t + positions}
    (a rotation, eq. (eq-ch6-pe-shift)), for the rows p_t of eq. (eq-ch6-pe)."""
    angle = positions * 10000.0 ** (-2 * np.arange(d // 2) / d)
    c, s = np.cos(angle), np.sin(angle)
    M = np.zeros((d, d))
    idx = np.arange(0, d, 2)
    if reflect:  # (sin x, cos x) -> (sin(c - x), cos(c - x)): symmetric
        M[idx, idx], M[idx, idx + 1], M[idx + 1, idx], M[idx + 1, idx + 1] = -c, s, s, c
    else:  # (sin x, cos x) -> (sin(x + k), cos(x + k)), rows acting on the right
        M[idx, idx], M[idx, idx + 1], M[idx + 1, idx], M[idx + 1, idx + 1] = c, -s, s, c
    return M


def _reversal_scale(P):
    """A factor that makes the largest score stand out: log(100 T) + 1 over the smallest gap
    between p_t . p_t and p_t . p_j (j != t), times sqrt(d) (the division by sqrt(d_k))."""
    T, d = P.shape
    dots = P @ P.T
    gaps = np.diag(dots)[:, None] - dots
    np.fill_diagonal(gaps, np.inf)
    gap = float(gaps.min()) if T > 1 else 1.0
    return math.sqrt(d) * (math.log(100.0 * T) + 1.0) / gap


# The diagnoses of the property check; each is also a declared mistake's description.
DIAGONAL = (
    "each query finds its own position: step t attends to position t (the diagonal), and "
    "nothing reverses the order"
)
PAST_THE_END = (
    "the alignment is off by one: step t attends to position T - t, one past T - 1 - t "
    "(positions count from 0, so the last one is T - 1)"
)
BEFORE = "the alignment is off by one: step t attends to position T - 2 - t, one before T - 1 - t"
SPREAD = (
    "the scores are too close together: every query's largest weight is on the right key, but "
    "the softmax spreads the rest over the others (make the scores larger, for example by "
    "scaling W_q up; remember the division by sqrt(d_k))"
)
SHIFT = (
    "the map shifts every position by the same amount, t to t + k, as the rotation of eq. "
    "(eq-ch6-pe-shift) does: a shift keeps the order, and reversal must send t to T - 1 - t"
)
MIRROR_AT_ZERO = (
    "the map sends position t to -t, a mirror image about position 0 (correct: the mirror "
    "sits halfway along the sequence, at (T - 1)/2)"
)


def _reversal_mistakes(a):
    P = a["P"]
    T, d = P.shape
    beta, eye = _reversal_scale(P), np.eye(d)
    reflection = lambda c: _rotation(c, d, reflect=True)  # noqa: E731
    return {
        DIAGONAL: lambda: (beta * eye, eye),
        PAST_THE_END: lambda: (beta * reflection(T), eye),
        BEFORE: lambda: (beta * reflection(T - 2), eye),
        SPREAD: lambda: (reflection(T - 1), eye),
        SHIFT: lambda: (beta * _rotation(T - 1, d, reflect=False), eye),
        MIRROR_AT_ZERO: lambda: (beta * reflection(0), eye),
    }


def _reversal_diagnosis(P, W_q, W_k, weights) -> str:
    """Which known pattern the alignment follows: read from where each query looks, among the
    real keys and among keys at positions beyond both ends (-T-1 .. 2T)."""
    T, d = P.shape
    t = np.arange(T)
    if (np.ptp(weights, axis=1) < 1e-9).all():
        return (
            "Diagnosis: every query spreads its weight evenly over all the keys: the scores do "
            "not depend on the key (is W_q or W_k zero, or are all the keys alike?)."
        )
    if (weights.argmax(axis=1) == T - 1 - t).all():
        return f"Diagnosis: {SPREAD}."
    positions = np.arange(-T - 1, 2 * T + 1)
    wide = ref.attention_weights(P, ref.positional_encoding_at(positions, d), W_q, W_k)
    target = positions[wide.argmax(axis=1)]
    named = [
        (target == t, DIAGONAL),
        (target == T - t, PAST_THE_END),
        (target == T - 2 - t, BEFORE),
        (target == -t, MIRROR_AT_ZERO),
    ]
    for hits, text in named:
        if hits.all():
            return f"Diagnosis: {text}."
    shift = target - t
    if T > 1 and (shift == shift[0]).all() and shift[0] != 0:
        return f"Diagnosis: {SHIFT} (here k = {int(shift[0])})."
    return (
        "Design hint: the query of step t must match the key of position T - 1 - t better "
        "than any other key, for every t, by a margin that survives the division by sqrt(d_k)."
    )


def _reversal_property(args, values):
    """Every query t puts at least REVERSAL_WEIGHT on key T - 1 - t, under PyTorch's
    attention of the positional encodings P projected by W_q and W_k."""
    P = args["P"]
    W_q, W_k = values
    T, d = P.shape
    dq, dk = W_q.shape[1], W_k.shape[1]
    if dq != dk:
        return (
            f"W_q has {dq} columns and W_k has {dk}: queries and keys must have the same width "
            f"d_k to be compared by a dot product."
        )
    if not 1 <= dk <= MAX_KEY_WIDTH:
        return f"d_k (the number of columns of W_q and W_k) must be 1 to {MAX_KEY_WIDTH}, not {dk}."
    weights = ref.attention_weights(P, P, W_q, W_k)
    if not np.isfinite(weights).all():
        bad = int(np.argwhere(~np.isfinite(weights))[0, 0])
        return (
            f"The attention weights of query t = {bad} are not finite (nan): the scores "
            f"overflow float64. Your weights are far too large; scale them down."
        )
    t = np.arange(T)
    on_right = weights[t, T - 1 - t]
    missed = np.flatnonzero(on_right < REVERSAL_WEIGHT)
    if not missed.size:
        return None
    first = int(missed[0])
    where = int(weights[first].argmax())
    looks = [int(j) for j in weights.argmax(axis=1)]
    shown = ", ".join(map(str, looks[:16])) + (", ..." if T > 16 else "")
    right = ", ".join(str(T - 1 - i) for i in range(min(T, 16))) + (", ..." if T > 16 else "")
    if where == T - 1 - first:
        largest = "that is its largest weight, but the rest is spread over the other keys"
    else:
        largest = f"its largest weight, {weights[first, where]:.3f}, is on key {where}"
    return "\n".join(
        [
            f"Query t = {first} puts {on_right[first]:.3f} of its weight on key T - 1 - t = "
            f"{T - 1 - first}, less than the {REVERSAL_WEIGHT} asked; {largest} "
            f"({len(missed)} of the {T} queries miss; T = {T}, d = {d}, your d_k = {dk}).",
            f"  The key each query t = 0, 1, ... weighs most: {shown}",
            f"  (reversal needs:                             {right})",
            "  " + _reversal_diagnosis(P, W_q, W_k, weights),
        ]
    )


REVERSAL_PROJECTIONS = Part(
    grade_id="reversal_projections",
    points=3,
    signature=("P",),
    inputs=_reversal_inputs,
    reference=ref.reversal_projections,
    reference_name="PyTorch's attention (F.scaled_dot_product_attention) of P W_q and P W_k",
    outputs=(
        Output("W_q", "query projection W_q", axes=("feature", "key unit"), free=(1,)),
        Output("W_k", "key projection W_k", axes=("feature", "key unit"), free=(1,)),
    ),
    # (64, 8), the longest sequence with the fewest features, is the hardest corner of the
    # declared range (T 1..64, d 8..64): the closest positions are hardest to tell apart there,
    # so a fixed scale over all the features that passes it passes the whole range
    # (tests/test_checks_ch06_attention.py). Other wrong families fail elsewhere, and those
    # places are visible too: a two-step sequence (a scale that grows with T is too small there),
    # the longest with the most features (projections that use only the fastest pairs miss
    # there) and T = 29, d = 26 (three fast pairs at a small scale miss there).
    visible=(
        Case(0, T=12, d=16),
        Case(1, T=29, d=26),
        Case(2, T=64, d=8),
        Case(3, T=2, d=10),
        Case(4, T=64, d=64),
    ),
    hidden=(
        Case(2501),
        Case(2502),
        Case(2503, T=1, d=8),
        Case(2504, T=2, d=10),
        Case(2505, T=33, d=12),
        Case(2506, T=64, d=64),
    ),
    mistakes=_reversal_mistakes,
    hint="P is (T, d), the positional encodings of positions 0..T-1 (Part 4). Return (W_q, W_k), "
    "each a float64 array of shape (d, d_k) with the same d_k of your choice.",
    sizes=lambda a: {"T": a["P"].shape[0], "d": a["P"].shape[1]},
    property_check=_reversal_property,
)


# ---------------------------------------------------------------- parts 6-7: scans


def _scan_budget(args):
    """Lines of the student's own code a scan may execute: 40 per doubling round
    (ceil(log2 T) + 1 rounds), plus 80. Every line of the student's own code that runs is
    counted, helpers included; lines inside NumPy and the standard library are not."""
    T = (args["a"] if "a" in args else args["x"]).shape[1]
    return 40 * (math.ceil(math.log2(max(T, 2))) + 1) + 80


SCAN_HINT = (
    "The count covers every line of your own code that runs during the call (your helper "
    "functions included; lines inside NumPy do not count), and this part allows 40 lines per "
    "doubling round, for ceil(log2 T) + 1 rounds, plus 80. A loop with one iteration per time "
    "step runs at least T lines and does not fit; a scan fits easily: combine pairs in "
    "ceil(log2 T) doubling rounds (offset 1, 2, 4, ...), each updating every position at once "
    "with array operations."
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


def _scan_numpy(a, b, h0, *, order="right", exclusive=False, drop_h0=False, a_first=False):
    """Hillis-Steele over pairs (A, B): (a1, b1) then (a2, b2) = (a1 a2, a2 b1 + b2).
    ``a_first``: the round's new B is computed from the A already updated in that round."""
    A, Bv = a.copy(), b.copy()
    if not drop_h0:
        Bv[:, 0] = a[:, 0] * h0 + b[:, 0]
    T, step = a.shape[1], 1
    while step < T:
        A_prev, B_prev = A[:, :-step], Bv[:, :-step]
        A_new, B_new = A.copy(), Bv.copy()
        if a_first:
            B_new[:, step:] = A[:, step:] * A_prev * B_prev + Bv[:, step:]
        elif order == "right":
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
        "each round's b is computed from the a already updated in the same round (correct: the "
        "new b uses the a of the previous round; update a after b, or from copies)": lambda: run(
            a_first=True
        ),
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
        "z and 1 - z are swapped (correct: h_t = (1 - z_t) h_{t-1} + z_t h~_t)": lambda: run(
            swap=True
        ),
        "tanh is applied to the candidate (minGRU's h~_t = W_h x_t + b_h has no tanh)": lambda: run(
            tanh=True
        ),
        "the scan is exclusive (h_0..h_{T-1}) where an inclusive one is asked": lambda: run(
            exclusive=True
        ),
        "h0 is dropped": lambda: run(drop_h0=True),
        "the scan computes each round's b from the a already updated in the same round": lambda: (
            run(a_first=True)
        ),
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
    uses=(LINEAR_SCAN,),
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
    CAUSAL_SELF_ATTENTION,
    SINUSOIDAL_POSITIONAL_ENCODING,
    REVERSAL_PROJECTIONS,
    LINEAR_SCAN,
    MIN_GRU_FORWARD,
)

check_scaled_dot_product_attention = SCALED_DOT_PRODUCT_ATTENTION.make_check()
check_additive_attention = ADDITIVE_ATTENTION.make_check()
check_causal_self_attention = CAUSAL_SELF_ATTENTION.make_check()
check_sinusoidal_positional_encoding = SINUSOIDAL_POSITIONAL_ENCODING.make_check()
check_reversal_projections = REVERSAL_PROJECTIONS.make_check()
check_linear_scan = LINEAR_SCAN.make_check()
check_min_gru_forward = MIN_GRU_FORWARD.make_check()
