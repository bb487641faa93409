"""Chapter 3's graded parts (backpropagation through time), declared once.

The references are ``torch.autograd`` through ``torch.nn.RNNCell`` /
``torch.nn.RNN`` in float64 (:mod:`autograder.references.ch03_bptt`). The
known mistakes are computed by a small NumPy BPTT below (:func:`_bptt`), with
one switch per mistake, so each hint names exactly what went wrong.

Conventions (stated in the notebook): a loss given by upstream gradients
``dhs`` is ``L = sum_t sum(dhs[:, t] * h_t)``; weight gradients are sums over
the batch and over time (no division by the batch size).
"""

from __future__ import annotations

import numpy as np

from ..parts import Case, Output, Part, recurrent_sizes
from ..references import ch03_bptt as ref
from .ch02_elman import make_case

__all__ = [
    "PARTS",
    "check_rnn_step_backward",
    "check_rnn_backward",
    "check_sequence_loss_grads",
    "check_truncated_bptt_grads",
]

# Autograd and the modules that compute these gradients are what the parts ask you to build.
AUTOGRAD = ("torch.autograd.backward", "torch.autograd.grad", "torch.nn.RNN", "torch.nn.RNNCell")
PARAM_GRADS = ("dW_ih", "dW_hh", "db_ih", "db_hh")


def _sizes(args):
    return recurrent_sizes(args, ("k",))


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
    h, hs = h0, []
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
        hs.append(h)
    return np.stack(hs, axis=1)


def _bptt(
    dhs,
    x,
    h0,
    W_ih,
    W_hh,
    b_ih,
    b_hh,
    *,
    k=None,
    derivative="h_t",
    transposed=True,
    recurrent=True,
    last_only=False,
    pair_next_input=False,
    chunk_start=0,
    whh_state="h_prev",
    per_batch=False,
):
    """BPTT with switches that reproduce the classic mistakes (all off: the right answer).

    Returns (dx, dh0, dW_ih, dW_hh, db_ih, db_hh).
    """
    hs = _forward(x, h0, W_ih, W_hh, b_ih, b_hh)
    B, T, _ = x.shape
    dW_ih, dW_hh = np.zeros_like(W_ih), np.zeros_like(W_hh)
    db = np.zeros_like(b_ih)
    dx = np.zeros_like(x)
    carry = np.zeros_like(h0)
    for t in reversed(range(T)):
        g = dhs[:, t] + (carry if recurrent else 0.0)
        h_prev = hs[:, t - 1] if t > 0 else h0
        state = {"h_t": hs[:, t], "h_prev": h_prev}.get(derivative)
        da = g * (1.0 - state**2) if state is not None else g
        x_t = x[:, min(t + 1, T - 1)] if pair_next_input else x[:, t]
        if not last_only or t == T - 1:
            dW_ih += da.T @ x_t
            dW_hh += da.T @ (hs[:, t] if whh_state == "h_t" else h_prev)
            db += da.sum(axis=0)
        dx[:, t] = da @ W_ih
        carry = da @ (W_hh if transposed else W_hh.T)
        if k is not None and (t - chunk_start) % k == 0:
            carry = np.zeros_like(carry)  # the state entering this chunk was detached
    if per_batch:  # CMU 11-785's convention, not this course's
        dW_ih, dW_hh, db = dW_ih / B, dW_hh / B, db / B
    return dx, carry, dW_ih, dW_hh, db, db.copy()


# ---------------------------------------------------------------- part 1: one step backward

STEP_ARGS = ("dh_t", "x_t", "h_prev", "W_ih", "W_hh", "b_ih", "b_hh")


def _step_inputs(seed, **sizes):
    c = make_case(seed, **{**sizes, "seq_len": 1})
    dh = np.random.default_rng(seed + 7).normal(0.0, 1.0, c.h0.shape)
    return dict(
        dh_t=dh, x_t=c.x[:, 0], h_prev=c.h0, W_ih=c.W_ih, W_hh=c.W_hh, b_ih=c.b_ih, b_hh=c.b_hh
    )


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
        "W_hh is not transposed on the way back (dh_prev = da @ W_hh.T instead of da @ W_hh)": lambda: (
            step(transposed=False)
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
    "(dx_t, dh_prev, dW_ih, dW_hh, db_ih, db_hh).",
    sizes=_sizes,
)


# ---------------------------------------------------------------- part 2: full BPTT

BACKWARD_ARGS = ("dhs", "x", "h0", "W_ih", "W_hh", "b_ih", "b_hh")


def _backward_inputs(seed, **sizes):
    c = make_case(seed, **sizes)
    B, T, _ = c.x.shape
    dhs = np.random.default_rng(seed + 7).normal(0.0, 1.0, (B, T, c.h0.shape[1]))
    return dict(dhs=dhs, x=c.x, h0=c.h0, W_ih=c.W_ih, W_hh=c.W_hh, b_ih=c.b_ih, b_hh=c.b_hh)


def _backward_reference(dhs, x, h0, W_ih, W_hh, b_ih, b_hh):
    return ref.rnn_backward(dhs, x, h0, W_ih, W_hh, b_ih, b_hh)


def _backward_mistakes(a):
    run = lambda **s: _bptt(**{k: a[k] for k in BACKWARD_ARGS}, **s)  # noqa: E731
    return {
        "the tanh derivative is taken at the previous state (1 - h_{t-1}**2 instead of "
        "1 - h_t**2)": lambda: run(derivative="h_prev"),
        "the tanh derivative is left out": lambda: run(derivative=None),
        "the gradient into h_{t-1} misses the hidden-to-hidden path (only dhs[:, t] reaches "
        "step t; add W_hh^T da_{t+1})": lambda: run(recurrent=False),
        "W_hh is not transposed in the recursion": lambda: run(transposed=False),
        "the weight gradients are not summed over time (only the last step counts)": lambda: run(
            last_only=True
        ),
        "h_t is paired with x_{t+1} (off by one in time)": lambda: run(pair_next_input=True),
        "dW_hh is built from h_t instead of h_{t-1} (dW_hh = sum_t da_t h_{t-1}^T)": lambda: run(
            whh_state="h_t"
        ),
        "the weight gradients are divided by the batch size (this course sums over the batch, "
        "as CS231n does)": lambda: run(per_batch=True) if a["x"].shape[0] > 1 else None,
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
    hint="return (dx, dh0, dW_ih, dW_hh, db_ih, db_hh), each with the shape of what it is the "
    "gradient of; dhs[:, t] is dL/dh_t from the outputs only.",
    sizes=_sizes,
)


# ---------------------------------------------------------------- part 3: masked sequence loss

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
    return dict(
        x=x,
        h0=c.h0,
        W_ih=c.W_ih,
        W_hh=c.W_hh,
        b_ih=c.b_ih,
        b_hh=c.b_hh,
        W_hy=c.W_hy,
        b_y=c.b_y,
        targets=targets,
        mask=mask,
    )


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
    hint="return (loss, dW_ih, dW_hh, db_ih, db_hh, dW_hy, db_y): loss a Python float, each "
    "gradient with the shape of its parameter. mask is (B, T) bool, True on real tokens.",
    sizes=_sizes,
)


# ---------------------------------------------------------------- part 4: truncated BPTT

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
    k = a["k"]
    params = lambda out: out[2:]  # noqa: E731
    return {
        "the truncation is ignored (this is full BPTT)": lambda: params(_bptt(**args)),
        "the window is off by one (the state is detached every k + 1 steps)": lambda: params(
            _bptt(**args, k=k + 1)
        ),
        "the window is off by one (the state is detached every k - 1 steps)": lambda: (
            params(_bptt(**args, k=k - 1)) if k > 1 else None
        ),
        "the chunks are counted from the wrong end (detach before step k, 2k, ... counted "
        "from step 1, not from step 0)": lambda: params(_bptt(**args, k=k, chunk_start=1)),
        "no gradient flows between steps at all (as if k = 1)": lambda: params(_bptt(**args, k=1)),
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
    hint="return (dW_ih, dW_hh, db_ih, db_hh). Time is cut into chunks [0, k), [k, 2k), ...; "
    "the state entering a chunk is a constant (detached), so no gradient crosses a chunk "
    "boundary; within a chunk it is ordinary BPTT.",
    sizes=_sizes,
)

PARTS = (RNN_STEP_BACKWARD, RNN_BACKWARD, SEQUENCE_LOSS_GRADS, TRUNCATED_BPTT_GRADS)

check_rnn_step_backward = RNN_STEP_BACKWARD.make_check()
check_rnn_backward = RNN_BACKWARD.make_check()
check_sequence_loss_grads = SEQUENCE_LOSS_GRADS.make_check()
check_truncated_bptt_grads = TRUNCATED_BPTT_GRADS.make_check()
