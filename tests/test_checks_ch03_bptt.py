"""Chapter 3 checks: honest BPTT variants pass, the classic slips are rejected and named.

The mutants below are written the way students write BPTT (one sequence at a
time, column vectors), independently of the checks' own NumPy BPTT.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import assert_passes, assert_rejected, positional, solution_namespace

from autograder.checks import ch03_bptt as checks

SOL = solution_namespace("03-bptt")


def column_bptt(dhs, x, h0, W_ih, W_hh, b_ih, b_hh, *, k=None, slip=None):
    """BPTT one sequence at a time with column vectors; ``slip`` injects one classic mistake."""
    B, T, D = x.shape
    H = W_hh.shape[0]
    dx, dh0 = np.zeros_like(x), np.zeros_like(h0)
    dW_ih, dW_hh, db = np.zeros((H, D)), np.zeros((H, H)), np.zeros(H)
    for b in range(B):
        hs = [h0[b][:, None]]
        for t in range(T):
            hs.append(
                np.tanh(W_ih @ x[b, t][:, None] + b_ih[:, None] + W_hh @ hs[-1] + b_hh[:, None])
            )
        g_next = np.zeros((H, 1))
        for t in range(T, 0, -1):  # maths time: h_t, t = T..1
            g = dhs[b, t - 1][:, None] + (0 if slip == "no recurrent path" else g_next)
            state = hs[t - 1] if slip == "derivative at h_{t-1}" else hs[t]
            da = g if slip == "no tanh derivative" else g * (1 - state**2)
            x_t = x[b, min(t, T - 1)] if slip == "x_{t+1}" else x[b, t - 1]
            if slip != "last step only" or t == T:
                dW_ih += da @ x_t[None, :]
                dW_hh += da @ hs[t - 1].T
                db += da[:, 0]
            dx[b, t - 1] = (W_ih.T @ da)[:, 0]
            g_next = (W_hh if slip == "W_hh not transposed" else W_hh.T) @ da
            cut = k if slip != "window off by one" else (k + 1 if k else None)
            if cut is not None and (t - 1) % cut == 0:
                g_next = np.zeros((H, 1))
        dh0[b] = g_next[:, 0]
    return dx, dh0, dW_ih, dW_hh, db, db.copy()


def step_backward_column(dh_t, x_t, h_prev, W_ih, W_hh, b_ih, b_hh, slip=None):
    out = column_bptt(dh_t[:, None], x_t[:, None], h_prev, W_ih, W_hh, b_ih, b_hh, slip=slip)
    return (out[0][:, 0], *out[1:])


def backward_autograd(dhs, x, h0, W_ih, W_hh, b_ih, b_hh):
    """Honest maths, but through torch's autograd: refused (NumPy only, autograd is the reference)."""
    t = [torch.tensor(a, requires_grad=True) for a in (x, h0, W_ih, W_hh, b_ih, b_hh)]
    h, out = t[1], []
    for s in range(x.shape[1]):
        h = torch.tanh(t[0][:, s] @ t[2].T + t[4] + h @ t[3].T + t[5])
        out.append(h)
    (torch.stack(out, 1) * torch.from_numpy(dhs)).sum().backward()
    return tuple(p.grad.numpy() for p in t[:2]) + tuple(p.grad.numpy() for p in t[2:]) + ()


HONEST = [
    (checks.check_rnn_step_backward, SOL["rnn_step_backward"]),
    (checks.check_rnn_step_backward, step_backward_column),
    (checks.check_rnn_backward, SOL["rnn_backward"]),
    (checks.check_rnn_backward, lambda **a: column_bptt(**a)),
    (checks.check_truncated_bptt_grads, SOL["truncated_bptt_grads"]),
    (checks.check_truncated_bptt_grads, lambda k, **a: column_bptt(**a, k=k)[2:]),
    (checks.check_sequence_loss_grads, SOL["sequence_loss_grads"]),
]


@pytest.mark.parametrize("check,fn", HONEST, ids=lambda v: getattr(v, "__name__", "variant"))
@pytest.mark.parametrize("seed", (0, 3, 17))
def test_honest_implementations_pass(check, fn, seed, capfd):
    assert_passes(check, fn, capfd, seed=seed)


MUTANTS = [
    (
        checks.check_rnn_step_backward,
        "no tanh derivative",
        lambda **a: step_backward_column(**a, slip="no tanh derivative"),
        "tanh derivative is left out",
    ),
    (
        checks.check_rnn_step_backward,
        "derivative at h_{t-1}",
        lambda **a: step_backward_column(**a, slip="derivative at h_{t-1}"),
        "previous state",
    ),
    (
        checks.check_rnn_step_backward,
        "W_hh not transposed",
        lambda **a: step_backward_column(**a, slip="W_hh not transposed"),
        "W_hh is not transposed",
    ),
    (
        checks.check_rnn_step_backward,
        "five outputs",
        lambda **a: step_backward_column(**a)[:5],
        "should return 6 values",
    ),
    (
        checks.check_rnn_backward,
        "derivative at h_{t-1}",
        lambda **a: column_bptt(**a, slip="derivative at h_{t-1}"),
        "1 - h_{t-1}**2",
    ),
    (
        checks.check_rnn_backward,
        "last step only",
        lambda **a: column_bptt(**a, slip="last step only"),
        "not summed over time",
    ),
    (
        checks.check_rnn_backward,
        "W_hh not transposed",
        lambda **a: column_bptt(**a, slip="W_hh not transposed"),
        "not transposed in the recursion",
    ),
    (
        checks.check_rnn_backward,
        "no recurrent path",
        lambda **a: column_bptt(**a, slip="no recurrent path"),
        "misses the hidden-to-hidden path",
    ),
    (
        checks.check_rnn_backward,
        "x_{t+1}",
        lambda **a: column_bptt(**a, slip="x_{t+1}"),
        "paired with x_{t+1}",
    ),
    (checks.check_rnn_backward, "autograd", backward_autograd, "may use NumPy only"),
    (
        checks.check_truncated_bptt_grads,
        "window off by one",
        lambda k, **a: column_bptt(**a, k=k, slip="window off by one")[2:],
        "off by one",
    ),
    (
        checks.check_truncated_bptt_grads,
        "k ignored",
        lambda k, **a: column_bptt(**a)[2:],
        "truncation is ignored",
    ),
]


@pytest.mark.parametrize(
    "check,name,fn,hint", MUTANTS, ids=[f"{c.__name__}-{n}" for c, n, _, _ in MUTANTS]
)
def test_mutants_are_rejected_with_a_pointed_message(check, name, fn, hint):
    assert_rejected(check, fn, hint, name)


def _loss_variant(mean_over, **a):
    sol = SOL["sequence_loss_grads"]
    out = sol(**a)
    n_real, n_all = a["mask"].sum(), a["mask"].size
    scale = {"all": n_real / n_all, "sum": n_real}[mean_over]
    return tuple(float(v * scale) if isinstance(v, float) else v * scale for v in out)


@pytest.mark.parametrize(
    "mean_over,hint", [("all", "over all B*T positions"), ("sum", "summed, not averaged")]
)
def test_the_loss_must_be_the_mean_over_real_tokens(mean_over, hint):
    with pytest.raises(AssertionError) as info:
        check = checks.check_sequence_loss_grads
        check(positional(check, lambda **a: _loss_variant(mean_over, **a)))
    assert hint in str(info.value)


def test_padding_must_not_leak_into_the_gradients():
    def unmasked(**a):
        return SOL["sequence_loss_grads"](**{**a, "mask": np.ones_like(a["mask"])})

    with pytest.raises(AssertionError) as info:
        checks.check_sequence_loss_grads(positional(checks.check_sequence_loss_grads, unmasked))
    assert "not masked out" in str(info.value)


def test_a_gradient_error_is_reported_from_the_last_step_back():
    """Review finding: in BPTT an error enters at the end; "already the first step is wrong"
    pointed the student at the wrong end."""

    def wrong_at_the_end(**a):
        dx, *rest = SOL["rnn_backward"](**a)
        dx = dx.copy()
        dx[:, -1] += 0.1
        return (dx, *rest)

    message = assert_rejected(checks.check_rnn_backward, wrong_at_the_end, "gradient dx")
    assert "Already the last time step" in message
    assert "Already the first time step" not in message
