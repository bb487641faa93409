"""Notebook source of assignment 06-attention (solutions/06-attention/attention.ipynb).

The graded parts are declared in autograder/checks/ch06_attention.py; this
file adds the words around them and the instructor's solutions.
"""

from autograder.chapters import chapter
from autograder.checks import ch06_attention as parts
from tools.notebook_builder import graded_part, how_to, imports_cell, markdown

CHAPTER = chapter("06-attention")


def cells():
    return [
        markdown(
            "title",
            """
# Assignment 6: attention, positions, and recurrences in parallel

This notebook goes with chapter 6. You will write scaled dot-product
attention, Bahdanau's additive attention and the multi-head causal
self-attention of `torch.nn.MultiheadAttention`, the sinusoidal positional
encoding of the Transformer, and then *design* the query and key projections
that make attention reverse a sequence from positions alone. Last, you answer
the seeds' last question, "can h_t be computed in parallel?", for linear
recurrences: a parallel scan, and minGRU computed with it. Everything is
NumPy, checked against PyTorch and against the sequential loops.
"""
            + how_to(parts.PARTS),
        ),
        imports_cell(CHAPTER, parts.PARTS),
        *graded_part(
            1,
            parts.SCALED_DOT_PRODUCT_ATTENTION,
            "scaled dot-product attention",
            r"""
For queries `q` `(B, Tq, d)`, keys `k` `(B, Tk, d)` and values `v` `(B, Tk, dv)`:

$$\mathrm{weights} = \mathrm{softmax}\left(\frac{q k^\top}{\sqrt{d}}\right),\qquad
\mathrm{output} = \mathrm{weights}\; v,$$

with the softmax over the keys (the last axis). `mask` `(B, Tq, Tk)` is boolean,
`True` where a query may attend to a key (the convention of
`F.scaled_dot_product_attention`'s boolean `attn_mask`; `nn.MultiheadAttention`'s
boolean `attn_mask`, in Part 3, is the opposite): set the
masked scores to $-\infty$ *before* the softmax, so that their weights are 0
and the others still sum to 1. Every query has at least one key it may see.
Write `scaled_dot_product_attention(q, k, v, mask)` returning `(output, weights)`.
""",
            '''
def scaled_dot_product_attention(q, k, v, mask):
    """-> (output (B, Tq, dv), weights (B, Tq, Tk))."""
    ### BEGIN SOLUTION
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    scores = np.where(mask, scores, -np.inf)
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    weights = weights / weights.sum(axis=-1, keepdims=True)
    return weights @ v, weights
    ### END SOLUTION
''',
        ),
        *graded_part(
            2,
            parts.ADDITIVE_ATTENTION,
            "additive (Bahdanau) attention",
            r"""
Bahdanau et al. (2015) score each key $k_j$ against one query $q$ with a small
network: $e_j = w_v^\top \tanh(W_q q + W_k k_j)$, then
$\alpha = \mathrm{softmax}(e)$ over the keys and the context
$c = \sum_j \alpha_j v_j$. Here `query` is `(B, dq)`, `keys` `(B, T, dk)`,
`values` `(B, T, dv)`, `W_q` `(A, dq)`, `W_k` `(A, dk)`, `w_v` `(A,)`.
These are the general names of attention for the chapter's eq. (eq-ch6-additive),
$e_{tj} = v^\top \tanh(W_s s_{t-1} + W_h h_j)$: `query` is the decoder state
$s_{t-1}$, `keys` are the encoder states $h_j$, and `W_q`, `W_k` and `w_v` are
$W_s$, $W_h$ and $v$ (the `values` are the $h_j$ again, the states the
weights average).
Write `additive_attention(query, keys, values, W_q, W_k, w_v)` returning
`(context (B, dv), weights (B, T))`.
""",
            '''
def additive_attention(query, keys, values, W_q, W_k, w_v):
    """-> (context (B, dv), weights (B, T))."""
    ### BEGIN SOLUTION
    features = np.tanh((query @ W_q.T)[:, None, :] + keys @ W_k.T)     # (B, T, A)
    scores = features @ w_v                                             # (B, T)
    scores = scores - scores.max(axis=1, keepdims=True)
    weights = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    return np.einsum("bt,btv->bv", weights, values), weights
    ### END SOLUTION
''',
        ),
        *graded_part(
            3,
            parts.CAUSAL_SELF_ATTENTION,
            "multi-head causal self-attention, as torch.nn.MultiheadAttention",
            r"""
Reading a library's conventions is a skill of its own. Write
`causal_self_attention(x, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, num_heads)`
that returns exactly what `torch.nn.MultiheadAttention(E, num_heads, batch_first=True)`
holding these weights returns for `mha(x, x, x, attn_mask=future)` (with
`need_weights=True`, the default), where `future[t, j]` is `True` for $j > t$: a
decoder's causal self-attention, in which query $t$ sees the keys $0..t$.

The interface, in PyTorch's layout:

* `x` `(B, T, E)`, batch first; `num_heads` divides `E`, and each head has
  `d_head = E // num_heads` features;
* `in_proj_weight` `(3E, E)` stacks the query, key and value projections, in
  that order, as `torch.nn.Linear` weights (a projection of `x` is `x @ W.T + b`),
  and `in_proj_bias` `(3E,)` their biases;
* head $h$ takes the features `h * d_head` to `(h + 1) * d_head - 1` of the
  projected queries, keys and values, and runs scaled dot-product attention
  (Part 1) on them under the causal mask;
* the heads' outputs are put back side by side, in head order, to `(B, T, E)`,
  and go through the output projection `out_proj_weight` `(E, E)`,
  `out_proj_bias` `(E,)`.

Return `(output (B, T, E), weights (B, T, T))`, the weights averaged over the
heads (PyTorch's `average_attn_weights=True`). You may call your
`scaled_dot_product_attention` from Part 1 (if it fails its own check, this test
says so first). Mind the two conventions if you do: a boolean `attn_mask` of
`nn.MultiheadAttention` is `True` where a query may **not** attend (`future`
hides the keys after $t$), while Part 1's `mask`, like
`F.scaled_dot_product_attention`'s, is `True` where it **may**. Passing
`future` to Part 1 lets each query see only the future. The chapter's
self-attention section checks the same module head by head.
""",
            '''
def causal_self_attention(x, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, num_heads):
    """-> (output (B, T, E), weights (B, T, T) averaged over the heads)."""
    ### BEGIN SOLUTION
    B, T, E = x.shape
    d_head = E // num_heads
    qkv = x @ in_proj_weight.T + in_proj_bias                         # (B, T, 3E): q | k | v
    q, k, v = (z.reshape(B, T, num_heads, d_head).transpose(0, 2, 1, 3)  # (B, H, T, d_head)
               for z in np.split(qkv, 3, axis=-1))
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(d_head)
    scores = np.where(np.tril(np.ones((T, T), dtype=bool)), scores, -np.inf)
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    weights = weights / weights.sum(axis=-1, keepdims=True)          # (B, H, T, T)
    heads = (weights @ v).transpose(0, 2, 1, 3).reshape(B, T, E)      # heads side by side
    return heads @ out_proj_weight.T + out_proj_bias, weights.mean(axis=1)
    ### END SOLUTION
''',
        ),
        *graded_part(
            4,
            parts.SINUSOIDAL_POSITIONAL_ENCODING,
            "sinusoidal positional encoding",
            r"""
The Transformer adds to the input at position $t$ (counted from 0) a vector
whose even and odd columns are

$$PE[t, 2i] = \sin\left(t / 10000^{2i/d}\right),\qquad
PE[t, 2i+1] = \cos\left(t / 10000^{2i/d}\right),\qquad i = 0, \dots, d/2 - 1,$$

interleaved. Here $i$ is the index of the *pair* of columns $(2i, 2i+1)$, not
the column number: both columns of a pair share the angle
$t / 10000^{2i/d}$. Write `sinusoidal_positional_encoding(T, d)` (`d` even)
returning a `float64` array of shape `(T, d)`.
""",
            '''
def sinusoidal_positional_encoding(T, d):
    """-> PE (T, d)."""
    ### BEGIN SOLUTION
    positions = np.arange(T)[:, None]
    rates = 10000.0 ** (np.arange(0, d, 2) / d)
    pe = np.zeros((T, d))
    pe[:, 0::2] = np.sin(positions / rates)
    pe[:, 1::2] = np.cos(positions / rates)
    return pe
    ### END SOLUTION
''',
        ),
        *graded_part(
            5,
            parts.REVERSAL_PROJECTIONS,
            "design: attention that reverses, from positions alone",
            r"""
The chapter's attention model learned from the loss alone to look at input
position $T - 1 - t$ at output step $t$ (the anti-diagonal of its alignment
heatmap, positions counted from 0). Here you build that alignment by hand,
from positions only, with no content at all.

You get `P` `(T, d)`, the positional encodings of positions $0..T-1$ (exactly
Part 4's `sinusoidal_positional_encoding(T, d)`; `d` is even, at least 8).
Return two projections `(W_q, W_k)`, `float64` arrays of shape `(d, d_k)` with
the same `d_k` of your choice (1 to 512), so that attention of the
positions to themselves reverses the order. The check computes, with PyTorch
in float64 (`F.scaled_dot_product_attention`),

$$\mathrm{weights} = \mathrm{softmax}\left(\frac{(P W_q)(P W_k)^\top}{\sqrt{d_k}}\right)
\quad \text{(over the keys)},$$

and requires `weights[t, T - 1 - t] >= 0.9` for every query $t = 0..T-1$, on
the visible cases and on hidden ones with other $T$ (1 to 64) and $d$ (8 to
64). The extremes are visible cases: the longest sequence with the fewest
features ($T = 64$, $d = 8$), the longest with the most ($T = 64$, $d = 64$)
and a two-step one ($T = 2$). Your function may depend on `P` (and so on $T$
and $d$). Many answers are right: the check judges what your weights do, not what they are. When it
fails, it names the first query that misses, where it looks instead, and which
known mistake the pattern is.

A nudge: eq. (eq-ch6-pe-shift) of the chapter is a linear map that moves every
position by the same amount. Which linear map of $p_t$ gives $p_{T-1-t}$?
""",
            '''
def reversal_projections(P):
    """-> (W_q (d, d_k), W_k (d, d_k)) whose attention sends query t to key T - 1 - t."""
    ### BEGIN SOLUTION
    T, d = P.shape
    # Pair i of p_t is (sin(t w_i), cos(t w_i)); with c = (T - 1) w_i, a reflection of each pair
    # gives (sin(c - t w_i), cos(c - t w_i)), pair i of p_{T-1-t}: so p_t @ M = p_{T-1-t}.
    c = (T - 1) * 10000.0 ** (-np.arange(0, d, 2) / d)
    even, odd = np.arange(0, d, 2), np.arange(1, d, 2)
    M = np.zeros((d, d))
    M[even, even], M[even, odd] = -np.cos(c), np.sin(c)
    M[odd, even], M[odd, odd] = np.sin(c), np.cos(c)
    # The query of step t is then p_{T-1-t}, which matches key T-1-t best; a large factor
    # makes the softmax all but one-hot, even after the division by sqrt(d_k) = sqrt(d).
    return 50.0 * np.sqrt(d) * M, np.eye(d)
    ### END SOLUTION
''',
        ),
        *graded_part(
            6,
            parts.LINEAR_SCAN,
            "a parallel scan of a linear recurrence",
            r"""
The linear recurrence $h_t = a_t \odot h_{t-1} + b_t$ can be written with
pairs: applying step 1 then step 2 is the pair
$(a_1, b_1) \bullet (a_2, b_2) = (a_1 a_2,\; a_2 b_1 + b_2)$, and this
operation is associative. So, after folding $h_0$ into the first pair
($b_1 \leftarrow a_1 h_0 + b_1$), every $h_t$ is the $b$ of the prefix
"product" of pairs $1..t$, which the Hillis-Steele scan computes in
$\lceil \log_2 T \rceil$ rounds: in the round with offset $s = 1, 2, 4, \dots$,
every position $t > s$ combines the pair at $t - s$ with its own, all at
once. (Positions count from 1 here, as in the chapter's eq. (eq-ch6-hillis):
position $t$ is index `t - 1` of the time axis, so the round updates the
indices `s, ..., T - 1` from the indices `0, ..., T - 1 - s`.) Within a round,
every new pair is computed from the pairs of the previous round.

Write `linear_scan(a, b, h0)` (`a`, `b` `(B, T, H)`, `h0` `(B, H)`) returning
all states $h_1..h_T$ as `(B, T, H)`. Loop over the rounds, not over time: on
a visible case of 4,096 steps the check counts every line of your own code
that runs (your helper functions included; lines inside NumPy do not count)
and allows 40 per doubling round, for $\lceil \log_2 T \rceil + 1$ rounds, plus
80: 600 lines there. A loop with one iteration per time step runs at least
4,096 lines and is refused.
""",
            '''
def linear_scan(a, b, h0):
    """All h_t of h_t = a_t * h_{t-1} + b_t, by log2(T) doubling rounds: -> (B, T, H)."""
    ### BEGIN SOLUTION
    A, Bs = a.copy(), b.copy()
    Bs[:, 0] = a[:, 0] * h0 + b[:, 0]
    offset = 1
    while offset < a.shape[1]:
        A_next, B_next = A.copy(), Bs.copy()
        B_next[:, offset:] = A[:, offset:] * Bs[:, :-offset] + Bs[:, offset:]
        A_next[:, offset:] = A[:, offset:] * A[:, :-offset]
        A, Bs = A_next, B_next
        offset *= 2
    return Bs
    ### END SOLUTION
''',
        ),
        *graded_part(
            7,
            parts.MIN_GRU_FORWARD,
            "minGRU with the scan",
            r"""
minGRU (Feng et al. 2024) drops $h_{t-1}$ from the gate and the candidate:

$$z_t = \sigma(W_z x_t + b_z),\quad \tilde h_t = W_h x_t + b_h,\quad
h_t = (1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t,$$

a linear recurrence with $a_t = 1 - z_t$ and $b_t = z_t \odot \tilde h_t$, all
computable at once from `x`. The shapes: `x` is `(B, T, D)`, `h0` `(B, H)`,
`W_z` and `W_h` are `(H, D)` (PyTorch's layout: $W x_t$ is `x_t @ W.T`), and
`b_z` and `b_h` are `(H,)`. Write `min_gru_forward(x, h0, W_z, b_z, W_h, b_h)`
returning $h_1..h_T$ as `(B, T, H)`, computed with your `linear_scan` (the
same line budget applies, your `linear_scan` included; if your `linear_scan`
fails its own check, this test says so first).
""",
            '''
def min_gru_forward(x, h0, W_z, b_z, W_h, b_h):
    """minGRU over a whole sequence with the scan: -> (B, T, H)."""
    ### BEGIN SOLUTION
    z = 1.0 / (1.0 + np.exp(-(x @ W_z.T + b_z)))
    candidate = x @ W_h.T + b_h
    return linear_scan(1.0 - z, z * candidate, h0)
    ### END SOLUTION
''',
        ),
    ]
