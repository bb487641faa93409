"""Notebook source of assignment 04-gradients (solutions/04-gradients/gradients.ipynb).

The graded parts are declared in autograder/checks/ch04_gradients.py; this
file adds the words around them and the instructor's solutions.
"""

from autograder.chapters import chapter
from autograder.checks import ch04_gradients as parts
from tools.notebook_builder import graded_part, how_to, imports_cell, markdown

CHAPTER = chapter("04-gradients")


def cells():
    return [
        markdown(
            "title",
            r"""
# Assignment 4: vanishing and exploding gradients

This notebook goes with chapter 4. You will compute the Jacobians that carry
a gradient back through time, measure how the powers of a recurrent matrix
grow or shrink, measure with autograd how much of the loss's gradient reaches
each input, write gradient clipping by global norm and use it in a training
step written with PyTorch, and finally design a recurrent matrix whose
gradients neither vanish nor explode.

Parts 1, 2, 4 and 6 are built with NumPy (the checks compare parts 1, 2 and 4
with `torch.autograd.functional.jacobian`, `torch.linalg` and
`torch.nn.utils.clip_grad_norm_`; part 6 is judged by what your matrix does).
Parts 3 and 5 are about PyTorch itself, so there PyTorch is allowed.

The maths uses column vectors, one sequence at a time, and the chapter's
notation: $h_t = \tanh(W_{hh} h_{t-1} + u_t)$, where the *input drive*
$u_t = W_{ih} x_t + b$ does not depend on earlier states, so that
$\partial h_t / \partial h_{t-1} = \mathrm{diag}(1 - h_t^2)\, W_{hh}$. The
code is batch first, as in PyTorch: `x` has shape `(B, T, D)`.
"""
            + how_to(parts.PARTS),
        ),
        imports_cell(CHAPTER, parts.PARTS),
        *graded_part(
            1,
            parts.HIDDEN_JACOBIANS,
            "Jacobians through time",
            r"""
`hs` (shape `(T, H)`) holds the states $h_1, \dots, h_T$ of one sequence, `h0`
(shape `(H,)`) the initial state $h_0$, and `W_hh` the recurrent matrix. The
chain rule gives, for $k < T$,

$$\frac{\partial h_T}{\partial h_k} = D_T W_{hh}\, D_{T-1} W_{hh} \cdots D_{k+1} W_{hh},
\qquad D_j = \mathrm{diag}(1 - h_j^2).$$

Write `hidden_jacobians(hs, h0, W_hh)` returning `J` of shape `(T, H, H)` with
`J[k]` $= \partial h_T / \partial h_k$ for $k = 0, \dots, T-1$ (`J[0]` is the
Jacobian with respect to the initial state). Mind the order of the factors:
matrix products do not commute.
""",
            '''
def hidden_jacobians(hs, h0, W_hh):
    """dh_T/dh_k for k = 0..T-1: (T, H) states -> (T, H, H)."""
    ### BEGIN SOLUTION
    T, H = hs.shape
    states = np.concatenate([h0[None, :], hs], axis=0)      # states[j] = h_j
    J = np.empty((T, H, H))
    running = np.eye(H)
    for k in range(T - 1, -1, -1):                         # J[k] = J[k+1] @ D_{k+1} W
        running = running @ (np.diag(1.0 - states[k + 1] ** 2) @ W_hh)
        J[k] = running
    return J
    ### END SOLUTION
''',
        ),
        *graded_part(
            2,
            parts.SPECTRAL_RADIUS_AND_NORMS,
            "spectral radius and the powers of W",
            r"""
In the linear recurrence $h_t = W h_{t-1} + u_t$ the Jacobian across $d$ steps
is $\partial h_t / \partial h_{t-d} = W^d$, so a gradient that arrives at $h_t$
reaches $h_{t-d}$ as $(W^d)^\top\, \partial L / \partial h_t$. The chapter
predicts its fate with two kinds of numbers. Write
`spectral_radius_and_norms(W, T)` returning `(rho, norms)`:

- `rho`, the spectral radius of `W`, which sets the factor per step in the
  long run (a Python `float`);
- `norms`, a `float64` array of shape `(T,)`: `norms[d - 1]` is the most that
  a gradient can be lengthened on its way back across $d$ steps (the largest
  ratio $\lVert (W^d)^\top g \rVert / \lVert g \rVert$ over all $g \neq 0$),
  for $d = 1, \dots, T$.

`W` is square and, in general, not symmetric.
""",
            '''
def spectral_radius_and_norms(W, T):
    """(spectral radius of W, spectral norms of W^1..W^T)."""
    ### BEGIN SOLUTION
    rho = float(np.max(np.abs(np.linalg.eigvals(W))))
    norms = np.empty(T)
    power = np.eye(W.shape[0])
    for d in range(1, T + 1):
        power = power @ W
        norms[d - 1] = np.linalg.norm(power, 2)
    return rho, norms
    ### END SOLUTION
''',
        ),
        *graded_part(
            3,
            parts.GRADIENT_SIGNAL,
            "the learning signal against distance, measured with autograd",
            r"""
The chapter measured how much of the loss's gradient reaches the cue word,
compared with the word at the blank. Measure it yourself, at every position.

A many-to-one classifier reads `x` (`(B, T, D)`, $B$ sequences of $T$ input
vectors) from $h_0 = 0$ with chapter 2's Elman cell (`W_ih`, `W_hh`, `b_ih`,
`b_hh`, $\tanh$) and scores classes from its last state only:
$z = W_{hy} h_T + b_y$. Its loss is the cross-entropy of $z$ against
`targets` (`(B,)` class ids), **summed** over the batch,
$L = \sum_b \mathrm{CE}(z_b, y_b)$, so that each sequence's gradient is its own,
whatever $B$.

Write `gradient_signal(x, targets, W_ih, W_hh, b_ih, b_hh, W_hy, b_y)`
returning `signal`, a `float64` NumPy array of shape `(B, T)`:
`signal[b, k]` is the Euclidean length of $\partial L / \partial x_{b,k}$,
the gradient of the loss with respect to the input vector at step `k` of
sequence `b` (over its $D$ features; `k = 0` is the first input). Let
autograd do the calculus; the check compares your numbers with PyTorch's own
`nn.RNN` and `nn.Linear`. Then look at one row: how does the signal change
with the distance `T - 1 - k` from the end?
""",
            '''
def gradient_signal(x, targets, W_ih, W_hh, b_ih, b_hh, W_hy, b_y):
    """(B, T) norms of dL/dx_k, k = 0..T-1, for the summed cross-entropy of the last state."""
    ### BEGIN SOLUTION
    import torch
    import torch.nn.functional as F
    xs = torch.tensor(x, requires_grad=True)
    Wi, Wh, bi, bh, Wy, by = (torch.tensor(p) for p in (W_ih, W_hh, b_ih, b_hh, W_hy, b_y))
    h = torch.zeros(x.shape[0], W_hh.shape[0], dtype=torch.float64)
    for t in range(x.shape[1]):
        h = torch.tanh(xs[:, t] @ Wi.T + bi + h @ Wh.T + bh)
    loss = F.cross_entropy(h @ Wy.T + by, torch.tensor(targets), reduction="sum")
    (grad,) = torch.autograd.grad(loss, xs)
    return grad.norm(dim=-1).numpy()
    ### END SOLUTION
''',
        ),
        *graded_part(
            4,
            parts.CLIP_GRAD_NORM,
            "clipping by global norm",
            r"""
Gradient clipping by global norm (Pascanu et al. 2013) treats all gradients
as one long vector $g$: with the global norm
$\lVert g \rVert = \sqrt{\sum_i \lVert g_i \rVert^2}$ and the threshold $\tau$
(`max_norm`), it multiplies every gradient by the same clipping coefficient
$\min\left(1, \frac{\tau}{\lVert g \rVert + 10^{-6}}\right)$, exactly as
`torch.nn.utils.clip_grad_norm_` does. Write `clip_grad_norm(grads, max_norm)`:
`grads` is a tuple of arrays; return `(clipped, total_norm)` where `clipped`
is a tuple of the scaled arrays (same shapes, new arrays: do not modify the
inputs) and `total_norm` is $\lVert g \rVert$ as a Python `float`.

Non-finite gradients follow PyTorch too: if $\lVert g \rVert$ is `inf`, the
coefficient is 0, so finite entries become 0 and infinite ones `nan`
($\infty \cdot 0$); if $\lVert g \rVert$ is `nan`, everything becomes `nan`.
Return $\lVert g \rVert$ as it is in both cases.
""",
            '''
def clip_grad_norm(grads, max_norm):
    """Scale all gradients together so that their global norm is at most max_norm."""
    ### BEGIN SOLUTION
    total = float(np.sqrt(sum(float(np.sum(g ** 2)) for g in grads)))
    coef = max_norm / (total + 1e-6)
    coef = coef if coef < 1.0 or np.isnan(coef) else 1.0
    with np.errstate(invalid="ignore"):
        clipped = tuple(g * coef for g in grads)
    return clipped, total
    ### END SOLUTION
''',
        ),
        *graded_part(
            5,
            parts.CLIPPED_SGD_STEP,
            "a training step with clipping, in PyTorch",
            r"""
Now put clipping to work, with PyTorch. The model is the many-to-one
classifier of part 3: chapter 2's Elman cell (`W_ih`, `W_hh`, `b_ih`, `b_hh`,
$\tanh$) reads `x` (`(B, T, D)`) from $h_0 = 0$, and the logits are
$W_{hy} h_T + b_y$. Its training loss is the cross-entropy against `targets`
(`(B,)` class ids), *averaged* over the batch this time, as in chapter 2's
training loop.

Write `clipped_sgd_step(x, targets, W_ih, W_hh, b_ih, b_hh, W_hy, b_y, lr, max_norm)`
that performs one step of plain SGD (learning rate `lr`, no momentum) whose
gradient has been clipped by global norm to at most `max_norm`, all six
parameters together. Return the six updated parameters (NumPy `float64`
arrays, in the order of the arguments) and the loss before the step (a Python
`float`). How you get there is yours: modules or tensors, `torch.optim` or your
own update, `clip_grad_norm_` or the rule of part 4 written in PyTorch. The check compares
the parameters you return with `nn.RNN`, `nn.Linear`, `F.cross_entropy`,
`clip_grad_norm_` and an SGD step; where to clip matters.
""",
            '''
def clipped_sgd_step(x, targets, W_ih, W_hh, b_ih, b_hh, W_hy, b_y, lr, max_norm):
    """One SGD step with clipping: -> (W_ih, W_hh, b_ih, b_hh, W_hy, b_y, loss)."""
    ### BEGIN SOLUTION
    import torch
    import torch.nn.functional as F
    params = [torch.tensor(p, requires_grad=True) for p in (W_ih, W_hh, b_ih, b_hh, W_hy, b_y)]
    Wi, Wh, bi, bh, Wy, by = params
    xs = torch.tensor(x)
    h = torch.zeros(x.shape[0], W_hh.shape[0], dtype=torch.float64)
    for t in range(x.shape[1]):
        h = torch.tanh(xs[:, t] @ Wi.T + bi + h @ Wh.T + bh)
    loss = F.cross_entropy(h @ Wy.T + by, torch.tensor(targets))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, max_norm)
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad
    return tuple(p.detach().numpy() for p in params) + (float(loss.detach()),)
    ### END SOLUTION
''',
        ),
        *graded_part(
            6,
            parts.NORM_PRESERVING_W_HH,
            "design: a recurrent matrix whose gradients neither vanish nor explode",
            r"""
A **design** part: you return weights, and many answers are right. The check
does not compare your matrix with one answer; it runs it and checks what it
does.

`G` (shape `(H, H)`) is a recurrent matrix exactly as PyTorch's `nn.RNN` draws
`weight_hh_l0` (entries uniform in $(-1/\sqrt{H}, 1/\sqrt{H})$); the chapter
measured that gradients vanish through it. Build from it a $W_{hh}$ for the
linear recurrence $h_t = W_{hh} h_{t-1} + u_t$ with two properties:

1. **Neither vanishing nor exploding, in any direction, for 200 steps**: for
   every $t = 1, \dots, 200$, every direction of $h_0$ reaches $h_t$ with
   between 0.5 and 2 times its length, that is, every singular value of
   $\partial h_t / \partial h_0$ lies in $[0.5, 2]$.
2. **G's directions are kept.** Write $G = U S V^\top$ (its singular value
   decomposition): $G$ reads the state along the columns of $V$, stretches
   each reading by a singular value, and writes it along the columns of $U$.
   Your $W_{hh}$ must read and write along the same directions; only the
   stretches may change (so $U^\top W_{hh} V$ is diagonal), and a stretch may be
   negative (the reading along $v_i$ is then written along $-u_i$).

Write `norm_preserving_w_hh(G)` returning $W_{hh}$, a `float64` array of shape
`(H, H)`. The check computes $\partial h_t / \partial h_0$ for
$t = 1, \dots, 200$ with PyTorch, checks property 1 at every step and then
property 2, and tells you the first step that breaks and what your matrix did
there. Before you write code, ask yourself what a stretch of 0.99, or a
spectral radius of exactly 1, would do over 200 steps.
""",
            """
def norm_preserving_w_hh(G):
    \"\"\"A W_hh with G's singular vectors whose powers W_hh^1..W_hh^200 neither vanish nor explode.\"\"\"
    ### BEGIN SOLUTION
    U, S, Vh = np.linalg.svd(G)            # G = U diag(S) Vh: keep U and V, set every stretch to 1
    return U @ Vh                          # orthogonal: every power has all singular values 1
    ### END SOLUTION
""",
        ),
    ]
