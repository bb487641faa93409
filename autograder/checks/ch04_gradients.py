"""Chapter 4's graded parts (vanishing and exploding gradients), declared once.

References: ``torch.autograd.functional.jacobian``, ``torch.linalg`` and
``torch.nn.utils.clip_grad_norm_`` (:mod:`autograder.references.ch04_gradients`).
Parts 1-3 are built with NumPy; part 4 is about PyTorch itself (a training
step with clipping) and may use it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..device import REFERENCE_DTYPE
from ..parts import NUMPY_TORCH, Case, Output, Part
from ..references import ch04_gradients as ref

__all__ = [
    "PARTS",
    "check_hidden_jacobians",
    "check_spectral_radius_and_norms",
    "check_clip_grad_norm",
    "check_clipped_sgd_step",
]


# ---------------------------------------------------------------- part 1: Jacobians through time


def _jacobian_inputs(seed, seq_len=None, hidden_size=None, gain=None):
    rng = np.random.default_rng(seed)
    T = seq_len or int(rng.integers(3, 8))
    H = hidden_size or int(rng.integers(2, 6))
    D = int(rng.integers(1, 4))
    gain = gain if gain is not None else float(rng.uniform(0.8, 1.6))
    W_hh = rng.normal(0.0, gain / np.sqrt(H), (H, H))
    W_ih = rng.normal(0.0, 1.0 / np.sqrt(D), (H, D))
    b = rng.normal(0.0, 0.3, H)
    h0 = rng.normal(0.0, 0.5, H)
    x = rng.normal(0.0, 1.0, (T, D))
    hs = ref.elman_states(x, h0, W_ih, W_hh, b)
    return {"hs": hs, "h0": h0, "W_hh": W_hh}


def _jacobians_numpy(
    hs, h0, W_hh, *, order="latest_left", derivative="h_t", transposed=False, shift=0
):
    T, H = hs.shape
    W = W_hh.T if transposed else W_hh
    states = np.concatenate([h0[None], hs])  # states[j] = h_j
    out = []
    for k in range(T):
        start = min(k + shift, T)
        J = np.eye(H)
        factors = []
        for j in range(start + 1, T + 1):  # factors for h_j, j = k+1..T
            s = {"h_t": states[j], "h_prev": states[j - 1], None: None}[derivative]
            D = np.diag(1.0 - s**2) if s is not None else np.eye(H)
            factors.append(D @ W)
        for f in factors if order == "latest_left" else factors[::-1]:
            J = f @ J
        out.append(J)
    return np.stack(out)


def _jacobian_mistakes(a):
    run = lambda **s: _jacobians_numpy(a["hs"], a["h0"], a["W_hh"], **s)  # noqa: E731
    return {
        "the product is multiplied in the wrong order (the factor of h_T must stand on the "
        "left: J_k = D_T W ... D_{k+1} W)": lambda: run(order="earliest_left"),
        "the tanh derivative is missing (W_hh^(T-k) instead of a product of diag(1 - h_j^2) W_hh)": lambda: (
            run(derivative=None)
        ),
        "the tanh derivative is taken at the wrong state (1 - h_{j-1}^2 instead of 1 - h_j^2)": lambda: (
            run(derivative="h_prev")
        ),
        "W_hh is transposed in the factors": lambda: run(transposed=True),
        "the Jacobians are off by one (J[k] should be dh_T/dh_k, k = 0..T-1, with k = 0 the "
        "initial state)": lambda: run(shift=1),
    }


HIDDEN_JACOBIANS = Part(
    grade_id="hidden_jacobians",
    points=3,
    signature=("hs", "h0", "W_hh"),
    inputs=_jacobian_inputs,
    reference=ref.hidden_jacobians,
    reference_name="torch.autograd.functional.jacobian of the recurrence",
    outputs=(
        Output("J", "Jacobians dh_T/dh_k", axes=("k", "row (unit of h_T)", "column (unit of h_k)")),
    ),
    visible=(Case(0), Case(1, seq_len=6, hidden_size=4)),
    hidden=(
        Case(901),
        Case(902),
        Case(903, seq_len=1),
        Case(904, hidden_size=1),
        Case(905, seq_len=12, gain=2.0),
    ),
    forbidden=("torch.autograd.functional.jacobian",),
    mistakes=_jacobian_mistakes,
    hint="hs is (T, H) and holds h_1..h_T of one sequence, h0 is (H,); return J of shape "
    "(T, H, H) with J[k] = dh_T/dh_k for k = 0..T-1.",
    sizes=lambda a: {"T": a["hs"].shape[0], "H": a["hs"].shape[1]},
)


# ---------------------------------------------------------------- part 2: spectral radius, norms


def _spectral_inputs(seed, size=None, T=None, radius=None, symmetric=False):
    rng = np.random.default_rng(seed)
    n = size or int(rng.integers(2, 6))
    W = rng.normal(0.0, 1.0, (n, n))
    if symmetric:  # a normal matrix: radius and largest singular value agree
        W = (W + W.T) / 2
    else:  # lean non-normal: radius and largest singular value differ
        W = np.triu(W, 1) * 1.5 + W
    if radius is not None:
        W = W * radius / np.abs(np.linalg.eigvals(W)).max()
    return {"W": W, "T": int(T or rng.integers(3, 9))}


def _spectral_mistakes(a):
    W, T = a["W"], a["T"]
    powers = [np.linalg.matrix_power(W, d) for d in range(0, T + 1)]
    spec = lambda M: float(np.linalg.norm(M, 2))  # noqa: E731
    rho = float(np.abs(np.linalg.eigvals(W)).max())
    norms = np.array([spec(powers[d]) for d in range(1, T + 1)])
    return {
        "the largest singular value is used as the spectral radius (they differ when W is "
        "not symmetric; the radius is the largest |eigenvalue|)": lambda: (spec(W), norms),
        "the largest real part of an eigenvalue is used instead of the largest modulus": lambda: (
            float(np.linalg.eigvals(W).real.max()),
            norms,
        ),
        "the Frobenius norm is used instead of the spectral norm (ord=2, the largest singular "
        "value)": lambda: (rho, np.array([np.linalg.norm(powers[d]) for d in range(1, T + 1)])),
        "the norms start at W^0 = I instead of W^1 (off by one)": lambda: (
            rho,
            np.array([spec(powers[d]) for d in range(0, T)]),
        ),
        "the bound sigma_max(W)^d is returned instead of the norm of W^d": lambda: (
            rho,
            spec(W) ** np.arange(1, T + 1, dtype=np.float64),
        ),
    }


SPECTRAL_RADIUS_AND_NORMS = Part(
    grade_id="spectral_radius_and_norms",
    points=2,
    signature=("W", "T"),
    inputs=_spectral_inputs,
    reference=ref.spectral_radius_and_norms,
    reference_name="torch.linalg (eigvals, matrix_power, matrix_norm(ord=2))",
    outputs=(
        Output("rho", "spectral radius", kind="float"),
        Output("norms", "norms ||W^d||_2", axes=("distance d - 1",)),
    ),
    visible=(Case(0), Case(1, radius=0.9, T=12)),
    hidden=(
        Case(1001),
        Case(1002, radius=1.2),
        Case(1003, size=1),
        Case(1004, T=1),
        Case(1005, symmetric=True, radius=1.0),
        Case(1006, size=6, T=30, radius=0.7),
    ),
    mistakes=_spectral_mistakes,
    hint="return (rho, norms): rho a Python float, norms a float64 array of shape (T,) with "
    "norms[d - 1] = the spectral norm of W to the power d.",
    sizes=lambda a: {"n": a["W"].shape[0], "T": a["T"]},
)


# ---------------------------------------------------------------- part 3: clipping by global norm


def _clip_inputs(seed, ratio=None, max_norm=None, special=None, size=None):
    rng = np.random.default_rng(seed)
    H = size or int(rng.integers(2, 6))
    D = int(rng.integers(2, 5))
    grads = [rng.normal(0.0, 1.0, s) for s in ((H, D), (H, H), (H,))]
    max_norm = float(max_norm if max_norm is not None else rng.uniform(0.5, 5.0))
    ratio = float(ratio if ratio is not None else rng.uniform(1.5, 10.0))
    total = np.sqrt(sum((g**2).sum() for g in grads))
    grads = [g * ratio * max_norm / total for g in grads]
    if special == "zero":
        grads = [np.zeros_like(g) for g in grads]
    elif special in ("inf", "nan"):
        grads[1][0, -1] = np.inf if special == "inf" else np.nan
    return {"grads": tuple(grads), "max_norm": max_norm}


def _clip_numpy(grads, max_norm, **switches):
    with np.errstate(invalid="ignore", over="ignore"):
        return _clip(grads, max_norm, **switches)


def _clip(
    grads,
    max_norm,
    *,
    per_tensor=False,
    by_value=False,
    sqrt=True,
    always=False,
    eps=1e-6,
    nan_skipped=False,
):
    if by_value:
        return tuple(np.clip(g, -max_norm, max_norm) for g in grads), float(
            np.sqrt(sum((g**2).sum() for g in grads))
        )
    sq = [float((g**2).sum()) for g in grads]
    total = float(np.sqrt(sum(sq))) if sqrt else float(sum(sq))
    if per_tensor:
        out = tuple(g * min(max_norm / (np.sqrt(s) + eps), 1.0) for g, s in zip(grads, sq))
        return out, total
    coef = max_norm / (total + eps)
    if nan_skipped:  # min(1.0, nan) is 1.0, and `if total > max_norm:` is False for nan
        coef = min(1.0, coef)
    else:
        coef = coef if always else min(coef, 1.0)
    return tuple(g * coef for g in grads), total


def _total(grads):
    with np.errstate(invalid="ignore", over="ignore"):
        return float(np.sqrt(sum(float((g**2).sum()) for g in grads)))


def _clip_mistakes(a):
    g, m = a["grads"], a["max_norm"]
    return {
        "a nan total norm leaves the gradients unscaled (Python's min(1.0, nan) is 1.0 and "
        "`if total > max_norm:` is False for nan; PyTorch scales by nan, so everything becomes "
        "nan)": lambda: _clip_numpy(g, m, nan_skipped=True) if np.isnan(_total(g)) else None,
        "each gradient is clipped by its own norm instead of by the global norm of all of them": lambda: (
            _clip_numpy(g, m, per_tensor=True)
        ),
        "the gradients are clipped by value (np.clip) instead of by norm": lambda: _clip_numpy(
            g, m, by_value=True
        ),
        "the norm is computed without the square root (a sum of squares)": lambda: _clip_numpy(
            g, m, sqrt=False
        ),
        "gradients whose norm is already below max_norm are scaled up (the coefficient must be "
        "capped at 1)": lambda: _clip_numpy(g, m, always=True),
        "the 1e-6 in max_norm / (total_norm + 1e-6) is left out": lambda: (
            _clip_numpy(g, m, eps=0.0) if _total(g) != 0 else None  # 0/0: nothing to tell apart
        ),
    }


CLIP_GRAD_NORM = Part(
    grade_id="clip_grad_norm",
    points=3,
    signature=("grads", "max_norm"),
    inputs=_clip_inputs,
    reference=ref.clip_grad_norm,
    reference_name="torch.nn.utils.clip_grad_norm_",
    outputs=(
        Output("clipped", "clipped gradients", kind="arrays", axes=(), nonfinite=True),
        Output("total_norm", "total norm", kind="float", nonfinite=True),
    ),
    # Visible: above the threshold, below it, a tiny norm where the 1e-6 matters, and an
    # infinite gradient (what PyTorch does with it is part of the specification).
    visible=(
        Case(0),
        Case(1, ratio=0.5),
        Case(2, max_norm=1e-3, ratio=1.2),
        Case(3, special="inf"),
        Case(4, special="nan"),
    ),
    hidden=(
        Case(1101),
        Case(1102, ratio=0.99),
        Case(1103, special="zero"),
        Case(1104, special="nan"),
        Case(1105, size=1),
        Case(1106, max_norm=2e-3, ratio=3.0),
    ),
    forbidden=("torch.nn.utils.clip_grad_norm_",),
    mistakes=_clip_mistakes,
    hint="grads is a tuple of arrays; return (clipped, total_norm): a tuple of arrays of the "
    "same shapes, and the global norm before clipping as a Python float.",
    sizes=lambda a: {"shapes": [g.shape for g in a["grads"]], "max_norm": round(a["max_norm"], 4)},
)


# ---------------------------------------------------------------- part 4: a clipped SGD step

STEP_ARGS = ("x", "targets", "W_ih", "W_hh", "b_ih", "b_hh", "W_hy", "b_y", "lr", "max_norm")


def _step_inputs(seed, batch=None, seq_len=None, max_norm=None, scale=2.0):
    rng = np.random.default_rng(seed)
    B = batch or int(rng.integers(2, 6))
    T = seq_len or int(rng.integers(3, 8))
    D, H, C = int(rng.integers(2, 5)), int(rng.integers(3, 7)), int(rng.integers(2, 4))
    return {
        "x": rng.normal(0.0, 1.0, (B, T, D)),
        "targets": rng.integers(0, C, size=B).astype(np.int64),
        "W_ih": rng.normal(0.0, scale / np.sqrt(D), (H, D)),
        "W_hh": rng.normal(0.0, scale / np.sqrt(H), (H, H)),
        "b_ih": rng.normal(0.0, 0.5, H),
        "b_hh": rng.normal(0.0, 0.5, H),
        "W_hy": rng.normal(0.0, scale / np.sqrt(H), (C, H)),
        "b_y": rng.normal(0.0, 0.5, C),
        "lr": float(rng.uniform(0.05, 0.5)),
        "max_norm": float(max_norm if max_norm is not None else rng.uniform(0.05, 0.3)),
    }


def _torch_step(a, *, clip="global", sign=1.0):
    params = [
        torch.tensor(a[k], dtype=REFERENCE_DTYPE, requires_grad=True)
        for k in ("W_ih", "W_hh", "b_ih", "b_hh", "W_hy", "b_y")
    ]
    W_ih, W_hh, b_ih, b_hh, W_hy, b_y = params
    x = torch.tensor(a["x"], dtype=REFERENCE_DTYPE)
    h = torch.zeros(x.shape[0], W_hh.shape[0], dtype=REFERENCE_DTYPE)
    for t in range(x.shape[1]):
        h = torch.tanh(x[:, t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
    loss = F.cross_entropy(h @ W_hy.T + b_y, torch.tensor(a["targets"]))
    loss.backward()
    if clip == "global":
        torch.nn.utils.clip_grad_norm_(params, a["max_norm"])
    elif clip == "each":
        for p in params:
            torch.nn.utils.clip_grad_norm_([p], a["max_norm"])
    elif clip == "value":
        torch.nn.utils.clip_grad_value_(params, a["max_norm"])
    with torch.no_grad():
        for p in params:
            p -= sign * a["lr"] * p.grad
    return tuple(p.detach().numpy().copy() for p in params) + (float(loss.detach()),)


def _sgd_mistakes(a):
    return {
        "the gradients are not clipped before the update (not at all, or only after the "
        "step, when the parameters have already moved: clip between backward() and the "
        "step)": lambda: _torch_step(a, clip=None),
        "each parameter's gradient is clipped by its own norm (clip all of them together)": lambda: (
            _torch_step(a, clip="each")
        ),
        "the gradients are clipped by value, not by their global norm": lambda: _torch_step(
            a, clip="value"
        ),
        "the step goes up the gradient (p + lr * grad instead of p - lr * grad)": lambda: (
            _torch_step(a, sign=-1.0)
        ),
    }


def _param_output(name, axes):
    return Output(name, f"updated {name}", axes=axes)


CLIPPED_SGD_STEP = Part(
    grade_id="clipped_sgd_step",
    points=3,
    signature=STEP_ARGS,
    inputs=_step_inputs,
    reference=ref.clipped_sgd_step,
    reference_name="nn.RNN + nn.Linear, F.cross_entropy, clip_grad_norm_ and an SGD update",
    outputs=(
        _param_output("W_ih", ("hidden unit", "input unit")),
        _param_output("W_hh", ("hidden unit", "hidden unit")),
        _param_output("b_ih", ("hidden unit",)),
        _param_output("b_hh", ("hidden unit",)),
        _param_output("W_hy", ("class", "hidden unit")),
        _param_output("b_y", ("class",)),
        Output("loss", "loss before the step", kind="float"),
    ),
    # Both visible cases clip (the global norm is well above max_norm), so no clipping,
    # clipping each tensor and clipping by value all differ from the right step there.
    visible=(Case(0, max_norm=0.05), Case(1, max_norm=0.02)),
    hidden=(
        Case(1201),
        Case(1202),
        Case(1203, batch=1),
        Case(1204, seq_len=1),
        Case(1205, max_norm=100.0),
    ),
    allowed=NUMPY_TORCH,
    mistakes=_sgd_mistakes,
    hint="return the six updated parameters as float64 NumPy arrays, in the order "
    "(W_ih, W_hh, b_ih, b_hh, W_hy, b_y), then the loss before the step as a float.",
    sizes=lambda a: {
        "B": a["x"].shape[0],
        "T": a["x"].shape[1],
        "max_norm": round(a["max_norm"], 4),
    },
)

PARTS = (HIDDEN_JACOBIANS, SPECTRAL_RADIUS_AND_NORMS, CLIP_GRAD_NORM, CLIPPED_SGD_STEP)

check_hidden_jacobians = HIDDEN_JACOBIANS.make_check()
check_spectral_radius_and_norms = SPECTRAL_RADIUS_AND_NORMS.make_check()
check_clip_grad_norm = CLIP_GRAD_NORM.make_check()
check_clipped_sgd_step = CLIPPED_SGD_STEP.make_check()
