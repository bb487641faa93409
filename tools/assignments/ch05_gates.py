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
them. Then you move an LSTM trained in CS231n's layout into PyTorch's, and you
design, by hand, the weights of an LSTM that carries a word across a thousand
others.
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
        *graded_part(
            6,
            parts.REPACK_CS231N,
            "CS231n's LSTM in PyTorch",
            r"""
CS231n's assignment 3 stores an LSTM in another layout: `Wx` is `(D, 4H)`, `Wh` is
`(H, 4H)`, there is one bias `b` of shape `(4H,)`, and the four gate blocks along the
last axis are in the order **i, f, o, g**. Its `lstm_forward(x, h0, Wx, Wh, b)` starts
from `h0` and a zero cell state and returns the hidden states of every step. Suppose you
trained an LSTM there and want to keep using it with `torch.nn.LSTM`.

Write `repack_cs231n(Wx, Wh, b, x, h0)` returning PyTorch's `(W_ih, W_hh, b_ih, b_hh)`
such that `torch.nn.LSTM(D, H, batch_first=True)` holding them, started from `h0` and
`c0 = 0`, computes on `x` the same hidden states as CS231n's
`lstm_forward(x, h0, Wx, Wh, b)`. `x` `(N, T, D)` and `h0` `(N, H)` are the inputs the
grader runs both models on: your function needs only the weights.

**How it is judged.** By behaviour, not by comparing arrays: the grader runs both
forwards on `x` and `h0` and compares every hidden state under the tolerance. PyTorch
adds two biases, so more than one answer is right.
""",
            '''
def repack_cs231n(Wx, Wh, b, x, h0):
    """CS231n's (Wx, Wh, b), gates i, f, o, g -> PyTorch's (W_ih, W_hh, b_ih, b_hh)."""
    ### BEGIN SOLUTION
    H = Wh.shape[0]
    i, f, o, g = (slice(k * H, (k + 1) * H) for k in range(4))   # CS231n's blocks

    def in_torch_order(packed):                                   # last axis: i, f, g, o
        return np.concatenate([packed[..., i], packed[..., f], packed[..., g], packed[..., o]],
                              axis=-1)

    return in_torch_order(Wx).T, in_torch_order(Wh).T, in_torch_order(b), np.zeros(4 * H)
    ### END SOLUTION
''',
        ),
        markdown(
            "cue_language_text",
            """
Part 7 uses the cue-to-blank language of chapters 4 and 5. This cell prints a few
sentences (with their answers) and the vocabulary's word ids:
""",
        ),
        free("""
from autograder.experiments.cue_task import VOCAB, cue_task

demo = cue_task(4, 9, seed=0)       # four sentences, the cue 9 words before the blank
for k in range(4):
    print(demo.sentence(k, with_answer=True))
print(dict(enumerate(VOCAB)))
"""),
        *graded_part(
            7,
            parts.CUE_CARRIER,
            "design an LSTM that carries the cue",
            r"""
The book's first section builds a one-unit LSTM by hand that remembers "he" or "she".
Now build one for the cue-to-blank language: *"i'm hungry the news was late ... i want
to go ___"* is answered *eat* (tired: sleep, bored: play, thirsty: drink), with up to
1,000 filler words between the cue and the blank. Nothing is trained: you choose every
weight. Decide, gate by gate, on which words each gate should be open.

Write `cue_carrier(vocab_size, cue_ids, answer_ids, blank_id, sentences)` returning
`(W_ih, W_hh, b_ih, b_hh, W_hy, b_y)`:

* **Words** are one-hot vectors of size `vocab_size`: column `k` of `W_ih` is what word
  `k` adds to the gates' pre-activations. `cue_ids[j]` is the id of cue `j` and
  `answer_ids[j]` the id of its answer; `blank_id` is the id of `___`. `sentences`
  `(N, T)` holds the word ids of the sentences the grader runs; your weights should not
  need them.
* **Types**: `vocab_size` and `blank_id` are Python `int`s; `cue_ids` and `answer_ids`
  are NumPy `int64` arrays of shape `(K,)` (K cues), and `sentences` an `int64` array of
  shape `(N, T)`. They are arrays, not lists: `cue_ids + [7]` adds 7 to every id instead
  of appending it, and `cue_ids.index(c)` does not exist; use NumPy
  (`np.flatnonzero(cue_ids == c)`, fancy indexing `W[rows, cue_ids]`) or convert with
  `.tolist()` first.
* **The LSTM** is `torch.nn.LSTM(vocab_size, H, batch_first=True)` holding your `W_ih`
  `(4H, vocab_size)`, `W_hh` `(4H, H)`, `b_ih` and `b_hh` `(4H,)`, gate blocks in
  PyTorch's order i, f, g, o, started from zero states. You choose the hidden size `H`,
  from 1 to 32.
* **The read-out** is `torch.nn.Linear(H, vocab_size)` holding your `W_hy`
  `(vocab_size, H)` and `b_y` `(vocab_size,)`, applied to the hidden state at the blank:
  one score per word of the vocabulary.
* Every weight and bias lies between -100 and 100.

**What is checked** (in float64): in every sentence, at the blank, the answer gets the
highest score of the whole vocabulary, ahead of every other word by at least 1. The
visible cases have 100 and 1,000 fillers with four cues, and 50 fillers with two cues
(`cue_ids` is then shorter); the hidden ones other sentences (none longer), no filler at
all, and two or three cues. Many
weight sets are right. When yours fail, the message names the first sentence that
fails, what your model scored there, and what its gates did.
""",
            '''
def cue_carrier(vocab_size, cue_ids, answer_ids, blank_id, sentences):
    """-> (W_ih, W_hh, b_ih, b_hh, W_hy, b_y) of an LSTM and read-out that answer the cue."""
    ### BEGIN SOLUTION
    H, big = len(cue_ids), 20.0                       # one memory unit per cue
    W_ih, W_hh = np.zeros((4 * H, vocab_size)), np.zeros((4 * H, H))
    b_ih, b_hh = np.zeros(4 * H), np.zeros(4 * H)
    i, f, g, o = (slice(k * H, (k + 1) * H) for k in range(4))
    units = np.arange(H)
    b_ih[i] = -big                                    # input gate: shut ...
    W_ih[i.start + units, cue_ids] = 2 * big          # ... except on unit j's cue
    b_ih[f] = big                                     # forget gate: keep everything
    b_ih[g] = big                                     # candidate: write +1
    b_ih[o] = -big                                    # output gate: shut ...
    W_ih[o, blank_id] = 2 * big                       # ... except at the blank
    W_hy, b_y = np.zeros((vocab_size, H)), np.zeros(vocab_size)
    W_hy[answer_ids, units] = 10.0                    # unit j votes for answer j
    return W_ih, W_hh, b_ih, b_hh, W_hy, b_y
    ### END SOLUTION
''',
        ),
    ]
