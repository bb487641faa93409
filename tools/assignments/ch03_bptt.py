"""Notebook source of assignment 03-bptt (solutions/03-bptt/bptt.ipynb).

The graded parts are declared in autograder/checks/ch03_bptt.py; this file
adds the words around them and the instructor's solutions.
"""

from autograder.chapters import chapter
from autograder.checks import ch03_bptt as parts
from tools.notebook_builder import graded_part, how_to, imports_cell, markdown

CHAPTER = chapter("03-bptt")

CONVENTIONS = r"""
Shapes and names follow chapter 2 (PyTorch's layout, batch first): `x` is
`(B, T, D)`, `h0` `(B, H)`, `W_ih` `(H, D)`, `W_hh` `(H, H)`, `b_ih` and `b_hh`
`(H,)`, `W_hy` `(O, H)`, `b_y` `(O,)`. One step of the cell is
$a_t = x_t W_{ih}^\top + b_{ih} + h_{t-1} W_{hh}^\top + b_{hh}$, $h_t = \tanh(a_t)$,
and `hs[:, t]` holds $h_{t+1}$ (arrays count from 0, the maths from 1).

Two conventions of this notebook:

* a loss given by its *upstream gradients* `dhs` is
  $L = \sum_t \sum_b \mathrm{dhs}[b, t] \cdot h_t[b]$, so `dhs[:, t]` is
  $\partial L / \partial h_t$ coming from the outputs only (the part through
  $h_{t+1}$ is yours to add);
* weight gradients are **sums** over the batch and over time (CS231n's
  convention; CMU 11-785 divides by the batch size; here nothing is divided
  unless the loss itself is a mean).

Return the gradients as a tuple, in the order each part gives, each with the
shape of what it is the gradient of. Do not call autograd: the point is to
write the backward pass yourself (the checks compare it with autograd).
"""


def cells():
    return [
        markdown(
            "title",
            """
# Assignment 3: backpropagation through time in NumPy

This notebook goes with chapter 3. You will write the backward pass of the
Elman network by hand: one step, then a whole sequence, then a masked
sequence loss with an output layer, and finally the truncated gradient that
`h = h.detach()` every `k` steps produces. Each one is compared with
`torch.autograd` on the same weights.
"""
            + CONVENTIONS
            + how_to(parts.PARTS),
        ),
        imports_cell(CHAPTER, parts.PARTS),
        *graded_part(
            1,
            parts.RNN_STEP_BACKWARD,
            "one step backward",
            r"""
Given the upstream gradient `dh_t` $= \partial L/\partial h_t$ (shape `(B, H)`)
and the step's inputs, return the gradients of $L = \sum \mathrm{dh\_t} \cdot h_t$
with respect to `x_t`, `h_prev`, `W_ih`, `W_hh`, `b_ih` and `b_hh`:

$$da = \mathrm{dh\_t} \odot (1 - h_t^2),\quad
dx_t = da\, W_{ih},\quad dh_{t-1} = da\, W_{hh},\quad
dW_{ih} = da^\top x_t,\quad dW_{hh} = da^\top h_{t-1},\quad db = \textstyle\sum_b da.$$

Recompute $h_t$ from the inputs first (it is what the forward step stored).
Write `rnn_step_backward(dh_t, x_t, h_prev, W_ih, W_hh, b_ih, b_hh)` returning
`(dx_t, dh_prev, dW_ih, dW_hh, db_ih, db_hh)`.
""",
            '''
def rnn_step_backward(dh_t, x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    """Gradients of one Elman step: -> (dx_t, dh_prev, dW_ih, dW_hh, db_ih, db_hh)."""
    ### BEGIN SOLUTION
    h_t = np.tanh(x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh)
    da = dh_t * (1.0 - h_t ** 2)
    db = da.sum(axis=0)
    return da @ W_ih, da @ W_hh, da.T @ x_t, da.T @ h_prev, db, db.copy()
    ### END SOLUTION
''',
        ),
        *graded_part(
            2,
            parts.RNN_BACKWARD,
            "backpropagation through a whole sequence",
            r"""
Now the whole sequence. `dhs[:, t]` is the gradient arriving at $h_{t+1}$ from
its own output; the gradient that really arrives at a state also comes back
from the next step through $W_{hh}$. Walk backwards from the last step to
the first, carry that second part along, and sum the weight gradients over
every step. Return `(dx, dh0, dW_ih, dW_hh, db_ih, db_hh)`: `dx` is `(B, T, D)`,
`dh0` `(B, H)` is the gradient that reaches the initial state.
""",
            '''
def rnn_backward(dhs, x, h0, W_ih, W_hh, b_ih, b_hh):
    """Full BPTT: -> (dx, dh0, dW_ih, dW_hh, db_ih, db_hh)."""
    ### BEGIN SOLUTION
    B, T, _ = x.shape
    states, h = [], h0
    for t in range(T):
        h = np.tanh(x[:, t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
        states.append(h)
    dx = np.zeros_like(x)
    dW_ih, dW_hh, db = np.zeros_like(W_ih), np.zeros_like(W_hh), np.zeros_like(b_ih)
    carry = np.zeros_like(h0)
    for t in reversed(range(T)):
        h_prev = states[t - 1] if t > 0 else h0
        da = (dhs[:, t] + carry) * (1.0 - states[t] ** 2)
        dx[:, t] = da @ W_ih
        dW_ih += da.T @ x[:, t]
        dW_hh += da.T @ h_prev
        db += da.sum(axis=0)
        carry = da @ W_hh
    return dx, carry, dW_ih, dW_hh, db, db.copy()
    ### END SOLUTION
''',
        ),
        *graded_part(
            3,
            parts.SEQUENCE_LOSS_GRADS,
            "a masked many-to-many loss",
            r"""
A batch of sequences of different lengths is padded to one length `T`; `mask`
(shape `(B, T)`, `bool`) is `True` on real tokens. At every step the network
predicts a class: $y_t = W_{hy} h_t + b_y$ (logits, shape `(B, T, O)`), and the
loss is the softmax cross-entropy with `targets` (`(B, T)` class ids), averaged
over the **real tokens only**:

$$L = \frac{\sum_{b,t} m_{bt}\, \mathrm{CE}(y_{bt}, \mathrm{target}_{bt})}{\sum_{b,t} m_{bt}}.$$

Padded steps must contribute nothing, to the loss or to any gradient. Return
`(loss, dW_ih, dW_hh, db_ih, db_hh, dW_hy, db_y)`, with `loss` a Python
`float`. You may reuse your `rnn_backward`.
""",
            '''
def sequence_loss_grads(x, h0, W_ih, W_hh, b_ih, b_hh, W_hy, b_y, targets, mask):
    """Masked mean cross-entropy and its gradients: -> (loss, dW_ih, dW_hh, db_ih, db_hh, dW_hy, db_y)."""
    ### BEGIN SOLUTION
    B, T, _ = x.shape
    states, h = [], h0
    for t in range(T):
        h = np.tanh(x[:, t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
        states.append(h)
    hs = np.stack(states, axis=1)
    logits = hs @ W_hy.T + b_y
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    m = mask.astype(np.float64)
    n = m.sum()
    picked = np.take_along_axis(log_p, targets[..., None], axis=-1)[..., 0]
    loss = float(-(picked * m).sum() / n)
    dlogits = np.exp(log_p)
    np.put_along_axis(dlogits, targets[..., None], np.take_along_axis(dlogits, targets[..., None], axis=-1) - 1.0, axis=-1)
    dlogits *= m[..., None] / n
    dW_hy = np.einsum("bto,bth->oh", dlogits, hs)
    db_y = dlogits.sum(axis=(0, 1))
    _, _, dW_ih, dW_hh, db_ih, db_hh = rnn_backward(dlogits @ W_hy, x, h0, W_ih, W_hh, b_ih, b_hh)
    return loss, dW_ih, dW_hh, db_ih, db_hh, dW_hy, db_y
    ### END SOLUTION
''',
        ),
        *graded_part(
            4,
            parts.TRUNCATED_BPTT_GRADS,
            "truncated BPTT",
            r"""
Training on long sequences, PyTorch programs carry the state from one chunk
of `k` steps to the next but cut the graph with `h = h.detach()` before steps
`k, 2k, 3k, ...` (and before step 0). The gradient then flows back at most to
the start of its chunk. With the same loss as part 2 (upstream gradients
`dhs`), return the parameter gradients this truncation produces:
`(dW_ih, dW_hh, db_ih, db_hh)`. With `k >= T` it is full BPTT.
""",
            '''
def truncated_bptt_grads(dhs, x, h0, W_ih, W_hh, b_ih, b_hh, k):
    """Gradients with the state detached every k steps: -> (dW_ih, dW_hh, db_ih, db_hh)."""
    ### BEGIN SOLUTION
    B, T, _ = x.shape
    states, h = [], h0
    for t in range(T):
        h = np.tanh(x[:, t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
        states.append(h)
    dW_ih, dW_hh, db = np.zeros_like(W_ih), np.zeros_like(W_hh), np.zeros_like(b_ih)
    carry = np.zeros_like(h0)
    for t in reversed(range(T)):
        h_prev = states[t - 1] if t > 0 else h0
        da = (dhs[:, t] + carry) * (1.0 - states[t] ** 2)
        dW_ih += da.T @ x[:, t]
        dW_hh += da.T @ h_prev
        db += da.sum(axis=0)
        carry = da @ W_hh if t % k != 0 else np.zeros_like(h0)
    return dW_ih, dW_hh, db, db.copy()
    ### END SOLUTION
''',
        ),
    ]
