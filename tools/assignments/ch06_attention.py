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
attention and Bahdanau's additive attention, the sinusoidal positional
encoding of the Transformer, and then answer the seeds' last question, "can
h_t be computed in parallel?", for linear recurrences: a parallel scan, and
minGRU computed with it. Everything is NumPy, checked against PyTorch and
against the sequential loops.
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
`True` where a query may attend to a key (PyTorch's convention): set the
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
            parts.SINUSOIDAL_POSITIONAL_ENCODING,
            "sinusoidal positional encoding",
            r"""
The Transformer adds to the input at position $t$ (counted from 0) a vector
whose even and odd columns are

$$PE[t, 2i] = \sin\left(t / 10000^{2i/d}\right),\qquad
PE[t, 2i+1] = \cos\left(t / 10000^{2i/d}\right),$$

interleaved. Write `sinusoidal_positional_encoding(T, d)` (`d` even) returning
a `float64` array of shape `(T, d)`.
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
            4,
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
every position $t \ge s$ combines the pair at $t - s$ with its own, all at
once.

Write `linear_scan(a, b, h0)` (`a`, `b` `(B, T, H)`, `h0` `(B, H)`) returning
all states $h_1..h_T$ as `(B, T, H)`. Loop over the rounds, not over time: the
check counts the lines your code executes on a sequence of 4,096 steps and
refuses a loop over $T$ (even one that does several steps per line).
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
            5,
            parts.MIN_GRU_FORWARD,
            "minGRU with the scan",
            r"""
minGRU (Feng et al. 2024) drops $h_{t-1}$ from the gate and the candidate:

$$z_t = \sigma(W_z x_t + b_z),\quad \tilde h_t = W_h x_t + b_h,\quad
h_t = (1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t,$$

a linear recurrence with $a_t = 1 - z_t$ and $b_t = z_t \odot \tilde h_t$, all
computable at once from `x`. Write `min_gru_forward(x, h0, W_z, b_z, W_h, b_h)`
returning $h_1..h_T$ as `(B, T, H)`, computed with your `linear_scan`.
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
