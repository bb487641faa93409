"""Chapter 4's graded parts (vanishing and exploding gradients), declared once.

References: ``torch.autograd.functional.jacobian``, ``torch.linalg``, autograd through
``nn.RNN`` and ``torch.nn.utils.clip_grad_norm_``
(:mod:`autograder.references.ch04_gradients`). Parts 1, 2 and 4 are built with NumPy; parts
3 (the learning signal, measured with autograd) and 5 (a training step with clipping) are
about PyTorch itself and may use it. Part 6 is a design part: the student's W_hh is judged by
a property (:func:`_design_property`), run through the linear recurrence for 200 steps.
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
    "check_gradient_signal",
    "check_clip_grad_norm",
    "check_clipped_sgd_step",
    "check_norm_preserving_w_hh",
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
    hs = ref.elman_states(x, h0, W_ih, W_hh, b, device=torch.device("cpu"))  # inputs: CPU
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


# ---------------------------------------------------------------- part 3: the learning signal

SIGNAL_ARGS = ("x", "targets", "W_ih", "W_hh", "b_ih", "b_hh", "W_hy", "b_y")


def _signal_inputs(seed, batch=None, seq_len=None, gain=None):
    rng = np.random.default_rng(seed)
    B = batch or int(rng.integers(2, 5))
    T = seq_len or int(rng.integers(5, 10))
    D, C = (int(n) for n in rng.choice([2, 3, 4], size=2, replace=False))
    H = int(rng.integers(5, 9))
    gain = gain if gain is not None else float(rng.uniform(0.9, 1.5))
    return {
        "x": rng.normal(0.0, 1.0, (B, T, D)),
        "targets": rng.integers(0, C, size=B).astype(np.int64),
        "W_ih": rng.normal(0.0, 1.0 / np.sqrt(D), (H, D)),
        "W_hh": rng.normal(0.0, gain / np.sqrt(H), (H, H)),
        "b_ih": rng.normal(0.0, 0.2, H),
        "b_hh": rng.normal(0.0, 0.2, H),
        "W_hy": rng.normal(0.0, 2.0 / np.sqrt(H), (C, H)),
        "b_y": rng.normal(0.0, 0.2, C),
    }


def _signal_torch(
    a,
    *,
    wrt="x",
    objective="loss",
    reduction="sum",
    square=False,
    biases=("b_ih", "b_hh"),
    transposed=False,
    steps=None,
):
    """What a mistake measures, by autograd on a loop written out (so that dL/dh_k exists).
    ``biases``: the two biases added (("b_ih", "b_ih"): b_ih twice); ``transposed``: h @ W_hh
    instead of h @ W_hh.T; ``steps``: how many inputs the loop reads (T - 1: the last dropped,
    its gradient 0)."""
    W_ih, W_hh, W_hy, b_y = (
        torch.tensor(a[k], dtype=REFERENCE_DTYPE) for k in ("W_ih", "W_hh", "W_hy", "b_y")
    )
    x = torch.tensor(a["x"], dtype=REFERENCE_DTYPE, requires_grad=True)
    y = torch.tensor(a["targets"])
    bias = sum(torch.tensor(a[name], dtype=REFERENCE_DTYPE) for name in biases)
    u = x @ W_ih.T + bias  # the input drives u_k
    if wrt == "u":
        u = u.detach().requires_grad_(True)
    recurrent = W_hh if transposed else W_hh.T
    h, hs = torch.zeros(x.shape[0], W_hh.shape[0], dtype=REFERENCE_DTYPE), []
    for k in range(x.shape[1] if steps is None else steps):
        h = torch.tanh(u[:, k] + h @ recurrent)
        hs.append(h)
    z = h @ W_hy.T + b_y
    if objective == "loss":
        loss = F.cross_entropy(z, y, reduction=reduction)
    elif objective == "logits":
        loss = z.sum()
    elif objective == "nll":
        loss = F.nll_loss(z, y, reduction="sum")
    else:  # every step
        loss = sum(F.cross_entropy(h_k @ W_hy.T + b_y, y, reduction="sum") for h_k in hs)
    if wrt == "h":
        grad = torch.stack(torch.autograd.grad(loss, hs), dim=1)
    else:
        (grad,) = torch.autograd.grad(loss, x if wrt == "x" else u)
    squares = grad.pow(2).sum(-1)
    return (squares if square else squares.sqrt()).numpy().copy()


def _signal_mistakes(a):
    run = lambda **s: _signal_torch(a, **s)  # noqa: E731
    T = a["x"].shape[1]
    return {
        "the norm of dL/dh_k (the hidden state) is returned instead of dL/dx_k (the input)": lambda: (
            run(wrt="h")
        ),
        "the gradient is taken with respect to the input drive u_k = W_ih x_k + b_ih + b_hh "
        "instead of x_k (the last factor of the chain rule, W_ih^T, is missing)": lambda: run(
            wrt="u"
        ),
        "the norms are squared (a sum of squares without the square root)": lambda: run(
            square=True
        ),
        "the gradient of the summed logits is taken instead of the gradient of the loss": lambda: (
            run(objective="logits")
        ),
        "F.nll_loss is applied to the logits (it expects log-probabilities: the log-softmax "
        "is missing)": lambda: run(objective="nll"),
        "the loss is averaged over the batch (F.cross_entropy's default reduction='mean'; "
        "this part sums it, so that each sequence's gradient is its own)": lambda: run(
            reduction="mean"
        ),
        "the loss is taken on every step's logits (many-to-many) instead of on the last "
        "state's only": lambda: run(objective="every step"),
        "the time axis is reversed (k counted from the end; signal[:, 0] belongs to the "
        "first input)": lambda: run()[:, ::-1].copy(),
        "b_ih is added twice and b_hh never (correct: b_ih + b_hh, both, once each)": lambda: run(
            biases=("b_ih", "b_ih")
        ),
        "b_hh is added twice and b_ih never (correct: b_ih + b_hh, both, once each)": lambda: run(
            biases=("b_hh", "b_hh")
        ),
        "b_hh is left out (correct: b_ih + b_hh, both)": lambda: run(biases=("b_ih",)),
        "W_hh is transposed (h @ W_hh; correct: h @ W_hh.T, as nn.RNN computes W_hh h)": lambda: (
            run(transposed=True)
        ),
        "the loop stops one step early, off by one: the last input x_{T-1} is never read, so "
        "its gradient is 0 and h_{T-1} stands in for h_T (correct: all T inputs, k = "
        "0..T-1)": lambda: run(steps=T - 1) if T > 1 else None,
    }


GRADIENT_SIGNAL = Part(
    grade_id="gradient_signal",
    points=3,
    signature=SIGNAL_ARGS,
    inputs=_signal_inputs,
    reference=ref.gradient_signal,
    reference_name="autograd through nn.RNN + nn.Linear and F.cross_entropy(reduction='sum')",
    outputs=(
        Output(
            "signal",
            "gradient norms ||dL/dx_k||",
            axes=("batch row", "time step"),
            time_axis=1,
            backward=True,
        ),
    ),
    visible=(Case(0), Case(1, batch=3, seq_len=12)),
    hidden=(
        Case(1301),
        Case(1302, batch=1),
        Case(1303, seq_len=1),
        Case(1304, seq_len=40, gain=0.8),
        Case(1305, seq_len=25, gain=2.5),
        Case(1306, batch=6),
    ),
    allowed=NUMPY_TORCH,
    mistakes=_signal_mistakes,
    hint="x is (B, T, D) and targets (B,); return a float64 NumPy array of shape (B, T) "
    "with signal[b, k] = the Euclidean norm of dL/dx[b, k] over the D input features.",
    sizes=lambda a: dict(zip("BTDHC", (*a["x"].shape, a["W_hh"].shape[0], a["W_hy"].shape[0]))),
)


# ---------------------------------------------------------------- part 4: clipping by global norm


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


# ---------------------------------------------------------------- part 5: a clipped SGD step

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


def _sgd_mistakes(a):
    step = lambda clip: ref.clipped_sgd_step(**a, clip=clip)  # noqa: E731
    names = ("W_ih", "W_hh", "b_ih", "b_hh", "W_hy", "b_y")

    def uphill():  # p + lr * g = 2 p - (p - lr * g)
        *down, loss = step("global")
        return tuple(2.0 * a[n] - p for n, p in zip(names, down)) + (loss,)

    return {
        "the gradients are not clipped before the update (not at all, or only after the "
        "step, when the parameters have already moved: clip between backward() and the "
        "step)": lambda: step(None),
        "each parameter's gradient is clipped by its own norm (clip all of them together)": lambda: (
            step("each")
        ),
        "the gradients are clipped by value, not by their global norm": lambda: step("value"),
        "the step goes up the gradient (p + lr * grad; correct: p - lr * grad)": uphill,
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

# ---------------------------------------------------------------- part 6: design an initialisation

STEPS = 200  # the steps of the linear recurrence the property is checked on
BAND = (0.5, 2.0)  # every singular value of dh_t/dh_0 must stay in here, t = 1..STEPS
# Equal stretches s keep W^t in BAND for STEPS steps exactly when s lies in here.
SAFE_STRETCH = (BAND[0] ** (1 / STEPS), BAND[1] ** (1 / STEPS))


def _design_inputs(seed, size=None):
    """G as nn.RNN draws weight_hh_l0: uniform in (-1/sqrt(H), 1/sqrt(H))."""
    rng = np.random.default_rng(seed)
    H = size or int(rng.integers(8, 33))
    bound = 1.0 / np.sqrt(H)
    return {"G": rng.uniform(-bound, bound, (H, H))}


G_ITSELF = "W_hh is G itself (PyTorch's draw, unchanged)"
BY_RADIUS = "G is divided by its spectral radius"
BY_SIGMA = "G is divided by its largest singular value"
ROOT_H = "every stretch (singular value) is 1/sqrt(H), the scale of PyTorch's draw, not about 1"
GAIN = "every stretch (singular value) is 0.99"
IDENTITY = "W_hh is the identity"
QR = "W_hh is the Q of G's QR decomposition (what nn.init.orthogonal_ does)"
U_ALONE = "W_hh is U alone, G's left singular vectors (G = U S V^T)"
VH_TWICE = (
    "np.linalg.svd's third output Vh (V already transposed) is transposed again "
    "(U @ Vh.T; correct: U @ Vh)"
)
TRANSPOSED = (
    "W_hh is the transpose of a right answer (it reads along G's output directions and "
    "writes along its input directions)"
)
SPREAD = (
    "the stretches are spread around 1 (some below 2^(-1/200), some above 2^(1/200)), and a "
    "stretch other than 1 compounds over 200 steps"
)


def _svd(G):
    return np.linalg.svd(G)  # U, S, Vh with G = U diag(S) Vh


def _same(a, b, tol=1e-6):
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= tol * max(1.0, np.abs(b).max())))


def _design_mistakes(a):
    G = a["G"]
    U, S, Vh = _svd(G)
    H = G.shape[0]
    polar = U @ Vh
    return {
        G_ITSELF: lambda: G.copy(),
        BY_RADIUS: lambda: G / np.abs(np.linalg.eigvals(G)).max(),
        BY_SIGMA: lambda: G / S[0],
        ROOT_H: lambda: polar / np.sqrt(H),
        GAIN: lambda: 0.99 * polar,
        IDENTITY: lambda: np.eye(H),
        QR: lambda: np.linalg.qr(G)[0],
        U_ALONE: lambda: U.copy(),
        VH_TWICE: lambda: U @ Vh.T,
        TRANSPOSED: lambda: polar.T.copy(),
        SPREAD: lambda: (U * np.linspace(0.98, 1.02, H)) @ Vh if H > 1 else None,
    }


def _off_diagonal(M) -> tuple[float, tuple[int, int]]:
    """The largest |off-diagonal entry| of M and where it is."""
    off = np.abs(M - np.diag(np.diag(M)))
    at = np.unravel_index(int(np.argmax(off)), off.shape)
    return float(off[at]), (int(at[0]), int(at[1]))


def _band_diagnosis(G, W) -> tuple[str, str] | None:
    """(the declared mistake W is, what it does over the steps) for a W that leaves the band."""
    H = G.shape[0]
    S = np.linalg.svd(G, compute_uv=False)
    stretches = np.linalg.svd(W, compute_uv=False)
    lo, hi = SAFE_STRETCH
    rho_G = float(np.abs(np.linalg.eigvals(G)).max())
    if _same(W, G):
        return G_ITSELF, (
            f"its stretches run from {S[-1]:.3g} to {S[0]:.3g} and its spectral radius is "
            f"{rho_G:.2f}: this is the vanishing chapter 4 measured with PyTorch's default W_hh"
        )
    if _same(W, G / rho_G):
        return BY_RADIUS, (
            "its spectral radius is 1, so its slowest direction keeps its length in the long "
            "run; but G is not normal, its other eigenvalues are smaller, and its stretches "
            f"run from {stretches[-1]:.3g} to {stretches[0]:.3g}: other directions shrink step "
            "after step. A radius of 1 is not enough"
        )
    if _same(W, G / S[0]):
        return BY_SIGMA, (
            f"no direction grows, but its other stretches (down to {stretches[-1]:.3g}) are "
            "below 1, and they compound"
        )
    if stretches[0] - stretches[-1] <= 1e-9 * stretches[0]:  # one stretch (H = 1 has no other)
        c = float(stretches[0])
        law = (
            f"after t steps every direction has {c:.4g}^t of its length ({c:.4g}^{STEPS} = "
            f"{c**STEPS:.3g}), and to stay in [{BAND[0]:g}, {BAND[1]:g}] for {STEPS} steps, "
            f"if every stretch is the same, it must lie within [{lo:.5f}, {hi:.5f}]"
        )
        if H > 1 and abs(c * np.sqrt(H) - 1.0) < 1e-6:
            return ROOT_H, law
        return f"every stretch (singular value) is {c:.4g}", law
    if stretches[0] > hi or stretches[-1] < lo:
        return SPREAD, (
            f"its stretches run from {stretches[-1]:.4g} to {stretches[0]:.4g}; a direction "
            f"stretched by s is mixed into the others (through V^T U) and comes back step after "
            f"step, so whether the state leaves [{BAND[0]:g}, {BAND[1]:g}] depends on G. "
            f"Stretches within [{lo:.5f}, {hi:.5f}] are safe for every G"
        )
    return None


def _direction_diagnosis(G, W) -> tuple[str, str] | None:
    """(the declared mistake W is, why it is wrong) for a W that leaves G's singular vectors."""
    H = G.shape[0]
    U, _, Vh = _svd(G)
    other = "it is orthogonal, so no direction vanishes or explodes, but it reads and writes "
    other += "the state along other directions than G"
    if _same(W, np.eye(H)):
        return IDENTITY, "it leaves every direction where it is, and G's directions are lost"
    for got, want, name in (
        (np.abs(np.linalg.qr(G)[0].T @ W), np.eye(H), QR),
        (np.abs(U.T @ W), np.eye(H), U_ALONE),
        (np.abs(U.T @ W), np.abs(Vh.T), VH_TWICE),
    ):
        if _same(got, want):
            return name, other
    if _off_diagonal(U.T @ W.T @ Vh.T)[0] <= 1e-6 * max(1.0, float(np.abs(W).max())):
        return TRANSPOSED, "W_hh^T has G's singular vectors, W_hh does not"
    return None


def _hint(found) -> str:
    if not found:
        return ""
    # SPREAD stands for a family of matrices (any stretches outside the safe interval), so the
    # hint says "like" where the others name one matrix exactly.
    how = "like" if found[0] == SPREAD else "exactly"
    return f"\nHint: your W_hh is {how} what you get when {found[0]}: {found[1]}."


def _design_property(args, values) -> str | None:
    """Over STEPS steps of the linear recurrence every singular value of dh_t/dh_0 = W^t stays
    in BAND, and W keeps G's singular vectors (U^T W V is diagonal)."""
    G, (W,) = args["G"], values
    rows = ref.linear_jacobian_stretches(W, STEPS, BAND)
    t, (s_max, s_min) = len(rows), (float(v) for v in rows[-1])
    if s_min < BAND[0] or s_max > BAND[1]:
        if s_min < BAND[0]:
            what = (
                f"the smallest singular value of dh_{t}/dh_0 = W_hh^{t} is {s_min:.4g}, so one "
                f"direction of h_0 reaches h_{t} with {s_min:.4g} of its length (vanishing)"
            )
        else:
            what = (
                f"the largest singular value of dh_{t}/dh_0 = W_hh^{t} is {s_max:.4g}, so one "
                f"direction of h_0 reaches h_{t} stretched {s_max:.4g} times (exploding)"
            )
        stretches = np.linalg.svd(W, compute_uv=False)
        return (
            f"Run through the linear recurrence h_t = W_hh h_{{t-1}} + u_t, your W_hh must "
            f"keep every direction of h_0 between {BAND[0]:g} and {BAND[1]:g} times its length "
            f"for t = 1..{STEPS}. It breaks at step t = {t}: {what}. One step stretches the "
            f"state by factors (your W_hh's singular values) from {stretches[-1]:.4g} to "
            f"{stretches[0]:.4g}." + _hint(_band_diagnosis(G, W))
        )
    U, _, Vh = _svd(G)
    M = U.T @ W @ Vh.T
    off, (i, j) = _off_diagonal(M)
    if off > 1e-6 * max(1.0, float(np.abs(M).max())):
        return (
            f"Your W_hh keeps every direction of h_0 between {BAND[0]:g} and {BAND[1]:g} times "
            f"its length for {STEPS} steps, but it does not keep G's singular vectors: written "
            f"in them (U^T W_hh V, where G = U S V^T) it should be diagonal, and its entry "
            f"({i}, {j}) is {M[i, j]:.3g}." + _hint(_direction_diagnosis(G, W))
        )
    return None


NORM_PRESERVING_W_HH = Part(
    grade_id="norm_preserving_w_hh",
    points=3,
    signature=("G",),
    inputs=_design_inputs,
    reference=ref.norm_preserving_w_hh,
    reference_name="the linear recurrence run for 200 steps (torch.linalg.svdvals of W_hh^t)",
    outputs=(
        Output(
            "W_hh", "recurrent matrix W_hh", axes=("row (unit of h_t)", "column (unit of h_{t-1})")
        ),
    ),
    # Case 1601 (H = 14) is visible because it is where stretches spread around 1 (0.98 to
    # 1.02, or alternating 0.99 / 1.01) leave the band; the other Gs let them pass. Case 2
    # (H = 1) is visible because there a stretch outside the safe interval (one of 0.99 among
    # many, stretches from 0.995 to 1.005) compounds alone, where a large H mixes it away.
    visible=(Case(0), Case(1, size=12), Case(1601), Case(2, size=1)),
    hidden=(
        Case(1606),
        Case(1602, size=1),
        Case(1603, size=2),
        Case(1604, size=64),
        Case(1605),
    ),
    mistakes=_design_mistakes,
    hint="G is (H, H); return W_hh, a float64 array of shape (H, H).",
    sizes=lambda a: {"H": a["G"].shape[0]},
    property_check=_design_property,
)


PARTS = (
    HIDDEN_JACOBIANS,
    SPECTRAL_RADIUS_AND_NORMS,
    GRADIENT_SIGNAL,
    CLIP_GRAD_NORM,
    CLIPPED_SGD_STEP,
    NORM_PRESERVING_W_HH,
)

check_hidden_jacobians = HIDDEN_JACOBIANS.make_check()
check_spectral_radius_and_norms = SPECTRAL_RADIUS_AND_NORMS.make_check()
check_gradient_signal = GRADIENT_SIGNAL.make_check()
check_clip_grad_norm = CLIP_GRAD_NORM.make_check()
check_clipped_sgd_step = CLIPPED_SGD_STEP.make_check()
check_norm_preserving_w_hh = NORM_PRESERVING_W_HH.make_check()
