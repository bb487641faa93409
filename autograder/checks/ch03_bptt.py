"""Chapter 3's graded parts (backpropagation through time), declared once.

The references are ``torch.autograd`` through ``torch.nn.RNNCell`` /
``torch.nn.RNN`` in float64 (:mod:`autograder.references.ch03_bptt`). The
known mistakes are computed by a small NumPy BPTT below (:func:`_bptt`), with
one switch per mistake, so each hint names exactly what went wrong.

Conventions (stated in the notebook, as in the chapter's "Mind the indices"): maths counts
time from 1, arrays from 0; ``hs[:, t-1]`` holds h_t; ``dhs[:, t-1]`` holds the gradient
arriving at h_t from the output at step t (the upstream part), and the total g_t adds what
flows back from h_{t+1}, so a loss given by ``dhs`` is ``L = sum_t sum(dhs[:, t-1] * h_t)``.
Weight gradients are sums over the batch and over time (no division by the batch size).

Two parts are not about writing BPTT: ``numerical_gradient_W_hh`` (diagnose: a centred
finite-difference checker, compared with the reference's own centred difference at the same
eps) and ``tbptt_gradients`` (PyTorch allowed: the truncated-BPTT loop of a real training
program, with the state carried across chunks and detached at each chunk's start).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..device import REFERENCE_DTYPE
from ..parts import NUMPY_TORCH, Case, Output, Part, recurrent_sizes
from ..references import ch03_bptt as ref
from .ch02_elman import make_case

__all__ = [
    "PARTS",
    "check_rnn_step_backward",
    "check_rnn_backward",
    "check_numerical_gradient_W_hh",
    "check_sequence_loss_grads",
    "check_truncated_bptt_grads",
    "check_tbptt_gradients",
]

# Autograd and the modules that compute these gradients are what the parts ask you to build.
AUTOGRAD = ("torch.autograd.backward", "torch.autograd.grad", "torch.nn.RNN", "torch.nn.RNNCell")
# The course's index convention, for the hints (the chapter's "Mind the indices").
INDEX_HINT = (
    "Maths counts time from 1, arrays from 0: hs[:, t-1] holds h_t, and dhs[:, t-1] holds the "
    "gradient arriving at h_t from the output at step t (the upstream part); the total g_t "
    "adds what flows back from h_{t+1}."
)


def _sizes(args):
    return recurrent_sizes(args, ("k", "eps"))


def _grad_outputs(*names_axes):
    return tuple(Output(name, f"gradient {name}", axes=axes) for name, axes in names_axes)


PARAM_OUTPUTS = _grad_outputs(
    ("dW_ih", ("hidden unit", "input unit")),
    ("dW_hh", ("hidden unit", "hidden unit")),
    ("db_ih", ("hidden unit",)),
    ("db_hh", ("hidden unit",)),
)


# ---------------------------------------------------------------- a NumPy BPTT, for the mistakes


def _forward(x, h0, W_ih, W_hh, b_ih, b_hh):
    return _states(x, h0, W_ih, W_hh, b_ih, b_hh)[0]


def _states(x, h0, W_ih, W_hh, b_ih, b_hh, resets=(), reset_to=None):
    """(hs, entering): hs[:, t] is the state after array step t, entering[:, t] the state that
    went into it. At the steps in ``resets`` the state is replaced by ``reset_to`` first."""
    h, hs, entering = h0, [], []
    for t in range(x.shape[1]):
        if t in resets:
            h = reset_to
        entering.append(h)
        h = np.tanh(x[:, t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
        hs.append(h)
    return np.stack(hs, axis=1), np.stack(entering, axis=1)


def _cuts(T, k, offset=0):
    """The array steps before which the state is detached: offset, offset + k, ... (mod k)."""
    return {t for t in range(T) if (t - offset) % k == 0}


def _bptt(
    dhs,
    x,
    h0,
    W_ih,
    W_hh,
    b_ih,
    b_hh,
    *,
    cuts=(),
    reset=None,
    derivative="h_t",
    transposed=True,
    recurrent=True,
    last_only=False,
    pair_next_input=False,
    whh_state="h_prev",
    per_batch=False,
    dh0="h0",
):
    """BPTT with switches that reproduce the classic mistakes (all off: the right answer).

    ``cuts``: array steps before which the state is detached (truncated BPTT); ``reset``
    ("zero" or "h0"): the state is also *replaced* there, in the forward pass, instead of
    carried. ``dh0``: "delta_1" or "g_1" return that instead of the gradient on h_0.
    Returns (dx, dh0, dW_ih, dW_hh, db_ih, db_hh).
    """
    B, T, _ = x.shape
    reset_to = {"zero": np.zeros_like(h0), "h0": h0}.get(reset)
    hs, entering = _states(
        x, h0, W_ih, W_hh, b_ih, b_hh, resets=set(cuts) if reset else (), reset_to=reset_to
    )
    dW_ih, dW_hh = np.zeros_like(W_ih), np.zeros_like(W_hh)
    db = np.zeros_like(b_ih)
    dx = np.zeros_like(x)
    carry = np.zeros_like(h0)
    first = {}
    for t in reversed(range(T)):
        g = dhs[:, t] + (carry if recurrent else 0.0)
        h_prev = entering[:, t]
        state = {"h_t": hs[:, t], "h_prev": h_prev}.get(derivative)
        da = g * (1.0 - state**2) if state is not None else g
        x_t = x[:, min(t + 1, T - 1)] if pair_next_input else x[:, t]
        if not last_only or t == T - 1:
            dW_ih += da.T @ x_t
            dW_hh += da.T @ (hs[:, t] if whh_state == "h_t" else h_prev)
            db += da.sum(axis=0)
        dx[:, t] = da @ W_ih
        carry = da @ (W_hh if transposed else W_hh.T)
        first = {"delta_1": da, "g_1": g}
        if t in cuts:
            carry = np.zeros_like(carry)  # the state entering this chunk was detached
    if per_batch:  # CMU 11-785's convention, not this course's
        dW_ih, dW_hh, db = dW_ih / B, dW_hh / B, db / B
    return dx, first.get(dh0, carry), dW_ih, dW_hh, db, db.copy()


# ---------------------------------------------------------------- part 1: one step backward

STEP_ARGS = ("dh_t", "x_t", "h_prev", "W_ih", "W_hh", "b_ih", "b_hh")


def _step_inputs(seed, **sizes):
    c = make_case(seed, **{**sizes, "seq_len": 1})
    dh = np.random.default_rng(seed + 7).normal(0.0, 1.0, c.h0.shape)
    return dict(dh_t=dh, x_t=c.x[:, 0], h_prev=c.h0, **c.weights())


def _step_reference(dh_t, x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    return ref.rnn_step_backward(dh_t, x_t, h_prev, W_ih, W_hh, b_ih, b_hh)


def _step_mistakes(a):
    def step(**switches):
        out = _bptt(
            a["dh_t"][:, None],
            a["x_t"][:, None],
            a["h_prev"],
            a["W_ih"],
            a["W_hh"],
            a["b_ih"],
            a["b_hh"],
            **switches,
        )
        dx, dh_prev, *rest = out
        return (dx[:, 0], dh_prev, *rest)

    return {
        "the tanh derivative is left out (da = dh instead of dh * (1 - h_t**2))": lambda: step(
            derivative=None
        ),
        "the tanh derivative is taken at the previous state (1 - h_prev**2 instead of "
        "1 - h_t**2)": lambda: step(derivative="h_prev"),
        "W_hh is not transposed on the way back (dh_prev = da @ W_hh.T; correct: da @ W_hh)": lambda: (
            step(transposed=False)
        ),
        "the weight gradients are averaged over the batch instead of summed (this course sums "
        "over the batch, as CS231n does)": lambda: (
            step(per_batch=True) if a["x_t"].shape[0] > 1 else None
        ),
    }


RNN_STEP_BACKWARD = Part(
    grade_id="rnn_step_backward",
    points=3,
    signature=STEP_ARGS,
    inputs=_step_inputs,
    reference=_step_reference,
    reference_name="torch.autograd through torch.nn.RNNCell",
    outputs=_grad_outputs(
        ("dx_t", ("batch row", "input unit")), ("dh_prev", ("batch row", "hidden unit"))
    )
    + PARAM_OUTPUTS,
    visible=(Case(0),),
    hidden=(
        Case(501),
        Case(502),
        Case(503, batch=1),
        Case(504, zero_state=True),
        Case(505, input_size=1, hidden_size=1),
    ),
    forbidden=AUTOGRAD,
    mistakes=_step_mistakes,
    hint="return six arrays, each with the shape of what it is the gradient of: "
    "(dx_t, dh_prev, dW_ih, dW_hh, db_ih, db_hh). dh_t is the total gradient g_t on the new "
    "state h_t (everything that reaches it, from its output and from later steps).",
    sizes=_sizes,
)


# ---------------------------------------------------------------- part 2: full BPTT

BACKWARD_ARGS = ("dhs", "x", "h0", "W_ih", "W_hh", "b_ih", "b_hh")


def _backward_inputs(seed, **sizes):
    c = make_case(seed, **sizes)
    B, T, _ = c.x.shape
    dhs = np.random.default_rng(seed + 7).normal(0.0, 1.0, (B, T, c.h0.shape[1]))
    return dict(dhs=dhs, x=c.x, h0=c.h0, **c.weights())


def _backward_reference(dhs, x, h0, W_ih, W_hh, b_ih, b_hh):
    return ref.rnn_backward(dhs, x, h0, W_ih, W_hh, b_ih, b_hh)


def _backward_mistakes(a):
    run = lambda **s: _bptt(**{k: a[k] for k in BACKWARD_ARGS}, **s)  # noqa: E731
    return {
        "the tanh derivative is taken at the previous state (1 - h_{t-1}**2 instead of "
        "1 - h_t**2)": lambda: run(derivative="h_prev"),
        "the tanh derivative is left out": lambda: run(derivative=None),
        "the gradient into h_{t-1} misses the hidden-to-hidden path (only dhs[:, t-1] reaches "
        "h_t; add what flows back from h_{t+1}, W_hh^T delta_{t+1})": lambda: run(recurrent=False),
        "W_hh is not transposed in the recursion": lambda: run(transposed=False),
        "the weight gradients are not summed over time (only the last step counts)": lambda: run(
            last_only=True
        ),
        "h_t is paired with x_{t+1} (off by one in time)": lambda: run(pair_next_input=True),
        "dW_hh is built from h_t instead of h_{t-1} (correct: dW_hh = sum_t da_t h_{t-1}^T)": lambda: (
            run(whh_state="h_t")
        ),
        "the weight gradients are averaged over the batch instead of summed (this course sums "
        "over the batch, as CS231n does)": lambda: (
            run(per_batch=True) if a["x"].shape[0] > 1 else None
        ),
        "dh0 is returned as delta_1, the gradient at the first pre-activation: the last step "
        "back, through W_hh (dh0 = delta_1 @ W_hh), is missing": lambda: run(dh0="delta_1"),
        "dh0 is returned as g_1, the gradient on h_1, not on h_0: the last step back, through "
        "tanh' and W_hh, is missing": lambda: run(dh0="g_1"),
    }


RNN_BACKWARD = Part(
    grade_id="rnn_backward",
    points=4,
    signature=BACKWARD_ARGS,
    inputs=_backward_inputs,
    reference=_backward_reference,
    reference_name="torch.autograd through torch.nn.RNN",
    outputs=(
        Output(
            "dx",
            "gradient dx",
            axes=("batch row", "time step", "input unit"),
            time_axis=1,
            backward=True,
        ),
    )
    + _grad_outputs(("dh0", ("batch row", "hidden unit")))
    + PARAM_OUTPUTS,
    visible=(Case(0), Case(1, seq_len=9)),
    hidden=(
        Case(601),
        Case(602),
        Case(603, batch=1),
        Case(604, seq_len=1),
        Case(605, zero_state=True),
        Case(606, seq_len=20),
    ),
    forbidden=AUTOGRAD,
    mistakes=_backward_mistakes,
    uses=(RNN_STEP_BACKWARD,),
    hint="return (dx, dh0, dW_ih, dW_hh, db_ih, db_hh), each with the shape of what it is the "
    "gradient of. " + INDEX_HINT,
    sizes=_sizes,
)


# ---------------------------------------------------------------- part 3: a gradient checker

FD_ARGS = BACKWARD_ARGS + ("eps",)


def _fd_inputs(seed, eps=None, **sizes):
    a = _backward_inputs(seed, **sizes)
    if eps is None:
        eps = float(np.random.default_rng(seed + 5).choice([5e-3, 1e-2, 2e-2]))
    return {**a, "eps": float(eps)}


def _fd_reference(dhs, x, h0, W_ih, W_hh, b_ih, b_hh, eps):
    return ref.numerical_gradient_W_hh(dhs, x, h0, W_ih, W_hh, b_ih, b_hh, eps)


def _fd_numpy(
    a,
    *,
    scheme="centred",
    divisor=2.0,
    undo=True,
    transpose=False,
    together=False,
    weighted=True,
    half=False,
    objective="sum",
):
    """Finite differences of L = sum(dhs * hs) in W_hh by NumPy, with switches for the mistakes.
    ``half``: nudges of +-eps/2 (the two points eps apart); ``objective``: "sum" (right),
    "batch mean" (divided by B), "last" (dhs[:, -1] * h_T only) or "previous" (dhs[:, t-1]
    paired with h_{t-1}, h_0 included)."""
    dhs, eps = a["dhs"], a["eps"] / 2 if half else a["eps"]
    weights = dhs if weighted else np.ones_like(dhs)
    if objective == "last":
        weights = np.where(np.arange(dhs.shape[1])[None, :, None] == dhs.shape[1] - 1, dhs, 0.0)
    scale = 1.0 / dhs.shape[0] if objective == "batch mean" else 1.0
    which = 1 if objective == "previous" else 0  # _states: (hs, the states entering each step)

    def loss(W):
        states = _states(a["x"], a["h0"], a["W_ih"], W, a["b_ih"], a["b_hh"])[which]
        return float(np.sum(weights * states) * scale)

    W = a["W_hh"].copy()
    base = loss(W)
    if together:  # every entry nudged at once: one number, everywhere
        value = (loss(W + eps) - loss(W - eps)) / (divisor * eps)
        return np.full(W.shape, value)
    grad = np.zeros_like(W)
    for i in range(W.shape[0]):
        for j in range(W.shape[1]):
            w = W[i, j]
            W[i, j] = w + eps
            up = loss(W) if scheme != "backward" else base
            W[i, j] = w - eps
            down = loss(W) if scheme != "forward" else base
            if undo:
                W[i, j] = w
            step = divisor * eps if scheme == "centred" else eps
            grad[i, j] = (up - down) / step
    return grad.T.copy() if transpose else grad


ANALYTIC = (
    "the analytic gradient is returned (autograd or your BPTT), or a step other than the eps "
    "given is used (a tiny step gives the analytic gradient): at this eps the centred "
    "difference differs from the analytic gradient by a term of order eps**2; compute the "
    "difference itself, with the eps you are given"
)


def _fd_mistakes(a):
    def analytic():
        return _bptt(**{n: a[n] for n in BACKWARD_ARGS})[3]

    B, T = a["dhs"].shape[:2]
    return {
        "the difference is one-sided, (L(W + eps) - L(W)) / eps (its error is of order eps; "
        "correct: the centred (L(W + eps) - L(W - eps)) / (2 eps), of order eps**2)": lambda: (
            _fd_numpy(a, scheme="forward")
        ),
        "the difference is one-sided, (L(W) - L(W - eps)) / eps (its error is of order eps; "
        "correct: the centred (L(W + eps) - L(W - eps)) / (2 eps), of order eps**2)": lambda: (
            _fd_numpy(a, scheme="backward")
        ),
        "the centred difference is divided by eps instead of 2 eps (the two nudges are 2 eps "
        "apart)": lambda: _fd_numpy(a, divisor=1.0),
        ANALYTIC: analytic,
        "the nudges are +-eps/2 (the two points eps apart; correct: W_hh[i, j] + eps and "
        "W_hh[i, j] - eps, 2 eps apart, the difference divided by 2 eps)": lambda: _fd_numpy(
            a, half=True
        ),
        "the perturbation is not undone (W_hh[i, j] is left at W_hh[i, j] - eps, so every later "
        "entry is measured at a shifted point): restore each entry before the next": lambda: (
            _fd_numpy(a, undo=False)
        ),
        "entry [i, j] holds the derivative for W_hh[j, i] (the result is transposed)": lambda: (
            _fd_numpy(a, transpose=True)
        ),
        "the whole matrix is nudged at once (W_hh + eps everywhere) instead of one entry at a "
        "time": lambda: _fd_numpy(a, together=True),
        "the objective leaves out dhs (L = sum(hs) instead of sum(dhs * hs))": lambda: _fd_numpy(
            a, weighted=False
        ),
        "the objective is averaged over the batch (L = sum(dhs * hs) / B; correct: the plain "
        "sum over the batch and every step, sum_t sum(dhs[:, t-1] * h_t))": lambda: (
            _fd_numpy(a, objective="batch mean") if B > 1 else None
        ),
        "the objective uses the last state only (L = sum(dhs[:, -1] * h_T); correct: every "
        "step counts, sum_t sum(dhs[:, t-1] * h_t))": lambda: (
            _fd_numpy(a, objective="last") if T > 1 else None
        ),
        "the states are paired one step off (dhs[:, t-1] with h_{t-1}, h_0 included; correct: "
        "dhs[:, t-1] with h_t, the state after reading x[:, t-1])": lambda: _fd_numpy(
            a, objective="previous"
        ),
    }


NUMERICAL_GRADIENT_W_HH = Part(
    grade_id="numerical_gradient_W_hh",
    points=3,
    signature=FD_ARGS,
    inputs=_fd_inputs,
    reference=_fd_reference,
    reference_name="the centred difference of torch.nn.RNN's forward passes (float64, same eps)",
    outputs=(Output("dW_hh_num", "numerical gradient dW_hh", axes=("hidden unit", "hidden unit")),),
    # eps = 1e-2 is large on purpose: there the centred difference differs from the true
    # gradient (by ~eps**2) and from the one-sided one (by ~eps), so each is told apart. No
    # case goes below 5e-3: a difference quotient amplifies the forward pass's rounding by
    # 1/eps, and at 1e-4 two devices' references (CPU, CUDA) no longer agree to 1e-10.
    visible=(Case(0, eps=1e-2), Case(1, eps=5e-3)),
    hidden=(
        Case(901),
        Case(902, eps=3e-2),
        Case(903, batch=1),
        Case(904, seq_len=1, eps=1e-2),
        Case(905, zero_state=True),
        Case(906, hidden_size=1, input_size=2, eps=1e-2),
        Case(907, seq_len=12, eps=2e-2),
    ),
    forbidden=AUTOGRAD,
    mistakes=_fd_mistakes,
    hint="return an (H, H) float64 array: entry [i, j] is the centred difference, with step "
    "eps, of L = sum(dhs * hs) in W_hh[i, j] alone. Nudge a copy of W_hh, never the argument "
    "itself. " + INDEX_HINT,
    sizes=_sizes,
)


# ---------------------------------------------------------------- part 4: masked sequence loss

LOSS_ARGS = ("x", "h0", "W_ih", "W_hh", "b_ih", "b_hh", "W_hy", "b_y", "targets", "mask")


def _loss_inputs(seed, lengths=None, **sizes):
    c = make_case(seed, **sizes)
    B, T, _ = c.x.shape
    O = c.W_hy.shape[0]
    rng = np.random.default_rng(seed + 11)
    if lengths is None:
        lengths = rng.integers(1, T + 1, size=B)
        lengths[0] = T  # one full-length sequence, one shorter at least
        if B > 1:
            lengths[-1] = max(1, T - 2)
    mask = np.arange(T)[None, :] < np.asarray(lengths)[:, None]
    targets = rng.integers(0, O, size=(B, T)).astype(np.int64)
    x = np.where(mask[..., None], c.x, 0.0)  # padding is zeros, as a real batch would have
    return dict(x=x, h0=c.h0, **c.weights(read_out=True), targets=targets, mask=mask)


def _loss_reference(**a):
    return ref.sequence_loss_grads(**a)


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _loss_numpy(a, *, denominator="real", use_mask=True, softmax_sign=1.0, **switches):
    """The masked loss and its gradients by hand, with switches for the mistakes."""
    x, h0, W_hy, b_y = a["x"], a["h0"], a["W_hy"], a["b_y"]
    hs = _forward(x, h0, a["W_ih"], a["W_hh"], a["b_ih"], a["b_hh"])
    B, T, _ = x.shape
    logits = hs @ W_hy.T + b_y
    p = _softmax(logits)
    onehot = np.eye(W_hy.shape[0])[a["targets"]]
    m = a["mask"].astype(np.float64) if use_mask else np.ones((B, T))
    n = {"real": m.sum(), "all": float(B * T), "batch": float(B), "sum": 1.0}[denominator]
    ce = -np.log(np.sum(p * onehot, axis=-1))
    loss = float((ce * m).sum() / n)
    dlogits = softmax_sign * (p - onehot) * m[..., None] / n
    dW_hy = np.einsum("bto,bth->oh", dlogits, hs)
    db_y = dlogits.sum(axis=(0, 1))
    dhs = dlogits @ W_hy
    _, _, dW_ih, dW_hh, db_ih, db_hh = _bptt(
        dhs, x, h0, a["W_ih"], a["W_hh"], a["b_ih"], a["b_hh"], **switches
    )
    return loss, dW_ih, dW_hh, db_ih, db_hh, dW_hy, db_y


def _loss_mistakes(a):
    return {
        "the mean is taken over all B*T positions, padding included (divide by the number of "
        "real tokens, mask.sum())": lambda: _loss_numpy(a, denominator="all"),
        "the padded steps are not masked out (they add to the loss and the gradients)": lambda: (
            _loss_numpy(a, use_mask=False, denominator="all")
        ),
        "the loss is summed, not averaged over the real tokens": lambda: _loss_numpy(
            a, denominator="sum"
        ),
        "the loss is averaged over the batch only (divide by mask.sum(), not by B)": lambda: (
            _loss_numpy(a, denominator="batch")
        ),
        "the softmax gradient has the wrong sign (dlogits = p - onehot(targets))": lambda: (
            _loss_numpy(a, softmax_sign=-1.0)
        ),
        "the gradient into h_{t-1} misses the hidden-to-hidden path": lambda: _loss_numpy(
            a, recurrent=False
        ),
        "the tanh derivative is taken at the previous state": lambda: _loss_numpy(
            a, derivative="h_prev"
        ),
    }


SEQUENCE_LOSS_GRADS = Part(
    grade_id="sequence_loss_grads",
    points=4,
    signature=LOSS_ARGS,
    inputs=_loss_inputs,
    reference=_loss_reference,
    reference_name="torch.autograd of the masked cross-entropy (F.cross_entropy, mean over "
    "real tokens)",
    outputs=(Output("loss", "loss", kind="float"),)
    + PARAM_OUTPUTS
    + _grad_outputs(("dW_hy", ("output unit", "hidden unit")), ("db_y", ("output unit",))),
    visible=(Case(0), Case(1, batch=4, seq_len=7)),
    hidden=(
        Case(701),
        Case(702),
        Case(703, batch=1),
        Case(704, seq_len=1),
        Case(705, batch=3, lengths=(1, 1, 1)),
        Case(706, batch=3, seq_len=12),
    ),
    forbidden=AUTOGRAD + ("torch.nn.functional.cross_entropy",),
    mistakes=_loss_mistakes,
    uses=(RNN_STEP_BACKWARD, RNN_BACKWARD),
    hint="return (loss, dW_ih, dW_hh, db_ih, db_hh, dW_hy, db_y): loss a Python float, each "
    "gradient with the shape of its parameter. mask is (B, T) bool, True on real tokens.",
    sizes=_sizes,
)


# ---------------------------------------------------------------- part 5: truncated BPTT

TRUNCATED_ARGS = BACKWARD_ARGS + ("k",)


def _truncated_inputs(seed, k=None, **sizes):
    a = _backward_inputs(seed, **{"seq_len": 9, **sizes})
    T = a["x"].shape[1]
    if k is None:
        k = int(np.random.default_rng(seed + 3).integers(2, max(3, T - 1)))
    return {**a, "k": int(k)}


def _truncated_reference(dhs, x, h0, W_ih, W_hh, b_ih, b_hh, k):
    return ref.truncated_bptt_grads(dhs, x, h0, W_ih, W_hh, b_ih, b_hh, k)


def _truncated_mistakes(a):
    args = {n: a[n] for n in BACKWARD_ARGS}
    k, T, B = a["k"], a["x"].shape[1], a["x"].shape[0]

    def params(cuts, **switches):
        return _bptt(**args, cuts=cuts, **switches)[2:]

    right = _cuts(T, k)
    boundary_ends = sorted(t - 1 for t in right if t > 0)  # each chunk's last step but the final
    n_chunks = -(-T // k)

    def without(steps):
        """dhs with the upstream gradients of these array steps dropped."""
        dhs = a["dhs"].copy()
        dhs[:, sorted(steps)] = 0.0
        return dhs

    def dropped(steps, cuts):
        return _bptt(**{**args, "dhs": without(steps)}, cuts=cuts)[2:]

    return {
        "the truncation is ignored (this is full BPTT)": lambda: params(()),
        "the state is reset to zeros at each chunk's start instead of carried (carry it: "
        "only the gradient stops at a boundary, the forward state goes on)": lambda: params(
            right, reset="zero"
        ),
        "the state is reset to h0 at each chunk's start instead of carried (carry it: only "
        "the gradient stops at a boundary, the forward state goes on)": lambda: params(
            right, reset="h0"
        ),
        "the window is off by one (the state is detached every k + 1 steps)": lambda: params(
            _cuts(T, k + 1)
        ),
        "the window is off by one (the state is detached every k - 1 steps)": lambda: (
            params(_cuts(T, k - 1)) if k > 1 else None
        ),
        "the chunk boundaries are at k-1, 2k-1, ... (one step early; correct: detach the "
        "state entering array step k, 2k, ...)": lambda: (
            params(_cuts(T, k, offset=k - 1)) if k > 1 else None
        ),
        "the chunk boundaries are at 1, k+1, 2k+1, ... (one step late; correct: detach the "
        "state entering array step k, 2k, ...)": lambda: (
            params(_cuts(T, k, offset=1)) if k > 1 else None
        ),
        "the chunks are aligned from the end (boundaries at T-k, T-2k, ..., so the first "
        "chunk is the short one; correct: chunks start at 0, k, 2k, ..., and the last one is "
        "short)": lambda: params(_cuts(T, k, offset=T % k)) if T % k else None,
        "no gradient flows between steps at all (as if k = 1)": lambda: params(_cuts(T, 1)),
        "the weight gradients are averaged over the batch instead of summed (this course sums "
        "over the batch, as CS231n does)": lambda: params(right, per_batch=True) if B > 1 else None,
        "the gradients are divided by the number of chunks (the loss is a plain sum over the "
        "steps: each chunk adds its own gradients, undivided)": lambda: (
            tuple(g / n_chunks for g in params(right)) if n_chunks > 1 else None
        ),
        "the chunk-end step's own dhs term is dropped as well (g_t = 0 at the last step of "
        "each chunk before a boundary; correct: there g_t loses only what flows back from "
        "h_{t+1}, W_hh^T delta_{t+1}, and keeps its own dhs[:, t-1])": lambda: (
            dropped(boundary_ends, right) if boundary_ends else None
        ),
        "the chunk-end step's own dhs term is dropped at the end of every chunk, the last one "
        "included (g_t = 0 there; correct: a chunk's last g_t loses only what flows back from "
        "h_{t+1}, W_hh^T delta_{t+1}, and keeps its own dhs[:, t-1])": lambda: dropped(
            [*boundary_ends, T - 1], right
        ),
        "the chunk-end step loses its own dhs term instead of the term from h_{t+1} (so the "
        "gradient still crosses every boundary; correct: g_t keeps dhs[:, t-1] and loses "
        "W_hh^T delta_{t+1})": lambda: dropped(boundary_ends, ()) if boundary_ends else None,
        "the short last chunk is skipped (its steps add nothing; correct: chunks start at 0, "
        "k, 2k, ... and the last one, shorter than k, counts too)": lambda: (
            dropped(range((T // k) * k, T), right) if T % k else None
        ),
    }


TRUNCATED_BPTT_GRADS = Part(
    grade_id="truncated_bptt_grads",
    points=3,
    signature=TRUNCATED_ARGS,
    inputs=_truncated_inputs,
    reference=_truncated_reference,
    reference_name="torch.autograd with the state detached every k steps (h = h.detach())",
    outputs=PARAM_OUTPUTS,
    visible=(Case(0, k=3), Case(1, seq_len=10, k=4)),
    hidden=(
        Case(801),
        Case(802),
        Case(803, k=1),
        Case(804, seq_len=5, k=5),
        Case(805, seq_len=4, k=9),
        Case(806, batch=1, seq_len=12, k=5),
    ),
    forbidden=AUTOGRAD,
    mistakes=_truncated_mistakes,
    uses=(RNN_STEP_BACKWARD, RNN_BACKWARD),
    hint="return (dW_ih, dW_hh, db_ih, db_hh). Time is cut into chunks [0, k), [k, 2k), ... of "
    "the array index; the state is carried into each chunk but detached there (a constant), so "
    "no gradient crosses a chunk boundary; within a chunk it is ordinary BPTT. " + INDEX_HINT,
    sizes=_sizes,
)


# ---------------------------------------------------------------- part 6: truncated BPTT in PyTorch

TBPTT_ARGS = ("x", "targets", "h0", "W_ih", "W_hh", "b_ih", "b_hh", "W_hy", "b_y", "k")


def _tbptt_inputs(seed, k=None, **sizes):
    rng = np.random.default_rng(seed + 13)
    T = sizes.pop("seq_len", None) or int(rng.integers(24, 41))
    c = make_case(seed, seq_len=T, **sizes)
    B = c.x.shape[0]
    if k is None:
        k = int(rng.integers(3, 9))
        k += int(T % k == 0)  # a short last chunk, unless asked otherwise
    targets = rng.integers(0, c.W_hy.shape[0], size=(B, T)).astype(np.int64)
    return dict(x=c.x, targets=targets, h0=c.h0, **c.weights(read_out=True), k=int(k))


def _tbptt_reference(x, targets, h0, W_ih, W_hh, b_ih, b_hh, W_hy, b_y, k):
    return ref.tbptt_gradients(x, targets, h0, W_ih, W_hh, b_ih, b_hh, W_hy, b_y, k)


def _chunks(T, starts):
    starts = sorted(set(starts) | {0})
    return list(zip(starts, starts[1:] + [T]))


def _tbptt_torch(
    a,
    starts,
    *,
    reset=None,
    detach=True,
    weight="all",
    accumulate=True,
    full_only=False,
    optimizer=None,
):
    """The chunked loop on the CPU, with switches for the mistakes. ``starts``: the chunks'
    first array steps; ``weight``: how a chunk's summed cross-entropy is scaled ("all": by
    1/(B*T), right; "chunk": its own mean; "chunks": its own mean over the number of chunks;
    "batch": by 1/B; "none": summed); ``accumulate=False`` keeps the last chunk's gradients
    only; ``full_only``: the short last chunk is skipped; ``optimizer``: (class, lr), a
    training loop's zero_grad, backward, step on every chunk."""
    params = [
        torch.tensor(a[n], dtype=REFERENCE_DTYPE, requires_grad=True)
        for n in ("W_ih", "W_hh", "b_ih", "b_hh", "W_hy", "b_y")
    ]
    W_ih, W_hh, b_ih, b_hh, W_hy, b_y = params
    x, y = torch.tensor(a["x"]), torch.tensor(a["targets"])
    B, T = a["targets"].shape
    h0 = torch.tensor(a["h0"])
    chunks = _chunks(T, starts)
    if full_only:
        chunks = [(s, e) for s, e in chunks if e - s == a["k"]]
    opt = optimizer[0](params, lr=optimizer[1]) if optimizer else None
    h = h0
    for s, e in chunks:
        if reset == "zero":
            h = torch.zeros_like(h0)
        elif reset == "h0":
            h = h0
        elif detach:
            h = h.detach()
        if not accumulate or opt:
            for p in params:
                p.grad = None
        logits = []
        for t in range(s, e):
            h = torch.tanh(x[:, t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
            logits.append(h @ W_hy.T + b_y)
        ce = F.cross_entropy(
            torch.stack(logits, 1).reshape(-1, W_hy.shape[0]),
            y[:, s:e].reshape(-1),
            reduction="sum",
        )
        scale = {
            "all": B * T,
            "chunk": B * (e - s),
            "chunks": B * (e - s) * len(chunks),
            "batch": B,
            "none": 1,
        }
        ce = ce / scale[weight]
        ce.backward(retain_graph=not detach)
        if opt:
            opt.step()
    return tuple(p.grad.numpy().copy() for p in params) + (h.detach().numpy().copy(),)


# The updates a training loop makes between chunks (zero_grad, backward, step on every chunk):
# the optimizers' default learning rate, and the round ones students choose.
UPDATES = {
    "torch.optim.SGD(lr=0.001), its default, stepped": (torch.optim.SGD, 1e-3),
    "torch.optim.SGD(lr=0.01) stepped": (torch.optim.SGD, 1e-2),
    "torch.optim.SGD(lr=0.1) stepped": (torch.optim.SGD, 1e-1),
    "torch.optim.SGD(lr=1) stepped": (torch.optim.SGD, 1.0),
    "torch.optim.Adam(lr=0.001), its default, stepped": (torch.optim.Adam, 1e-3),
}


def _tbptt_mistakes(a):
    k, T = a["k"], a["targets"].shape[1]
    right = range(0, T, k)
    run = lambda starts=right, **s: _tbptt_torch(a, starts, **s)  # noqa: E731
    return {
        "the state is reset to zeros at each chunk's start instead of carried (carry h from "
        "one chunk to the next, and detach it)": lambda: run(reset="zero"),
        "the state is reset to h0 at each chunk's start instead of carried (carry h from one "
        "chunk to the next, and detach it)": lambda: run(reset="h0"),
        "the state is never detached (this is full BPTT through the whole sequence)": lambda: run(
            detach=False
        ),
        "the state is detached at every step (as if k = 1)": lambda: run(range(T)),
        "the chunk boundaries are at k-1, 2k-1, ... (one step early; correct: chunks start at "
        "array steps 0, k, 2k, ...)": lambda: run([0, *range(k - 1, T, k)]) if k > 1 else None,
        "the chunks are aligned from the end (the first chunk is the short one; correct: "
        "chunks start at 0, k, 2k, ..., and the last one is short)": lambda: (
            run([0, *range(T % k, T, k)]) if T % k else None
        ),
        "each chunk's loss is its own mean (F.cross_entropy's default), so the chunks' losses "
        "add up to about T/k times the mean: scale each chunk's summed loss by 1/(B*T)": lambda: (
            run(weight="chunk")
        ),
        "the loss is the mean of the chunks' means, which weighs a short last chunk as much as "
        "a full one: scale each chunk's summed loss by 1/(B*T)": lambda: run(weight="chunks"),
        "the loss is summed over all positions, not averaged over the B*T of them": lambda: run(
            weight="none"
        ),
        "the gradients are not accumulated over the chunks (only the last chunk's are kept: "
        "zero them once, before the loop)": lambda: run(accumulate=False),
        "the loss is divided by B instead of B*T (the mean is over all B*T positions)": lambda: (
            run(weight="batch") if T > 1 else None
        ),
        "h0 is returned as h_T (return the state carried out of the last chunk)": lambda: (
            *run()[:-1],
            a["h0"].copy(),
        ),
        "the short last chunk is skipped (its steps add to the loss too, and h_T is the state "
        "after step T; correct: chunks start at 0, k, 2k, ..., and the last one may be shorter "
        "than k)": lambda: run(full_only=True) if T % k and T > k else None,
        **{
            f"the weights are updated between chunks ({name} after every chunk): this part "
            "asks for the gradients of one pass at the given weights, accumulated over the "
            "chunks, with no update": (lambda opt=opt: run(optimizer=opt) if T > k else None)
            for name, opt in UPDATES.items()
        },
    }


def _tbptt_grad_output(name, axes):
    return Output(name, f"accumulated gradient {name}", axes=axes)


TBPTT_GRADIENTS = Part(
    grade_id="tbptt_gradients",
    points=3,
    signature=TBPTT_ARGS,
    inputs=_tbptt_inputs,
    reference=_tbptt_reference,
    reference_name="a chunked nn.RNN + nn.Linear loop (h = h.detach() at each chunk's start, "
    "one backward() per chunk)",
    outputs=(
        _tbptt_grad_output("dW_ih", ("hidden unit", "input unit")),
        _tbptt_grad_output("dW_hh", ("hidden unit", "hidden unit")),
        _tbptt_grad_output("db_ih", ("hidden unit",)),
        _tbptt_grad_output("db_hh", ("hidden unit",)),
        _tbptt_grad_output("dW_hy", ("output unit", "hidden unit")),
        _tbptt_grad_output("db_y", ("output unit",)),
        Output("h_T", "state h_T carried out of the last chunk", axes=("batch row", "hidden unit")),
    ),
    # Both visible cases have a short last chunk (T % k != 0) and a nonzero h0, so every
    # declared mistake changes the answer there.
    visible=(Case(0, seq_len=30, k=8), Case(1, seq_len=23, k=5)),
    hidden=(
        Case(1301),
        Case(1302, k=1),
        Case(1303, batch=1),
        Case(1304, zero_state=True),
        Case(1305, seq_len=32, k=8),
        Case(1306, seq_len=12, k=40),
        Case(1307, seq_len=1, k=3),
    ),
    allowed=NUMPY_TORCH,
    mistakes=_tbptt_mistakes,
    hint="return (dW_ih, dW_hh, db_ih, db_hh, dW_hy, db_y, h_T) as float64 NumPy arrays "
    "(`tensor.detach().numpy()`), each gradient with the shape of its parameter and h_T "
    "(B, H). Chunks start at array steps 0, k, 2k, ...; targets[:, t-1] is the class for "
    "the output at step t.",
    sizes=_sizes,
)

PARTS = (
    RNN_STEP_BACKWARD,
    RNN_BACKWARD,
    NUMERICAL_GRADIENT_W_HH,
    SEQUENCE_LOSS_GRADS,
    TRUNCATED_BPTT_GRADS,
    TBPTT_GRADIENTS,
)

check_rnn_step_backward = RNN_STEP_BACKWARD.make_check()
check_rnn_backward = RNN_BACKWARD.make_check()
check_numerical_gradient_W_hh = NUMERICAL_GRADIENT_W_HH.make_check()
check_sequence_loss_grads = SEQUENCE_LOSS_GRADS.make_check()
check_truncated_bptt_grads = TRUNCATED_BPTT_GRADS.make_check()
check_tbptt_gradients = TBPTT_GRADIENTS.make_check()
