"""Notebook source of assignment 03-bptt (solutions/03-bptt/bptt.ipynb).

The graded parts are declared in autograder/checks/ch03_bptt.py; this file
adds the words around them and the instructor's solutions.
"""

from autograder.chapters import chapter
from autograder.checks import ch03_bptt as parts
from tools.notebook_builder import free, graded_part, how_to, imports_cell, markdown

CHAPTER = chapter("03-bptt")

CONVENTIONS = r"""
Shapes and names follow chapter 2 (PyTorch's layout, batch first): `x` is
`(B, T, D)`, `h0` `(B, H)`, `W_ih` `(H, D)`, `W_hh` `(H, H)`, `b_ih` and `b_hh`
`(H,)`, `W_hy` `(O, H)`, `b_y` `(O,)`. One step of the cell is
$a_t = x_t W_{ih}^\top + b_{ih} + h_{t-1} W_{hh}^\top + b_{hh}$, $h_t = \tanh(a_t)$.

**Indices, as in the chapter's "Mind the indices":** maths counts time from 1,
arrays from 0. For $t = 1, \dots, T$, `hs[:, t-1]` holds $h_t$ and `x[:, t-1]`
holds $x_t$; the initial state $h_0$ is kept apart, in `h0`. A gradient array is
indexed like the quantity it belongs to: `dhs[:, t-1]` holds the gradient
arriving at $h_t$ *from the output at step $t$* (the *upstream gradient*), and
the total gradient $g_t = \partial L / \partial h_t$ adds what flows back from
$h_{t+1}$. A loss given by its upstream gradients is therefore
$L = \sum_{t=1}^{T} \sum_b \mathrm{dhs}[b, t-1] \cdot h_t[b]$; $g_t$ equals
`dhs[:, t-1]` only at $t = T$.

**Sums:** weight gradients are **sums** over the batch and over time (CS231n's
convention; CMU 11-785 divides by the batch size; here nothing is divided
unless the loss itself is a mean).

Return the gradients as a tuple, in the order each part gives, each with the
shape of what it is the gradient of. Parts 1, 2, 4 and 5 ask you to write the
backward pass yourself, in NumPy, without autograd (the checks compare it
with autograd); Part 3 builds the tool that checks such a backward pass
without autograd; Part 6 is the PyTorch loop that real training programs run.
"""


def cells():
    return [
        markdown(
            "title",
            """
# Assignment 3: backpropagation through time in NumPy

This notebook goes with chapter 3. You will write the backward pass of the
Elman network by hand: one step, then a whole sequence; build a
finite-difference gradient checker and use it on your own backward pass;
then a masked sequence loss with an output layer, the truncated gradient
that `h = h.detach()` every `k` steps produces, and finally the truncated-BPTT
loop of a real PyTorch training program. The backward passes are compared
with `torch.autograd` on the same weights.
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
One step of the cell maps $(x_t, h_{t-1})$ to $h_t$. Backpropagation visits it
once the rest of the network has been differentiated: all that is left to know
about the loss is `dh_t`, the **total** gradient $g_t = \partial L/\partial h_t$
(shape `(B, H)`), everything that reaches $h_t$, from its own output and from
the steps after it. As far as this step can tell, the loss is
$L = \sum_b \mathrm{dh\_t}[b] \cdot h_t[b]$.

Return the gradients of that loss with respect to everything the step was
given: `x_t` `(B, D)`, `h_prev` `(B, H)`, `W_ih` `(H, D)`, `W_hh` `(H, H)`,
`b_ih` and `b_hh` `(H,)`. Work them out with the chain rule, through the
$\tanh$ and then through the affine map $a_t$ (the chapter's backward
recursion is there to compare with once you have tried). Weight gradients sum
over the batch rows. The forward step's output $h_t$ is not an argument:
recompute it from the inputs.

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
Now the whole sequence. `dhs` `(B, T, H)` holds the upstream gradients:
`dhs[:, t-1]` is the gradient arriving at $h_t$ from the output at step $t$
only (the loss is $L = \sum_t \sum_b \mathrm{dhs}[b, t-1] \cdot h_t[b]$). The
total gradient $g_t$ that really arrives at a state also comes back from
$h_{t+1}$, through $W_{hh}$. Walk backwards from the last step to the first,
carry that second part along, and sum the weight gradients over every step.
Return `(dx, dh0, dW_ih, dW_hh, db_ih, db_hh)`: `dx` is `(B, T, D)`, `dh0`
`(B, H)` is the gradient that reaches the initial state $h_0$ (one step further
back than $h_1$). You may call your `rnn_step_backward`.
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
    carry = np.zeros_like(h0)                  # what flows back from the step after
    for t in reversed(range(T)):               # array index t: h_{t+1}, dhs[:, t] its upstream part
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
            parts.NUMERICAL_GRADIENT_W_HH,
            "a gradient checker for your BPTT",
            r"""
How do you know a backward pass is right when there is no autograd to compare
with? Nudge one weight, run the forward pass, and watch the loss move: the
chapter's *centred finite difference* (section "Gradient checking with finite
differences") needs nothing but the forward pass.

Build that checker for $W_{hh}$, for the loss your `rnn_backward` differentiates,
$L = \sum_{t=1}^{T} \sum_b \mathrm{dhs}[b, t-1] \cdot h_t[b]$ (the states $h_t$
from `h0` and `x` with the given weights). Write
`numerical_gradient_W_hh(dhs, x, h0, W_ih, W_hh, b_ih, b_hh, eps)` returning an
`(H, H)` array whose entry `[i, j]` is the centred difference of $L$ in
`W_hh[i, j]` with step `eps` (each nudge moves `W_hh[i, j]` by `eps`, up or
down, as in the chapter), one entry at a time.

The check compares your array with PyTorch's own centred differences at the
same `eps`, not with the true gradient. One visible case uses a large step,
`eps = 1e-2`, where a one-sided difference (error of order `eps`) and the true
gradient (the centred difference's own error is of order `eps**2`) are both
measurably different, so each is told apart and named. Nudging `W_hh` in
place is fine if you undo every nudge (`w + eps - eps` may differ from `w` in
its last bit, which the grader accepts); a nudge left in place is refused. A
*copy* of `W_hh` is the simplest way to be safe.
""",
            '''
def numerical_gradient_W_hh(dhs, x, h0, W_ih, W_hh, b_ih, b_hh, eps):
    """Centred differences of L = sum(dhs * hs) in every entry of W_hh: -> (H, H) array."""
    ### BEGIN SOLUTION
    def loss(W):
        h, total = h0, 0.0
        for t in range(x.shape[1]):
            h = np.tanh(x[:, t] @ W_ih.T + b_ih + h @ W.T + b_hh)
            total += np.sum(dhs[:, t] * h)
        return total

    W = W_hh.copy()
    grad = np.zeros_like(W)
    for i in range(W.shape[0]):
        for j in range(W.shape[1]):
            keep = W[i, j]
            W[i, j] = keep + eps
            up = loss(W)
            W[i, j] = keep - eps
            down = loss(W)
            W[i, j] = keep
            grad[i, j] = (up - down) / (2 * eps)
    return grad
    ### END SOLUTION
''',
        ),
        free("""
# Not graded: your checker on your own BPTT, by CS231n's relative error (the chapter's
# eq. (eq-ch3-relerr)). A correct rnn_backward gives errors that shrink like eps**2 as eps
# shrinks, until rounding takes over; a wrong one stays large at every eps.
rng = np.random.default_rng(0)
B, T, D, H = 3, 6, 4, 5
check_args = (rng.normal(size=(B, T, H)), rng.normal(size=(B, T, D)),
              rng.normal(0.0, 0.5, (B, H)), rng.normal(0.0, 0.6, (H, D)),
              rng.normal(0.0, 0.6, (H, H)), rng.normal(0.0, 0.5, H), rng.normal(0.0, 0.5, H))
try:
    analytic = rnn_backward(*check_args)[3]
    for eps in (1e-2, 1e-4, 1e-6):
        numeric = numerical_gradient_W_hh(*check_args, eps)
        rel = np.max(np.abs(analytic - numeric)
                     / np.maximum(1e-8, np.abs(analytic) + np.abs(numeric)))
        print(f"eps = {eps:.0e}: relative error of your dW_hh {rel:.1e}")
except NotImplementedError:
    print("Write rnn_backward (Part 2) and numerical_gradient_W_hh (Part 3) first.")
"""),
        *graded_part(
            4,
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
            5,
            parts.TRUNCATED_BPTT_GRADS,
            "truncated BPTT",
            r"""
Training on long sequences, a program that cannot afford full BPTT runs the
sequence in chunks of `k` steps. It *carries* the state from one chunk into the
next (the forward pass is exactly the full one), but cuts the graph there with
`h = h.detach()`, so that each chunk's backward pass stops at the chunk's start.

Compute, by hand and in NumPy, the parameter gradients such a program gets for
the loss of Part 2 (upstream gradients `dhs`, same index convention). Before
you write code, decide: does any state $h_t$ change? Which total gradients
$g_t$ lose a term, and which one? The chunks start at array steps
`0, k, 2k, ...` (the last one may be shorter); with `k >= T` the answer is full
BPTT. Return `(dW_ih, dW_hh, db_ih, db_hh)`. You may call your earlier functions.
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
        *graded_part(
            6,
            parts.TBPTT_GRADIENTS,
            "truncated BPTT in a PyTorch training loop",
            r"""
Now the real thing, in PyTorch: the loop that a language model's training
program runs over one long sequence. A many-to-many Elman network reads `x`
`(B, T, D)` from the state `h0` `(B, H)` with the weights `W_ih`, `W_hh`,
`b_ih`, `b_hh`, and scores classes at every step, $y_t = W_{hy} h_t + b_y$.
The loss is the **mean cross-entropy over all `B * T` positions** against
`targets` `(B, T)` (`targets[:, t-1]` is the class for $y_t$).

The loop cuts time into chunks starting at array steps `0, k, 2k, ...` (the
last one may be shorter). For each chunk, in order:

* the state is the one the previous chunk ended with (`h0` for the first),
  detached at the chunk's start;
* the chunk's share of the loss, its summed cross-entropy divided by `B * T`
  (so that the chunks' shares add up to the mean), is backpropagated on its
  own, and the gradients accumulate over the chunks.

Write `tbptt_gradients(x, targets, h0, W_ih, W_hh, b_ih, b_hh, W_hy, b_y, k)`
returning the accumulated gradients `(dW_ih, dW_hh, db_ih, db_hh, dW_hy, db_y)`
and the state carried out of the last chunk, `h_T` `(B, H)`, all as float64
NumPy arrays. Anything in PyTorch is allowed (`nn.RNN`, `nn.Linear`,
`F.cross_entropy`, `torch.optim`, `torch.autograd.grad`, ...); build tensors
with `torch.tensor(array)` (float64, like the arrays). The check runs sequences
of 1 to a few dozen steps; the last chunk is often shorter than `k`, and `k` may
exceed `T` (then the whole sequence is one chunk).
""",
            '''
def tbptt_gradients(x, targets, h0, W_ih, W_hh, b_ih, b_hh, W_hy, b_y, k):
    """Truncated BPTT over chunks of k steps: -> (dW_ih, dW_hh, db_ih, db_hh, dW_hy, db_y, h_T)."""
    ### BEGIN SOLUTION
    import torch
    import torch.nn.functional as F
    params = [torch.tensor(p, requires_grad=True) for p in (W_ih, W_hh, b_ih, b_hh, W_hy, b_y)]
    Wi, Wh, bi, bh, Wy, by = params
    xs, ys = torch.tensor(x), torch.tensor(targets)
    B, T = targets.shape
    h = torch.tensor(h0)
    for start in range(0, T, k):
        h = h.detach()
        logits = []
        for t in range(start, min(start + k, T)):
            h = torch.tanh(xs[:, t] @ Wi.T + bi + h @ Wh.T + bh)
            logits.append(h @ Wy.T + by)
        chunk = torch.stack(logits, dim=1)
        loss = F.cross_entropy(chunk.reshape(-1, Wy.shape[0]), ys[:, start:start + k].reshape(-1),
                               reduction="sum") / (B * T)
        loss.backward()
    return tuple(p.grad.numpy() for p in params) + (h.detach().numpy(),)
    ### END SOLUTION
''',
        ),
    ]
