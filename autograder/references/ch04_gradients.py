"""Chapter 4 references: Jacobians through time, spectra, gradient clipping, the learning
signal against distance, and an initialisation that neither vanishes nor explodes, by PyTorch.

* :func:`hidden_jacobians` asks ``torch.autograd.functional.jacobian`` for
  dh_T/dh_k, k = 0..T-1, of one sequence's Elman recurrence.
* :func:`spectral_radius_and_norms` uses ``torch.linalg.eigvals``,
  ``torch.linalg.matrix_power`` and ``torch.linalg.matrix_norm(ord=2)``.
* :func:`gradient_signal` is autograd's ``dL/dx`` of a many-to-one classifier built from
  ``torch.nn.RNN`` and ``torch.nn.Linear`` (chapter 2's :func:`elman_module`), one norm
  per input vector.
* :func:`clip_grad_norm` is ``torch.nn.utils.clip_grad_norm_`` on tensors whose
  ``.grad`` holds the given gradients.
* :func:`clipped_sgd_step` is one SGD step of the same classifier, with
  ``clip_grad_norm_`` between ``backward()`` and the update.
* :func:`norm_preserving_w_hh` returns one right answer of the design part (the orthogonal
  matrix with G's singular vectors, from ``torch.linalg.svd``), and
  :func:`linear_jacobian_stretches` runs a W_hh through the linear recurrence for the
  property check: the singular values of dh_t/dh_0 = W^t, t = 1..steps.

Shapes: one sequence (no batch) for the Jacobians: ``hs`` (T, H) holds
h_1..h_T, ``h0`` (H,), ``W_hh`` (H, H). The recurrence is
h_t = tanh(W_hh h_{t-1} + u_t), where u_t = W_ih x_t + b is the input drive, which does
not depend on earlier states. The classifiers are batch first: ``x`` (B, T, D).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..device import REFERENCE_DTYPE, reference_device, to_device, to_numpy
from .ch02_elman import elman_module, linear_module

__all__ = [
    "hidden_jacobians",
    "spectral_radius_and_norms",
    "gradient_signal",
    "clip_grad_norm",
    "clipped_sgd_step",
    "norm_preserving_w_hh",
    "linear_jacobian_stretches",
    "elman_states",
]


def elman_states(x, h0, W_ih, W_hh, b, *, device=None):
    """h_1..h_T (T, H) of one sequence x (T, D), with one bias b = b_ih + b_hh, by ``nn.RNN``."""
    device = device or reference_device()
    rnn = elman_module(torch.nn.RNN, W_ih, W_hh, b, np.zeros_like(b), "tanh", device)
    with torch.no_grad():
        out, _ = rnn(to_device(x, device), to_device(h0, device)[None])
    return to_numpy(out)


def hidden_jacobians(hs, h0, W_hh, *, device=None):
    """J (T, H, H) with J[k] = dh_T / dh_k for k = 0..T-1 (k = 0 is the initial state).

    The input drives u_t are recovered from the states
    (u_t = atanh(h_t) - W_hh h_{t-1}) and held fixed; autograd then
    differentiates the recurrence from h_k to h_T.
    """
    device = device or reference_device()
    hs_t, W = to_device(hs, device), to_device(W_hh, device)
    prev = torch.cat([to_device(h0, device)[None], hs_t[:-1]])
    u = torch.atanh(hs_t) - prev @ W.T
    T = hs_t.shape[0]
    out = []
    for k in range(T):

        def run(h_k, k=k):
            h = h_k
            for t in range(k, T):  # h_{t+1} = tanh(W h_t + u_{t+1}), u index t
                h = torch.tanh(W @ h + u[t])
            return h

        start = prev[k] if k > 0 else to_device(h0, device)
        out.append(torch.autograd.functional.jacobian(run, start))
    return to_numpy(torch.stack(out))


def spectral_radius_and_norms(W, T, *, device=None):
    """(rho, norms): rho = max |eigenvalue| of W (a float); norms[d-1] = ||W^d||_2, d = 1..T."""
    device = device or reference_device()
    W_t = to_device(W, device)
    rho = float(torch.linalg.eigvals(W_t).abs().max())
    norms = torch.stack(
        [
            torch.linalg.matrix_norm(torch.linalg.matrix_power(W_t, d), ord=2)
            for d in range(1, int(T) + 1)
        ]
    )
    return rho, to_numpy(norms)


def _classifier(W_ih, W_hh, b_ih, b_hh, W_hy, b_y, device):
    """Chapter 2's many-to-one classifier: ``nn.RNN(batch_first=True)`` and ``nn.Linear``."""
    rnn = elman_module(torch.nn.RNN, W_ih, W_hh, b_ih, b_hh, "tanh", device, batch_first=True)
    return rnn, linear_module(W_hy, b_y, device)


def gradient_signal(x, targets, W_ih, W_hh, b_ih, b_hh, W_hy, b_y, *, device=None):
    """signal (B, T): signal[b, k] = ||dL/dx[b, k]||_2, by autograd.

    logits = W_hy h_T + b_y, h_T from ``nn.RNN`` started at zeros; L is the cross-entropy
    summed over the batch (``reduction="sum"``), so each sequence's gradient is its own.
    """
    device = device or reference_device()
    rnn, head = _classifier(W_ih, W_hh, b_ih, b_hh, W_hy, b_y, device)
    xs = to_device(x, device).requires_grad_(True)
    out, _ = rnn(xs)
    loss = F.cross_entropy(head(out[:, -1]), to_device(targets, device).long(), reduction="sum")
    (grad,) = torch.autograd.grad(loss, xs)
    return to_numpy(torch.linalg.vector_norm(grad, dim=-1))


def clip_grad_norm(grads, max_norm, *, device=None):
    """(clipped grads as a tuple, total norm as a float), by ``torch.nn.utils.clip_grad_norm_``.

    A non-finite total norm is returned as it is (inf or nan), and the
    gradients are scaled anyway (``error_if_nonfinite=False``, PyTorch's default).
    """
    device = device or reference_device()
    params = []
    for g in grads:
        p = torch.zeros(np.shape(g), dtype=REFERENCE_DTYPE, device=device, requires_grad=True)
        p.grad = to_device(g, device).clone()
        params.append(p)
    total = torch.nn.utils.clip_grad_norm_(
        params, float(max_norm), norm_type=2.0, error_if_nonfinite=False, foreach=False
    )
    return tuple(to_numpy(p.grad) for p in params), float(total)


def clipped_sgd_step(
    x, targets, W_ih, W_hh, b_ih, b_hh, W_hy, b_y, lr, max_norm, *, clip="global", device=None
):
    """One SGD step with gradient clipping for a many-to-one Elman classifier.

    logits = W_hy h_T + b_y with h_T from ``nn.RNN(batch_first=True)`` started at
    zeros; loss = mean cross-entropy over the batch; gradients clipped to a
    global norm of ``max_norm``; then p <- p - lr * p.grad. Returns the six
    updated parameters ``(W_ih, W_hh, b_ih, b_hh, W_hy, b_y)`` and the loss
    before the step.

    ``clip`` (for the declared mistakes): ``"global"`` (right), ``"each"`` (each tensor by
    its own norm), ``"value"`` (``clip_grad_value_``) or ``None`` (not clipped).
    """
    device = device or reference_device()
    rnn, head = _classifier(W_ih, W_hh, b_ih, b_hh, W_hy, b_y, device)
    params = [*rnn.parameters(), *head.parameters()]  # W_ih, W_hh, b_ih, b_hh, W_hy, b_y
    out, _ = rnn(to_device(x, device))
    loss = F.cross_entropy(head(out[:, -1]), to_device(targets, device).long())
    loss.backward()
    if clip == "global":
        torch.nn.utils.clip_grad_norm_(params, float(max_norm))
    elif clip == "each":
        for p in params:
            torch.nn.utils.clip_grad_norm_([p], float(max_norm))
    elif clip == "value":
        torch.nn.utils.clip_grad_value_(params, float(max_norm))
    optimizer = torch.optim.SGD(params, lr=float(lr))
    optimizer.step()
    return tuple(to_numpy(p) for p in params) + (float(loss.detach()),)


def norm_preserving_w_hh(G, *, device=None):
    """One right answer: G's singular vectors, every stretch 1 (G = U S V^T -> U V^T), by
    ``torch.linalg.svd``. Many others are right (see the property check)."""
    device = device or reference_device()
    U, _, Vh = torch.linalg.svd(to_device(G, device))
    return to_numpy(U @ Vh)


def linear_jacobian_stretches(W, steps, band=(0.0, float("inf")), *, device=None):
    """The largest and smallest singular values of dh_t/dh_0 for t = 1, 2, ... of the linear
    recurrence h_t = W h_{t-1} + u_t, whose Jacobian is W^t (built one factor at a time,
    ``torch.linalg.svdvals``): an array (n, 2) of (sigma_max, sigma_min) for t = 1..n, where
    n = steps, or the first t whose singular values leave ``band`` (low, high)."""
    device = device or reference_device()
    W_t = to_device(W, device)
    power, rows = torch.eye(W_t.shape[0], dtype=REFERENCE_DTYPE, device=device), []
    for _ in range(int(steps)):
        power = W_t @ power
        s = torch.linalg.svdvals(power)
        rows.append(torch.stack([s[0], s[-1]]))
        if not band[0] <= float(s[-1]) <= float(s[0]) <= band[1]:
            break
    return to_numpy(torch.stack(rows))
