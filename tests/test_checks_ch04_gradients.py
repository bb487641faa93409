"""Chapter 4 checks: honest variants pass, the classic mistakes are rejected and named.

The registry-wide properties (the solutions pass every case, the stubs fail, every declared
mistake is caught and named by a visible case) are tests/test_parts.py's; here: answers written
differently from the solutions, and mistakes written as code."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import assert_passes, assert_rejected

from autograder.checks import ch04_gradients as checks


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


def no_square_root(grads, max_norm):
    """A student's clip that forgets the square root: the sum of squares is used as the norm."""
    total = sum(float(np.sum(g * g)) for g in grads)
    coef = min(max_norm / (total + 1e-6), 1.0)
    return tuple(g * coef for g in grads), total


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


def signal_by_hand(x, targets, W_ih, W_hh, b_ih, b_hh, W_hy, b_y):
    """BPTT in NumPy (chapter 3), carried down to the inputs: dL/dx_k = W_ih^T delta_k."""
    B, T, _ = x.shape
    hs = [np.zeros((B, W_hh.shape[0]))]
    for t in range(T):
        hs.append(np.tanh(x[:, t] @ W_ih.T + b_ih + hs[-1] @ W_hh.T + b_hh))
    z = hs[-1] @ W_hy.T + b_y
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(B), targets] -= 1.0  # dL/dz for the summed cross-entropy
    dh = p @ W_hy
    out = np.empty((B, T))
    for t in range(T, 0, -1):
        delta = dh * (1.0 - hs[t] ** 2)  # dL/da_t
        out[:, t - 1] = np.linalg.norm(delta @ W_ih, axis=1)
        dh = delta @ W_hh
    return out


def signal_one_sequence_at_a_time(x, targets, W_ih, W_hh, b_ih, b_hh, W_hy, b_y):
    """Batches of one with the default (mean) reduction: the mean of one loss is that loss."""
    rows = []
    for b in range(x.shape[0]):
        xs = torch.tensor(x[b : b + 1], requires_grad=True)
        h = torch.zeros(1, W_hh.shape[0], dtype=torch.float64)
        for t in range(x.shape[1]):
            h = torch.tanh(
                xs[:, t] @ torch.tensor(W_ih).T
                + torch.tensor(b_ih)
                + h @ torch.tensor(W_hh).T
                + torch.tensor(b_hh)
            )
        logits = h @ torch.tensor(W_hy).T + torch.tensor(b_y)
        torch.nn.functional.cross_entropy(logits, torch.tensor(targets[b : b + 1])).backward()
        rows.append(xs.grad[0].norm(dim=-1).numpy())
    return np.stack(rows)


def polar_by_eigh(G):
    """(G G^T)^(-1/2) G, the orthogonal factor of G's polar decomposition, via eigh."""
    lam, Q = np.linalg.eigh(G @ G.T)
    return Q @ np.diag(lam**-0.5) @ Q.T @ G


def polar_by_newton(G):
    """Newton's iteration X <- (X + X^-T) / 2, which converges to the same orthogonal factor."""
    X = G.copy()
    for _ in range(100):
        X = 0.5 * (X + np.linalg.inv(X).T)
    return X


def stretches_just_off_one(G):
    """G's singular vectors, stretches spread in [0.999, 1.001] and some flipped in sign."""
    U, S, Vh = np.linalg.svd(G)
    s = np.linspace(0.999, 1.001, len(S)) * np.where(np.arange(len(S)) % 3 == 1, -1.0, 1.0)
    return (U * s) @ Vh


HONEST = [
    (checks.check_hidden_jacobians, jacobians_by_loop),
    (checks.check_spectral_radius_and_norms, spectral_by_svd),
    (  # a NumPy float64 where a float is asked (issue 16)
        checks.check_spectral_radius_and_norms,
        lambda W, T: (np.max(np.abs(np.linalg.eigvals(W))), spectral_by_svd(W, T)[1]),
    ),
    (  # a 0-d float64 array where a float is asked
        checks.check_spectral_radius_and_norms,
        lambda W, T: (np.abs(np.linalg.eigvals(W)).max(keepdims=True)[0], spectral_by_svd(W, T)[1]),
    ),
    (checks.check_clip_grad_norm, clip_flat),
    (checks.check_clipped_sgd_step, sgd_with_modules),
    (checks.check_gradient_signal, signal_by_hand),
    (checks.check_gradient_signal, signal_one_sequence_at_a_time),
    (checks.check_norm_preserving_w_hh, polar_by_eigh),
    (checks.check_norm_preserving_w_hh, polar_by_newton),
    (checks.check_norm_preserving_w_hh, stretches_just_off_one),
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


def _one_stretch_off(G, last=0.99):
    """Review: every stretch 1 but the last, 0.99; a large H mixes it away, H = 1 does not."""
    U, S, Vh = np.linalg.svd(G)
    d = np.ones(len(S))
    d[-1] = last
    return (U * d) @ Vh


MUTANTS = [
    (  # review: passed every visible case and failed the hidden H = 1 until H = 1 was visible
        checks.check_norm_preserving_w_hh,
        "one stretch of 0.99 among ones",
        _one_stretch_off,
        "every stretch (singular value) is 0.99: after t steps",
    ),
    (
        checks.check_norm_preserving_w_hh,
        "stretches from 0.995 to 1.005",
        lambda G: (lambda U, S, Vh: (U * np.linspace(0.995, 1.005, len(S))) @ Vh)(
            *np.linalg.svd(G)
        ),
        "It breaks at step t = 139",
    ),
    (  # alternating stretches: safe for some G, not for every G; a visible case shows it
        checks.check_norm_preserving_w_hh,
        "alternating stretches",
        lambda G: (lambda U, S, Vh: (U * np.where(np.arange(len(S)) % 2, 1.01, 0.99)) @ Vh)(
            *np.linalg.svd(G)
        ),
        "the stretches are spread around 1",
    ),
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
        no_square_root,
        "exactly what you get when the norm is computed without the square root",
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


# ---------------------------------------------------------------- the learning signal (part 3)


def _signal_with(
    x, targets, W_ih, W_hh, b_ih, b_hh, W_hy, b_y, *, reduction="sum", of="x", last=None
):
    """Autograd on a written-out loop; ``of="h"`` measures dL/dh_k with retain_grad; the loop
    stops before step ``last`` if given."""
    xs = torch.tensor(x, requires_grad=True)
    h, hs = torch.zeros(x.shape[0], W_hh.shape[0], dtype=torch.float64), []
    for t in range(x.shape[1] if last is None else last):
        h = torch.tanh(
            xs[:, t] @ torch.tensor(W_ih).T + torch.tensor(b_ih + b_hh) + h @ torch.tensor(W_hh).T
        )
        h.retain_grad()
        hs.append(h)
    logits = h @ torch.tensor(W_hy).T + torch.tensor(b_y)
    F = torch.nn.functional
    F.cross_entropy(logits, torch.tensor(targets), reduction=reduction).backward()
    if of == "h":
        return torch.stack([h_k.grad for h_k in hs], 1).norm(dim=-1).numpy()
    return xs.grad.norm(dim=-1).numpy()


def _signal_backwards_loop(x, targets, W_ih, W_hh, b_ih, b_hh, W_hy, b_y):
    """NumPy BPTT that appends the norms as it walks back, and forgets to reverse them."""
    full = signal_by_hand(x, targets, W_ih, W_hh, b_ih, b_hh, W_hy, b_y)
    return np.stack([full[:, t] for t in range(x.shape[1] - 1, -1, -1)], axis=1)


def _signal_without_w_ih(x, targets, W_ih, W_hh, b_ih, b_hh, W_hy, b_y):
    """Hand BPTT that stops one factor short: the norm of delta_k = dL/da_k."""
    identity_in = np.eye(W_hh.shape[0])
    u = x @ W_ih.T  # feed the input drives as inputs through an identity W_ih
    return signal_by_hand(u, targets, identity_in, W_hh, b_ih, b_hh, W_hy, b_y)


SIGNAL_MUTANTS = [
    ("F.cross_entropy's default mean", lambda **a: _signal_with(**a, reduction="mean"), "averaged"),
    ("dL/dh_k by retain_grad", lambda **a: _signal_with(**a, of="h"), "dL/dh_k"),
    ("norms collected backwards", _signal_backwards_loop, "time axis is reversed"),
    ("W_ih^T forgotten", _signal_without_w_ih, "input drive u_k"),
    # student walk-through: these three got only the list of common causes
    (
        "b_ih in both bias slots",
        lambda b_hh, **a: _signal_with(**a, b_hh=a["b_ih"]),
        "b_ih is added twice and b_hh never",
    ),
    (
        "b_hh left out",
        lambda b_hh, **a: _signal_with(**a, b_hh=0.0 * b_hh),
        "b_hh is left out",
    ),
    (
        "W_hh transposed",
        lambda W_hh, **a: _signal_with(**a, W_hh=W_hh.T.copy()),
        "W_hh is transposed (h @ W_hh; correct: h @ W_hh.T",
    ),
    (
        "range(T - 1)",
        lambda **a: _signal_with(**a, last=a["x"].shape[1] - 1),
        "the loop stops one step early, off by one: the last input x_{T-1} is never read",
    ),
]


@pytest.mark.parametrize("name,fn,hint", SIGNAL_MUTANTS, ids=[m[0] for m in SIGNAL_MUTANTS])
def test_gradient_signal_mistakes_written_as_code_are_named(name, fn, hint):
    assert_rejected(checks.check_gradient_signal, fn, hint, name)


# ---------------------------------------------------------------- the design part (part 6)


def _like_nn_init_orthogonal(G):
    q, r = np.linalg.qr(G)
    return q * np.sign(np.diag(r))


def _newton_stopped_early(G):
    X = G.copy()
    for _ in range(3):
        X = 0.5 * (X + np.linalg.inv(X).T)
    return X


DESIGN_MUTANTS = [
    ("nn.init.orthogonal_ in NumPy", _like_nn_init_orthogonal, "QR decomposition"),
    ("radius one", lambda G: G / max(abs(np.linalg.eigvals(G))), "spectral radius"),
    ("Vh transposed", lambda G: np.linalg.svd(G)[0] @ np.linalg.svd(G)[2].T, "transposed again"),
    ("a gain of 0.99", lambda G: 0.99 * polar_by_eigh(G), "at step t = 69"),
    ("the identity", lambda G: np.eye(len(G)), "is the identity"),
    ("Newton stopped after 3 steps", _newton_stopped_early, "It breaks at step t = 1:"),
]


@pytest.mark.parametrize("name,fn,hint", DESIGN_MUTANTS, ids=[m[0] for m in DESIGN_MUTANTS])
def test_design_mistakes_written_as_code_are_named_with_the_step_that_breaks(name, fn, hint):
    assert_rejected(checks.check_norm_preserving_w_hh, fn, hint, name)


def test_a_design_answer_is_judged_by_what_it_does_not_by_equality():
    """Two answers far apart (an orthogonal matrix and one with stretches off 1 and flipped
    signs) both pass: the property is checked, not the reference's matrix."""
    G = checks.NORM_PRESERVING_W_HH.build(checks.NORM_PRESERVING_W_HH.visible[0])[0]["G"]
    assert np.abs(polar_by_eigh(G) - stretches_just_off_one(G)).max() > 0.5
    for fn in (polar_by_eigh, stretches_just_off_one):
        checks.check_norm_preserving_w_hh(fn)


def spread_stretches(G):
    """Student walk-through: stretches spread over [0.99, 1.01], each alone outside the band
    for 200 steps (0.99^200 = 0.13), yet W_hh^t stays in it: V^T U mixes the directions, so
    the powers of W_hh are not U diag(s^t) V^T."""
    U, S, Vh = np.linalg.svd(G)
    return U @ np.diag(np.linspace(0.99, 1.01, len(S)) if len(S) > 1 else [1.0]) @ Vh


def test_stretches_that_differ_may_pass_where_equal_ones_could_not(capfd):
    """The band on equal stretches is sufficient, not necessary: the message says so
    ("if every stretch is the same"), and an answer with spread stretches passes."""
    assert_passes(checks.check_norm_preserving_w_hh, spread_stretches, capfd)
    message = assert_rejected(
        checks.check_norm_preserving_w_hh,
        lambda G: 0.99 * polar_by_eigh(G),
        "if every stretch is the same, it must lie within [0.99654, 1.00347]",
    )
    assert "every stretch must lie" not in message


def test_a_stretch_just_outside_the_band_is_refused_at_the_step_it_leaves():
    """1.004^t passes 2 at t = 174: the message names that step and the exploding direction."""
    message = assert_rejected(
        checks.check_norm_preserving_w_hh, lambda G: 1.004 * polar_by_eigh(G), "t = 174"
    )
    assert "exploding" in message and "every stretch (singular value) is 1.004" in message
