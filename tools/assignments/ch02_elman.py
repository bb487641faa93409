"""Notebook source of assignment 02-elman (solutions/02-elman/elman.ipynb).

The graded parts are declared in autograder/checks/ch02_elman.py; this file
adds the words around them and the instructor's solutions.
"""

from autograder.chapters import chapter
from autograder.checks import ch02_elman as parts
from tools.notebook_builder import graded_part, how_to, imports_cell, markdown

CHAPTER = chapter("02-elman")

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
point is to build them.
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
    ]
