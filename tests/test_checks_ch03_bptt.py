"""Chapter 3 checks: honest BPTT variants pass, the classic slips are rejected and named.

The mutants below are written the way students write BPTT (one sequence at a
time, column vectors, or a chunk at a time through their own ``rnn_backward``),
independently of the checks' own NumPy BPTT; the gradient checker and the PyTorch
truncated-BPTT loop get honest alternatives and mutants of their own.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
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
        dh0[b] = (da if slip == "dh0 = delta_1" else g_next)[:, 0]
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


def backward_by_chunks(dhs, x, h0, W_ih, W_hh, b_ih, b_hh, k, *, state="carry"):
    """Truncated BPTT as a student may write it: the solution's rnn_backward run on each chunk,
    from the state the chunk starts with (carried; or, as a mistake, reset)."""
    T = x.shape[1]
    hs, h = [], h0
    for t in range(T):
        h = np.tanh(x[:, t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
        hs.append(h)
    total = [np.zeros_like(W_ih), np.zeros_like(W_hh), np.zeros_like(b_ih), np.zeros_like(b_hh)]
    for start in range(0, T, k):
        entering = {"carry": hs[start - 1] if start else h0, "zero": 0 * h0, "h0": h0}[state]
        stop = min(start + k, T)
        grads = SOL["rnn_backward"](
            dhs[:, start:stop], x[:, start:stop], entering, W_ih, W_hh, b_ih, b_hh
        )[2:]
        total = [a + g for a, g in zip(total, grads)]
    return tuple(total)


def fd_by_states(
    dhs, x, h0, W_ih, W_hh, b_ih, b_hh, eps, *, scheme="centred", in_place=False, undo=True
):
    """The centred difference written another way: W_hh +- eps E_ij built fresh, the states of
    both runs differenced first and then weighted by dhs (one flat index at a time)."""

    def states(W):
        h, out = h0, np.empty(dhs.shape)
        for t in range(x.shape[1]):
            h = np.tanh(x[:, t] @ W_ih.T + b_ih + h @ W.T + b_hh)
            out[:, t] = h
        return out

    H = W_hh.shape[0]
    grad = np.empty(H * H)
    base = states(W_hh)
    W = W_hh if in_place else W_hh.copy()
    for n in range(H * H):
        i, j = np.unravel_index(n, (H, H))
        if in_place or not undo:
            W[i, j] += eps
            up = states(W)
            W[i, j] -= 2 * eps
            down = states(W)
            if undo:
                W[i, j] += eps  # undone by arithmetic: the last bit may differ (accepted)
        else:
            E = np.zeros((H, H))
            E[i, j] = eps
            up, down = states(W + E), states(W - E)
        if scheme == "forward":
            down = base
        step = 2 * eps if scheme == "centred" else eps
        grad[n] = np.einsum("bth,bth->", dhs, up - down) / step
    return grad.reshape(H, H)


def tbptt_torch(x, targets, h0, W_ih, W_hh, b_ih, b_hh, W_hy, b_y, k, *, slip=None):
    """The PyTorch loop with nn.RNN and a head, written apart from the solution; ``slip``
    injects one of the mistakes that matter."""
    rnn = torch.nn.RNN(W_ih.shape[1], W_ih.shape[0], batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        for p, v in zip(rnn.parameters(), (W_ih, W_hh, b_ih, b_hh)):
            p.copy_(torch.from_numpy(v))
    Wy, by = torch.tensor(W_hy, requires_grad=True), torch.tensor(b_y, requires_grad=True)
    B, T = targets.shape
    starts = list(range(0, T, k))
    if slip == "aligned from the end":
        starts = sorted({0, *range(T % k, T, k)})
    bounds = list(zip(starts, starts[1:] + [T]))
    h = torch.tensor(h0)[None]
    for s, e in bounds:
        if slip == "reset":
            h = torch.zeros_like(h)
        elif slip != "no detach":
            h = h.detach()
        if slip == "zero_grad in the loop":
            rnn.zero_grad()
            Wy.grad = by.grad = None
        out, h = rnn(torch.tensor(x[:, s:e]), h)
        logits = (out @ Wy.T + by).reshape(-1, Wy.shape[0])
        y = torch.tensor(targets[:, s:e]).reshape(-1)
        if slip == "chunk mean":
            loss = F.cross_entropy(logits, y)
        else:
            loss = F.cross_entropy(logits, y, reduction="sum") / (B * T)
        loss.backward(retain_graph=slip == "no detach")
    grads = [p.grad for p in rnn.parameters()] + [Wy.grad, by.grad]
    return tuple(g.numpy().copy() for g in grads) + (h[0].detach().numpy().copy(),)


HONEST = [
    # W_hh nudged in place and restored by arithmetic: the last bit may differ, which is no bug
    (checks.check_numerical_gradient_W_hh, lambda **a: fd_by_states(**a, in_place=True)),
    (checks.check_rnn_step_backward, SOL["rnn_step_backward"]),
    (checks.check_rnn_step_backward, step_backward_column),
    (checks.check_rnn_backward, SOL["rnn_backward"]),
    (checks.check_rnn_backward, lambda **a: column_bptt(**a)),
    (checks.check_truncated_bptt_grads, SOL["truncated_bptt_grads"]),
    (checks.check_truncated_bptt_grads, lambda k, **a: column_bptt(**a, k=k)[2:]),
    (checks.check_truncated_bptt_grads, lambda **a: backward_by_chunks(**a)),
    (checks.check_sequence_loss_grads, SOL["sequence_loss_grads"]),
    (checks.check_numerical_gradient_W_hh, SOL["numerical_gradient_W_hh"]),
    (checks.check_numerical_gradient_W_hh, lambda **a: fd_by_states(**a)),
    (checks.check_tbptt_gradients, SOL["tbptt_gradients"]),
    (checks.check_tbptt_gradients, lambda **a: tbptt_torch(**a)),
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
        checks.check_rnn_backward,
        "dh0 = delta_1",
        lambda **a: column_bptt(**a, slip="dh0 = delta_1"),
        "dh0 is returned as delta_1",
    ),
    (
        checks.check_rnn_step_backward,
        "batch mean",
        lambda **a: (lambda o: (o[0], o[1], *(g / a["x_t"].shape[0] for g in o[2:])))(
            step_backward_column(**a)
        ),
        "averaged over the batch instead of summed",
    ),
    (
        checks.check_truncated_bptt_grads,
        "state reset to zeros",
        lambda **a: backward_by_chunks(**a, state="zero"),
        "reset to zeros at each chunk's start",
    ),
    (
        checks.check_truncated_bptt_grads,
        "state reset to h0",
        lambda **a: backward_by_chunks(**a, state="h0"),
        "reset to h0 at each chunk's start",
    ),
    (
        checks.check_numerical_gradient_W_hh,
        "one-sided",
        lambda **a: fd_by_states(**a, scheme="forward"),
        "one-sided",
    ),
    (
        checks.check_numerical_gradient_W_hh,
        "analytic",
        lambda eps, **a: SOL["rnn_backward"](**a)[3],
        "the analytic gradient is returned",
    ),
    (
        checks.check_numerical_gradient_W_hh,
        "not undone",
        lambda **a: fd_by_states(**a, undo=False),
        "the perturbation is not undone",
    ),
    (
        checks.check_numerical_gradient_W_hh,
        "nudged in place, not undone",
        lambda **a: fd_by_states(**a, in_place=True, undo=False),
        "changed its input `W_hh` in place",
    ),
    (
        checks.check_tbptt_gradients,
        "reset",
        lambda **a: tbptt_torch(**a, slip="reset"),
        "reset to zeros at each chunk's start",
    ),
    (
        checks.check_tbptt_gradients,
        "no detach",
        lambda **a: tbptt_torch(**a, slip="no detach"),
        "never detached",
    ),
    (
        checks.check_tbptt_gradients,
        "zero_grad in the loop",
        lambda **a: tbptt_torch(**a, slip="zero_grad in the loop"),
        "not accumulated over the chunks",
    ),
    (
        checks.check_tbptt_gradients,
        "chunk mean",
        lambda **a: tbptt_torch(**a, slip="chunk mean"),
        "its own mean",
    ),
    (
        checks.check_tbptt_gradients,
        "aligned from the end",
        lambda **a: tbptt_torch(**a, slip="aligned from the end"),
        "aligned from the end",
    ),
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


def test_a_failing_rnn_backward_is_named_first_where_a_later_part_calls_it():
    """Issue 19: ``uses=`` on the later parts: fix the earlier function first."""
    source = """
import numpy as np

def rnn_backward(dhs, x, h0, W_ih, W_hh, b_ih, b_hh):
    out = SOL_RNN_BACKWARD(dhs, x, h0, W_ih, W_hh, b_ih, b_hh)
    return (out[0], out[1], out[2], out[3].T, out[4], out[5])   # a transposed dW_hh

def truncated_bptt_grads(dhs, x, h0, W_ih, W_hh, b_ih, b_hh, k):
    total = [np.zeros_like(W_ih), np.zeros_like(W_hh), np.zeros_like(b_ih), np.zeros_like(b_hh)]
    h = h0
    for start in range(0, x.shape[1], k):
        chunk = slice(start, start + k)
        grads = rnn_backward(dhs[:, chunk], x[:, chunk], h, W_ih, W_hh, b_ih, b_hh)[2:]
        total = [a + g for a, g in zip(total, grads)]
        for t in range(start, min(start + k, x.shape[1])):
            h = np.tanh(x[:, t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
    return tuple(total)
"""
    namespace = {"SOL_RNN_BACKWARD": SOL["rnn_backward"]}
    exec(compile(source, "<answers>", "exec"), namespace)
    message = assert_rejected(
        checks.check_truncated_bptt_grads, namespace["truncated_bptt_grads"], "fix it first"
    )
    assert "`rnn_backward`" in message
    # the same chunked answer over the right rnn_backward passes
    namespace["rnn_backward"] = SOL["rnn_backward"]
    checks.check_truncated_bptt_grads(namespace["truncated_bptt_grads"])
