"""Chapter 4 references: Jacobians through time, spectra, and gradient clipping, by PyTorch.

* :func:`hidden_jacobians` asks ``torch.autograd.functional.jacobian`` for
  dh_T/dh_k, k = 0..T-1, of one sequence's Elman recurrence.
* :func:`spectral_radius_and_norms` uses ``torch.linalg.eigvals``,
  ``torch.linalg.matrix_power`` and ``torch.linalg.matrix_norm(ord=2)``.
* :func:`clip_grad_norm` is ``torch.nn.utils.clip_grad_norm_`` on tensors whose
  ``.grad`` holds the given gradients.
* :func:`clipped_sgd_step` is one SGD step of a many-to-one Elman classifier,
  built from ``torch.nn.RNN`` and ``torch.nn.Linear``, with
  ``clip_grad_norm_`` between ``backward()`` and the update.

Shapes: one sequence (no batch) for the Jacobians: ``hs`` (T, H) holds
h_1..h_T, ``h0`` (H,), ``W_hh`` (H, H). The recurrence is
h_t = tanh(W_hh h_{t-1} + c_t), where c_t = W_ih x_t + b stands for the
input's contribution, which does not depend on earlier states.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..device import REFERENCE_DTYPE, reference_device, to_device, to_numpy

__all__ = [
    "hidden_jacobians",
    "spectral_radius_and_norms",
    "clip_grad_norm",
    "clipped_sgd_step",
    "elman_states",
]


def elman_states(x, h0, W_ih, W_hh, b, *, device=None):
    """h_1..h_T (T, H) of one sequence x (T, D), with one bias b = b_ih + b_hh."""
    device = device or reference_device()
    h = to_device(h0, device)
    W_ih, W_hh, b = (to_device(a, device) for a in (W_ih, W_hh, b))
    out = []
    with torch.no_grad():
        for x_t in to_device(x, device):
            h = torch.tanh(W_ih @ x_t + W_hh @ h + b)
            out.append(h)
    return to_numpy(torch.stack(out))


def hidden_jacobians(hs, h0, W_hh, *, device=None):
    """J (T, H, H) with J[k] = dh_T / dh_k for k = 0..T-1 (k = 0 is the initial state).

    The inputs' contributions c_t are recovered from the states
    (c_t = atanh(h_t) - W_hh h_{t-1}) and held fixed; autograd then
    differentiates the recurrence from h_k to h_T.
    """
    device = device or reference_device()
    hs_t, W = to_device(hs, device), to_device(W_hh, device)
    prev = torch.cat([to_device(h0, device)[None], hs_t[:-1]])
    c = torch.atanh(hs_t) - prev @ W.T
    T = hs_t.shape[0]
    out = []
    for k in range(T):

        def run(h_k, k=k):
            h = h_k
            for t in range(k, T):  # h_{t+1} = tanh(W h_t + c_{t+1}), c index t
                h = torch.tanh(W @ h + c[t])
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


def clipped_sgd_step(x, targets, W_ih, W_hh, b_ih, b_hh, W_hy, b_y, lr, max_norm, *, device=None):
    """One SGD step with gradient clipping for a many-to-one Elman classifier.

    logits = W_hy h_T + b_y with h_T from ``nn.RNN(batch_first=True)`` started at
    zeros; loss = mean cross-entropy over the batch; gradients clipped to a
    global norm of ``max_norm``; then p <- p - lr * p.grad. Returns the six
    updated parameters ``(W_ih, W_hh, b_ih, b_hh, W_hy, b_y)`` and the loss
    before the step.
    """
    device = device or reference_device()
    hidden, inputs = np.shape(W_ih)
    rnn = torch.nn.RNN(inputs, hidden, batch_first=True, dtype=REFERENCE_DTYPE, device=device)
    head = torch.nn.Linear(hidden, np.shape(W_hy)[0], dtype=REFERENCE_DTYPE, device=device)
    params = [
        rnn.weight_ih_l0,
        rnn.weight_hh_l0,
        rnn.bias_ih_l0,
        rnn.bias_hh_l0,
        head.weight,
        head.bias,
    ]
    with torch.no_grad():
        for p, value in zip(params, (W_ih, W_hh, b_ih, b_hh, W_hy, b_y)):
            p.copy_(to_device(value, device))
    out, _ = rnn(to_device(x, device))
    loss = F.cross_entropy(head(out[:, -1]), to_device(targets, device).long())
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, float(max_norm))
    with torch.no_grad():
        for p in params:
            p -= float(lr) * p.grad
    return tuple(to_numpy(p) for p in params) + (float(loss.detach()),)
