"""Chapter 4 checks: honest variants pass, the classic mistakes are rejected and named."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import assert_passes, assert_rejected, solution_namespace

from autograder.checks import ch04_gradients as checks

SOL = solution_namespace("04-gradients")


def jacobians_by_loop(hs, h0, W_hh, *, order="right", derivative=True):
    """Each J[k] built from scratch as a product, the way the formula reads."""
    T, H = hs.shape
    states = [h0] + list(hs)
    out = []
    for k in range(T):
        J = np.eye(H)
        for j in range(k + 1, T + 1):
            D = np.diag(1 - states[j] ** 2) if derivative else np.eye(H)
            J = (D @ W_hh) @ J if order == "right" else J @ (D @ W_hh)
        out.append(J)
    return np.stack(out)


def spectral_by_svd(W, T):
    rho = float(max(abs(np.linalg.eigvals(W))))
    return rho, np.array(
        [np.linalg.svd(np.linalg.matrix_power(W, d), compute_uv=False)[0] for d in range(1, T + 1)]
    )


def clip_flat(grads, max_norm):
    """Concatenate, scale, split: a different but equivalent route."""
    flat = np.concatenate([g.ravel() for g in grads])
    total = float(np.linalg.norm(flat))
    with np.errstate(invalid="ignore"):
        flat = flat * np.minimum(max_norm / (total + 1e-6), 1.0)
    out, at = [], 0
    for g in grads:
        out.append(flat[at : at + g.size].reshape(g.shape))
        at += g.size
    return tuple(out), total


def sgd_with_modules(x, targets, W_ih, W_hh, b_ih, b_hh, W_hy, b_y, lr, max_norm):
    """The same step with nn.RNN, nn.Linear and torch.optim.SGD (all allowed in part 4)."""
    rnn = torch.nn.RNN(W_ih.shape[1], W_ih.shape[0], batch_first=True, dtype=torch.float64)
    head = torch.nn.Linear(W_hy.shape[1], W_hy.shape[0], dtype=torch.float64)
    params = [
        rnn.weight_ih_l0,
        rnn.weight_hh_l0,
        rnn.bias_ih_l0,
        rnn.bias_hh_l0,
        head.weight,
        head.bias,
    ]
    with torch.no_grad():
        for p, v in zip(params, (W_ih, W_hh, b_ih, b_hh, W_hy, b_y)):
            p.copy_(torch.from_numpy(v))
    opt = torch.optim.SGD(params, lr=lr)
    out, _ = rnn(torch.from_numpy(x))
    loss = torch.nn.functional.cross_entropy(head(out[:, -1]), torch.from_numpy(targets))
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, max_norm)
    opt.step()
    return tuple(p.detach().numpy().copy() for p in params) + (loss.item(),)


HONEST = [
    (checks.check_hidden_jacobians, SOL["hidden_jacobians"]),
    (checks.check_hidden_jacobians, jacobians_by_loop),
    (checks.check_spectral_radius_and_norms, SOL["spectral_radius_and_norms"]),
    (checks.check_spectral_radius_and_norms, spectral_by_svd),
    (  # a NumPy float64 where a float is asked (issue 16)
        checks.check_spectral_radius_and_norms,
        lambda W, T: (np.max(np.abs(np.linalg.eigvals(W))), spectral_by_svd(W, T)[1]),
    ),
    (  # a 0-d float64 array where a float is asked
        checks.check_spectral_radius_and_norms,
        lambda W, T: (np.abs(np.linalg.eigvals(W)).max(keepdims=True)[0], spectral_by_svd(W, T)[1]),
    ),
    (checks.check_clip_grad_norm, SOL["clip_grad_norm"]),
    (checks.check_clip_grad_norm, clip_flat),
    (checks.check_clipped_sgd_step, SOL["clipped_sgd_step"]),
    (checks.check_clipped_sgd_step, sgd_with_modules),
]


@pytest.mark.parametrize("check,fn", HONEST, ids=lambda v: getattr(v, "__name__", "variant"))
def test_honest_implementations_pass_every_case(check, fn, capfd):
    assert_passes(check, fn, capfd)


def test_a_list_where_an_array_is_asked_is_called_a_list():
    """Issue 16: (rho, list(norms)) was called a tuple."""
    message = assert_rejected(
        checks.check_spectral_radius_and_norms,
        lambda W, T: (spectral_by_svd(W, T)[0], list(spectral_by_svd(W, T)[1])),
        "but a list of",
    )
    assert "np.array(...)" in message and "tuple" not in message.split("arrived")[0]


def _per_tensor(grads, max_norm):
    total = float(np.sqrt(sum((g**2).sum() for g in grads)))
    return tuple(g * min(1.0, max_norm / (np.linalg.norm(g) + 1e-6)) for g in grads), total


MUTANTS = [
    (
        checks.check_hidden_jacobians,
        "wrong order",
        lambda **a: jacobians_by_loop(**a, order="left"),
        "wrong order",
    ),
    (
        checks.check_hidden_jacobians,
        "no tanh derivative",
        lambda **a: jacobians_by_loop(**a, derivative=False),
        "tanh derivative is missing",
    ),
    (
        checks.check_hidden_jacobians,
        "autograd",
        lambda hs, h0, W_hh: (
            np.zeros((hs.shape[0],) + W_hh.shape)
            + torch.autograd.functional.jacobian(
                lambda h: torch.tanh(torch.from_numpy(W_hh) @ h), torch.from_numpy(h0)
            ).numpy()
        ),
        "NumPy only",
    ),
    (
        checks.check_spectral_radius_and_norms,
        "singular value as radius",
        lambda W, T: (float(np.linalg.norm(W, 2)), spectral_by_svd(W, T)[1]),
        "largest singular value",
    ),
    (
        checks.check_spectral_radius_and_norms,
        "float32 scalar",
        lambda W, T: (np.float32(np.max(np.abs(np.linalg.eigvals(W)))), spectral_by_svd(W, T)[1]),
        "float32 scalar arrived",
    ),
    (checks.check_clip_grad_norm, "per tensor", _per_tensor, "its own norm"),
    (
        checks.check_clip_grad_norm,
        "by value",
        lambda grads, max_norm: (
            tuple(np.clip(g, -max_norm, max_norm) for g in grads),
            float(np.sqrt(sum((g**2).sum() for g in grads))),
        ),
        "by value",
    ),
    (
        checks.check_clip_grad_norm,
        "no square root",
        lambda grads, max_norm: (
            clip_flat(grads, max_norm**2)[0:1] + (clip_flat(grads, max_norm)[1] ** 2,)
        ),
        "without the square root",
    ),
    (
        checks.check_clip_grad_norm,
        "in place",
        lambda grads, max_norm: (tuple(np.multiply(g, 0.5, out=g) for g in grads), 1.0),
        "in place",
    ),
    (
        checks.check_clipped_sgd_step,
        "no clipping",
        lambda **a: sgd_with_modules(**{**a, "max_norm": 1e9}),
        "not clipped before the update",
    ),
]


@pytest.mark.parametrize(
    "check,name,fn,hint", MUTANTS, ids=[f"{c.__name__}-{n}" for c, n, _, _ in MUTANTS]
)
def test_mutants_are_rejected_with_a_pointed_message(check, name, fn, hint):
    assert_rejected(check, fn, hint, name)


def test_the_module_being_built_is_refused_even_where_torch_is_welcome():
    def by_torch(grads, max_norm):
        ps = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
        for p, g in zip(ps, grads):
            p.grad = torch.from_numpy(g.copy())
        total = torch.nn.utils.clip_grad_norm_(ps, max_norm)
        return tuple(p.grad.numpy() for p in ps), float(total)

    with pytest.raises(AssertionError, match="NumPy only"):
        checks.check_clip_grad_norm(by_torch)


def test_a_relative_error_on_small_numbers_is_not_called_round_off():
    """Review finding: 8e-4 relative errors on outputs near 1e-3 were called float32 round-off."""

    def eps_inside_max(grads, max_norm):
        total = float(np.sqrt(sum((g**2).sum() for g in grads)))
        coef = min(max_norm / max(total, 1e-6), 1.0)
        return tuple(g * coef for g in grads), total

    message = assert_rejected(checks.check_clip_grad_norm, eps_inside_max, "1e-6")
    assert "round-off" not in message


def test_a_nan_norm_that_leaves_gradients_unscaled_is_named():
    def python_min(grads, max_norm):
        total = float(np.sqrt(sum((g**2).sum() for g in grads)))
        with np.errstate(invalid="ignore"):
            return tuple(g * min(1.0, max_norm / (total + 1e-6)) for g in grads), total

    assert_rejected(checks.check_clip_grad_norm, python_min, "min(1.0, nan) is 1.0")
