"""Notebook source of assignment 02-elman (solutions/02-elman/elman.ipynb).

The graded parts are declared in autograder/checks/ch02_elman.py; this file
adds the words around them and the instructor's solutions.
"""

import math

from autograder.chapters import chapter
from autograder.checks import ch02_elman as parts
from tools.notebook_builder import graded_part, how_to, imports_cell, markdown

CHAPTER = chapter("02-elman")

# Part 6's sequence lengths, shortest and longest over its declared cases.
LATCH_LENGTHS = sorted(
    tokens.shape[1]
    for case in parts.ORDER_LATCH.cases()
    for tokens in parts.ORDER_LATCH.inputs(case.seed, **case.sizes)["sequences"]
)
# The softmax probability of the right class when its logit wins by the required margin.
LATCH_PROBABILITY = 1 / (1 + math.exp(-parts.LATCH_MARGIN))

SHAPES = """
Shapes follow PyTorch (`B` batch, `T` time steps, `D` input size, `H` hidden
size, `O` output size): `W_ih` is `(H, D)`, `W_hh` is `(H, H)`, `b_ih` and
`b_hh` are `(H,)`, `W_hy` is `(O, H)` and `b_y` is `(O,)`. A batch of inputs at
one time step is `(B, D)`, a batch of hidden states `(B, H)`, and a batch of
whole sequences `x` is `(B, T, D)` (batch first). All arrays are `float64`.
"""


def cells():
    return [
        markdown(
            "title",
            """
# Assignment 2: the Elman network in NumPy

This notebook goes with chapter 2. You will implement an Elman recurrent
network in NumPy, one piece at a time, and every piece is compared with
PyTorch's `torch.nn.RNNCell`, `torch.nn.RNN` and `torch.nn.Linear` given the
same weights. Calling those modules inside your answers is not allowed: the
point is to build them. Then you pick each sequence's last real state out of a
padded batch, and finally you design the weights of a small network that
remembers which of two markers came first, however long the sequence.
"""
            + SHAPES
            + how_to(parts.PARTS),
        ),
        imports_cell(CHAPTER, parts.PARTS),
        *graded_part(
            1,
            parts.RNN_STEP,
            "one step of the cell",
            r"""
With row vectors stacked into a batch, one step of the cell is

$$H_t = \tanh\left(X_t W_{ih}^\top + b_{ih} + H_{t-1} W_{hh}^\top + b_{hh}\right).$$

Write `rnn_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh)` returning `h_t`, shape `(B, H)`.
""",
            '''
def rnn_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    """One Elman step: (B, D), (B, H) -> (B, H)."""
    ### BEGIN SOLUTION
    pre_activation = np.einsum("bd,hd->bh", x_t, W_ih) + np.einsum("bk,hk->bh", h_prev, W_hh)
    return np.tanh(pre_activation + (b_ih + b_hh))
    ### END SOLUTION
''',
        ),
        *graded_part(
            2,
            parts.RNN_FORWARD,
            "the forward pass over whole sequences",
            """
Write `rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh)`: starting from the initial
state `h0` (shape `(B, H)`), apply the cell to `x[:, 0], x[:, 1], ..., x[:, T-1]`
in order and return **all** hidden states `h_1, ..., h_T` stacked as an array
of shape `(B, T, H)`, so that `hs[:, t]` is the state after reading `x[:, t]`.
`h0` itself is not part of the result. You may call your `rnn_step`.
""",
            '''
def rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh):
    """All hidden states: x (B, T, D), h0 (B, H) -> hs (B, T, H)."""
    ### BEGIN SOLUTION
    batch, steps, _ = x.shape
    hs = np.empty((batch, steps, h0.shape[1]), dtype=np.float64)
    state = h0
    for t in range(steps):
        state = rnn_step(x[:, t, :], state, W_ih, W_hh, b_ih, b_hh)
        hs[:, t, :] = state
    return hs
    ### END SOLUTION
''',
        ),
        *graded_part(
            3,
            parts.RNN_OUTPUT,
            "the output layer",
            r"""
The output at each step is linear in the hidden state, $y_t = W_{hy} h_t + b_y$,
with no activation (a softmax, if any, belongs to the loss). Write
`rnn_output(hs, W_hy, b_y)` mapping hidden states `(B, T, H)` to outputs
`(B, T, O)`.
""",
            '''
def rnn_output(hs, W_hy, b_y):
    """Outputs at every step: (B, T, H) -> (B, T, O)."""
    ### BEGIN SOLUTION
    return np.matmul(hs, W_hy.T) + b_y[None, None, :]
    ### END SOLUTION
''',
        ),
        *graded_part(
            4,
            parts.MANY_TO_ONE_LOGITS,
            "a many-to-one classifier",
            """
A many-to-one network reads the whole sequence and answers once, from the last
hidden state $h_T$. Write
`many_to_one_logits(x, h0, W_ih, W_hh, b_ih, b_hh, W_hy, b_y)` returning the
class scores (logits) of shape `(B, C)` computed from `h_T` (here `C` plays
the role of `O`). You may use your functions from parts 2 and 3.
""",
            '''
def many_to_one_logits(x, h0, W_ih, W_hh, b_ih, b_hh, W_hy, b_y):
    """Class scores from the last hidden state: x (B, T, D) -> (B, C)."""
    ### BEGIN SOLUTION
    last_state = rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh)[:, -1, :]
    return last_state @ W_hy.T + b_y
    ### END SOLUTION
''',
        ),
        *graded_part(
            5,
            parts.LAST_STATES,
            "the last real state of each sequence in a padded batch",
            """
A batch of sequences of different lengths is padded to one length `T` and run
through the network for all `T` steps, so for a sequence shorter than `T` the
network keeps updating its state over the padding. A many-to-one classifier
must read each sequence's own last state, the one after its last real input.

Write `last_states(hs, lengths)`. `hs` (shape `(B, T, H)`) holds the states of
the padded run, `hs[:, t]` being the state after reading `x[:, t]` as in Part 2;
`lengths` (shape `(B,)`, `int64`, each between 1 and `T`) gives the real length
of each sequence, in the batch's order. Return, for every sequence `b`, its
state after its last real input, shape `(B, H)`, rows in the batch's order.
The check compares your answer with what `torch.nn.RNN` keeps in `h_n` when the
batch is packed with `torch.nn.utils.rnn.pack_padded_sequence` (see the
chapter's section on sequences of different lengths). Some batches are padded
beyond their longest sequence.
""",
            '''
def last_states(hs, lengths):
    """Each sequence's last real state: hs (B, T, H), lengths (B,) -> (B, H)."""
    ### BEGIN SOLUTION
    rows = np.arange(hs.shape[0])
    return hs[rows, np.asarray(lengths) - 1, :].copy()
    ### END SOLUTION
''',
        ),
        *graded_part(
            6,
            parts.ORDER_LATCH,
            "design a network that remembers which marker came first",
            f"""
This part asks for weights, not code that computes something: **design** a small
Elman network that solves chapter 1's order task at any length. Every sequence
holds exactly one marker `A` and one marker `B`, anywhere, and distractor tokens
everywhere else; its label is 1 when `A` comes before `B` and 0 otherwise. The
chapter's section *How the trained network holds what it saw* explains the
mechanism that makes this possible; this part changes the conditions, so its
numbers will not work here as they are.

Write `order_latch(vocab_size, marker_a, marker_b, sequences)` returning the
tuple `(W_ih, W_hh, b_ih, b_hh, W_hy, b_y)` (float64, PyTorch's layout): `W_ih`
`(H, vocab_size)`, `W_hh` `(H, H)`, `b_ih` and `b_hh` `(H,)`, `W_hy` `(2, H)`,
`b_y` `(2,)`, with a hidden size `H` of your choice. The vocabulary and the
markers' token ids change from case to case: `A` is token `marker_a` and `B` is
token `marker_b`, every other id is a distractor. `sequences` is a tuple of
`int64` arrays of token ids, one per length, of shape `(N, T)`: the sequences
your network is judged on (use them to try your weights if you like; the
weights themselves should not need them).

**How it is judged.** The check feeds each sequence, token by token as one-hot
vectors, to `torch.nn.RNN` (tanh, `h_0 = 0`) holding your `W_ih, W_hh, b_ih,
b_hh`, and applies `torch.nn.Linear` holding `W_hy, b_y` to the last state
`h_T` (the many-to-one pattern of Part 4). Your network must

* classify **every** sequence right, with a margin: the logit of the right class
  must exceed the other by at least {parts.LATCH_MARGIN:g} (a softmax probability
  of at least {LATCH_PROBABILITY:.2f});
* use `H` between 1 and {parts.LATCH_MAX_HIDDEN} hidden units;
* keep `W_hh` moderate: its largest singular value (`np.linalg.norm(W_hh, 2)`)
  at most {parts.LATCH_SIGMA_BOUND:g};
* keep every weight and bias moderate: every entry of every array you return at
  most {parts.LATCH_WEIGHT_BOUND:g} in absolute value, so that the margin has to come
  from a state that stays away from zero, not from a huge read-out.

The sequences are between {LATCH_LENGTHS[0]} and {LATCH_LENGTHS[-1]} tokens long, and the markers can sit
anywhere, side by side or far apart, at the start or at the very end. When a
sequence fails, the message names it (its length, where `A` and `B` are), shows
the states your network went through, and says what went wrong.
""",
            '''
def order_latch(vocab_size, marker_a, marker_b, sequences):
    """Weights (W_ih, W_hh, b_ih, b_hh, W_hy, b_y) of an Elman network that remembers
    whether A came before B."""
    ### BEGIN SOLUTION
    # One unit whose sign is the stored bit. w = 2 > 1 gives two stable states +-h*,
    # h* = tanh(2 h*) = 0.957. The second marker must not flip the first: w tanh(u) > u right
    # after the first (2 tanh(1.2) = 1.67 > 1.2) and w h* = 1.91 > u once settled.
    w, u, k = 2.0, 1.2, 5.0
    W_ih = np.zeros((1, vocab_size))
    W_ih[0, marker_a] = u
    W_ih[0, marker_b] = -u
    W_hh = np.array([[w]])
    no_bias = np.zeros(1)
    # Logits (-k h, +k h): class 1 when h > 0. The weakest state the read-out meets is right
    # after the markers side by side at the end, tanh(1.67 - 1.2) = 0.44: margin 2k 0.44 > 3.
    W_hy = np.array([[-k], [k]])
    return W_ih, W_hh, no_bias, no_bias.copy(), W_hy, np.zeros(2)
    ### END SOLUTION
''',
        ),
    ]
