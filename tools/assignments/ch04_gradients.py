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
grow or shrink, write gradient clipping by global norm, and use it in a
training step written with PyTorch.

Parts 1 to 3 are built with NumPy (the checks compare them with
`torch.autograd.functional.jacobian`, `torch.linalg` and
`torch.nn.utils.clip_grad_norm_`). Part 4 is about PyTorch itself, so there
PyTorch is allowed.

In parts 1 and 2 the maths uses column vectors, one sequence at a time:
$h_t = \tanh(W_{hh} h_{t-1} + W_{ih} x_t + b)$, so that
$\partial h_t / \partial h_{t-1} = \mathrm{diag}(1 - h_t^2)\, W_{hh}$.
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
For a linear recurrence $h_t = W h_{t-1}$, the gradient across a distance $d$
is multiplied by $W^d$. Write `spectral_radius_and_norms(W, T)` returning
`(rho, norms)`: `rho`, the spectral radius of `W` (the largest modulus of its
eigenvalues, a Python `float`), and `norms`, a `float64` array of shape `(T,)`
with `norms[d - 1]` $= \lVert W^d \rVert_2$, the spectral norm (largest
singular value) of the $d$-th power, for $d = 1, \dots, T$.
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
            parts.CLIP_GRAD_NORM,
            "clipping by global norm",
            r"""
Gradient clipping by global norm (Pascanu et al. 2013) treats all gradients
as one long vector: with $n = \sqrt{\sum_i \lVert g_i \rVert^2}$ it multiplies
every gradient by $c = \min\left(1, \frac{\text{max\_norm}}{n + 10^{-6}}\right)$,
exactly as `torch.nn.utils.clip_grad_norm_` does. Write
`clip_grad_norm(grads, max_norm)`: `grads` is a tuple of arrays; return
`(clipped, total_norm)` where `clipped` is a tuple of the scaled arrays (same
shapes, new arrays: do not modify the inputs) and `total_norm` is $n$ as a
Python `float`.

Non-finite gradients follow PyTorch too: if $n$ is `inf`, $c = 0$, so finite
entries become 0 and infinite ones `nan` ($\infty \cdot 0$); if $n$ is `nan`,
everything becomes `nan`. Return $n$ as it is in both cases.
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
            4,
            parts.CLIPPED_SGD_STEP,
            "a training step with clipping, in PyTorch",
            r"""
Now put it to work, with PyTorch. A many-to-one classifier reads `x`
(`(B, T, D)`) from a zero initial state with the Elman cell of chapter 2
(weights `W_ih`, `W_hh`, `b_ih`, `b_hh`), and scores classes from the last
state with `W_hy`, `b_y`. One training step:

1. the loss: mean cross-entropy of the logits against `targets` (`(B,)` ids);
2. `backward()`;
3. clip all gradients together to a global norm of `max_norm`;
4. the SGD update `p <- p - lr * p.grad` for every parameter.

Write `clipped_sgd_step(x, targets, W_ih, W_hh, b_ih, b_hh, W_hy, b_y, lr, max_norm)`
returning the six updated parameters (NumPy `float64` arrays, same order as
the arguments) and the loss before the step (a Python `float`). Build tensors
with `torch.tensor(array, requires_grad=True)` (they are float64, like the
arrays); `torch.nn.utils.clip_grad_norm_` is allowed here.
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
    ]
