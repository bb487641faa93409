"""Notebook source of assignment 05-gates (solutions/05-gates/gates.ipynb).

The graded parts are declared in autograder/checks/ch05_gates.py; this file
adds the words around them and the instructor's solutions.
"""

from autograder.chapters import chapter
from autograder.checks import ch05_gates as parts
from tools.notebook_builder import free, graded_part, how_to, imports_cell, markdown

CHAPTER = chapter("05-gates")

LAYOUT = r"""
Everything follows PyTorch's conventions, with rows as batch entries (`B`
batch, `T` time steps, `D` input size, `H` hidden size):

* **LSTM**: `W_ih` is `(4H, D)`, `W_hh` is `(4H, H)`, `b_ih` and `b_hh` are
  `(4H,)`. The four blocks of rows are the gates in the order **i, f, g, o**
  (input, forget, cell candidate, output): block `k` is rows `k*H:(k+1)*H`.
  CS231n packs them as i, f, o, g; PyTorch does not.
* **GRU**: `W_ih` is `(3H, D)`, `W_hh` is `(3H, H)`, biases `(3H,)`, blocks
  **r, z, n** (reset, update, new).

All arrays are `float64`. A helper that splits the packed pre-activations into
gates is a good idea (`np.split(z, 4, axis=1)`); put it in its own cell.
"""


def cells():
    return [
        markdown(
            "title",
            """
# Assignment 5: LSTM and GRU in NumPy

This notebook goes with chapter 5. You will write the LSTM and GRU cells in
NumPy, run them over whole sequences, and derive the backward pass of one
LSTM step. Each is compared with `torch.nn.LSTMCell`, `torch.nn.LSTM`,
`torch.nn.GRUCell`, `torch.nn.GRU` or autograd, given your packed weights.
Calling those modules in your answers is not allowed: the point is to build
them.
"""
            + LAYOUT
            + how_to(parts.PARTS),
        ),
        imports_cell(CHAPTER, parts.PARTS),
        markdown(
            "sigmoid_text",
            "A sigmoid you may use in every part (an extra cell of your own is fine too):",
        ),
        free("""
def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))
"""),
        *graded_part(
            1,
            parts.LSTM_STEP,
            "one LSTM step",
            r"""
With $z = x_t W_{ih}^\top + b_{ih} + h_{t-1} W_{hh}^\top + b_{hh}$ split into four
blocks $z_i, z_f, z_g, z_o$ (in that order):

$$i = \sigma(z_i),\quad f = \sigma(z_f),\quad g = \tanh(z_g),\quad o = \sigma(z_o),$$
$$c_t = f \odot c_{t-1} + i \odot g,\qquad h_t = o \odot \tanh(c_t).$$

Write `lstm_step(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh)` returning `(h_t, c_t)`.
""",
            '''
def lstm_step(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    """One LSTM step: -> (h_t, c_t), each (B, H)."""
    ### BEGIN SOLUTION
    z = x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh
    z_i, z_f, z_g, z_o = np.split(z, 4, axis=1)
    c_t = sigmoid(z_f) * c_prev + sigmoid(z_i) * np.tanh(z_g)
    h_t = sigmoid(z_o) * np.tanh(c_t)
    return h_t, c_t
    ### END SOLUTION
''',
        ),
        *graded_part(
            2,
            parts.LSTM_FORWARD,
            "an LSTM over whole sequences",
            r"""
Write `lstm_forward(x, h0, c0, W_ih, W_hh, b_ih, b_hh)`: start from `(h0, c0)`,
apply the cell to `x[:, 0], ..., x[:, T-1]` in order, and return `(hs, c_T)`:
all hidden states $h_1, \dots, h_T$ as `(B, T, H)` and the last cell state
`(B, H)` (what `torch.nn.LSTM(batch_first=True)` returns as `output` and
`c_n[0]`). You may call your `lstm_step`.
""",
            '''
def lstm_forward(x, h0, c0, W_ih, W_hh, b_ih, b_hh):
    """-> (hs (B, T, H), c_T (B, H))."""
    ### BEGIN SOLUTION
    h, c, hs = h0, c0, []
    for t in range(x.shape[1]):
        h, c = lstm_step(x[:, t], h, c, W_ih, W_hh, b_ih, b_hh)
        hs.append(h)
    return np.stack(hs, axis=1), c
    ### END SOLUTION
''',
        ),
        *graded_part(
            3,
            parts.GRU_STEP,
            "one GRU step",
            r"""
PyTorch's GRU, with the input part $a = x_t W_{ih}^\top + b_{ih}$ and the hidden
part $b = h_{t-1} W_{hh}^\top + b_{hh}$, each split into blocks r, z, n:

$$r = \sigma(a_r + b_r),\quad z = \sigma(a_z + b_z),\quad
n = \tanh\big(a_n + r \odot (h_{t-1} W_{hn}^\top + b_{hn})\big),$$
$$h_t = (1 - z) \odot n + z \odot h_{t-1}.$$

Note where the reset gate acts: it multiplies $W_{hn} h_{t-1} + b_{hn}$, *after*
the matrix product (Cho et al. 2014 and D2L apply it before, to $h_{t-1}$).
Write `gru_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh)` returning `h_t`.
""",
            '''
def gru_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    """One GRU step (PyTorch's convention): -> h_t (B, H)."""
    ### BEGIN SOLUTION
    a_r, a_z, a_n = np.split(x_t @ W_ih.T + b_ih, 3, axis=1)
    b_r, b_z, b_n = np.split(h_prev @ W_hh.T + b_hh, 3, axis=1)
    r, z = sigmoid(a_r + b_r), sigmoid(a_z + b_z)
    n = np.tanh(a_n + r * b_n)
    return (1.0 - z) * n + z * h_prev
    ### END SOLUTION
''',
        ),
        *graded_part(
            4,
            parts.GRU_FORWARD,
            "a GRU over whole sequences",
            """
Write `gru_forward(x, h0, W_ih, W_hh, b_ih, b_hh)` returning all hidden states
$h_1, \\dots, h_T$ as `(B, T, H)`, as `torch.nn.GRU(batch_first=True)` does.
""",
            '''
def gru_forward(x, h0, W_ih, W_hh, b_ih, b_hh):
    """-> hs (B, T, H)."""
    ### BEGIN SOLUTION
    h, hs = h0, []
    for t in range(x.shape[1]):
        h = gru_step(x[:, t], h, W_ih, W_hh, b_ih, b_hh)
        hs.append(h)
    return np.stack(hs, axis=1)
    ### END SOLUTION
''',
        ),
        *graded_part(
            5,
            parts.LSTM_STEP_BACKWARD,
            "the backward pass of one LSTM step",
            r"""
Given upstream gradients `dh_t` and `dc_t` (both `(B, H)`) of a loss
$L = \sum \mathrm{dh\_t} \odot h_t + \sum \mathrm{dc\_t} \odot c_t$, return the
gradients of one LSTM step with respect to its inputs and parameters:
`(dx_t, dh_prev, dc_prev, dW_ih, dW_hh, db_ih, db_hh)`. Recompute the gates
first. The gradient reaching $c_t$ has two parts: `dc_t` directly, and
$\mathrm{dh\_t} \odot o \odot (1 - \tanh^2 c_t)$ through $h_t$. Pack the gate
gradients back in the order i, f, g, o. Weight gradients are sums over the
batch; `db_ih` and `db_hh` are equal.
""",
            '''
def lstm_step_backward(dh_t, dc_t, x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    """-> (dx_t, dh_prev, dc_prev, dW_ih, dW_hh, db_ih, db_hh)."""
    ### BEGIN SOLUTION
    z = x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh
    z_i, z_f, z_g, z_o = np.split(z, 4, axis=1)
    i, f, g, o = sigmoid(z_i), sigmoid(z_f), np.tanh(z_g), sigmoid(z_o)
    c_t = f * c_prev + i * g
    tanh_c = np.tanh(c_t)
    dc = dc_t + dh_t * o * (1.0 - tanh_c ** 2)
    dz = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f),
                         dc * i * (1 - g ** 2), dh_t * tanh_c * o * (1 - o)], axis=1)
    db = dz.sum(axis=0)
    return dz @ W_ih, dz @ W_hh, dc * f, dz.T @ x_t, dz.T @ h_prev, db, db.copy()
    ### END SOLUTION
''',
        ),
    ]
