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


def truncated_by_steps(dhs, x, h0, W_ih, W_hh, b_ih, b_hh, k, *, slip=None):
    """Truncated BPTT the way a student may write it from "which g_t loses a term": one
    backward loop over the array steps, testing (t + 1) % k and t % k; ``slip`` injects one
    misreading."""
    B, T, _ = x.shape
    hs = [h0]
    for t in range(T):
        hs.append(np.tanh(x[:, t] @ W_ih.T + b_ih + hs[-1] @ W_hh.T + b_hh))
    dW_ih, dW_hh, db = np.zeros_like(W_ih), np.zeros_like(W_hh), np.zeros_like(b_ih)
    g_next = np.zeros_like(h0)
    for t in reversed(range(T)):
        chunk_end = (t + 1) % k == 0
        own = dhs[:, t]
        if slip in ("own term dropped", "own term dropped instead") and chunk_end and t < T - 1:
            own = 0.0 * own
        if slip == "own term dropped, modulo" and chunk_end:  # T - 1 too when k divides T
            own = 0.0 * own
        if slip == "own term dropped at every chunk end" and (chunk_end or t == T - 1):
            own = 0.0 * own
        da = (own + g_next) * (1.0 - hs[t + 1] ** 2)
        if slip != "short chunk skipped" or t < (T // k) * k:
            dW_ih += da.T @ x[:, t]
            dW_hh += da.T @ hs[t]
            db += da.sum(axis=0)
        g_next = da @ W_hh
        if t % k == 0 and slip != "own term dropped instead":
            g_next = np.zeros_like(h0)
    if slip == "divided by the chunks":
        chunks = len(range(0, T, k))
        dW_ih, dW_hh, db = dW_ih / chunks, dW_hh / chunks, db / chunks
    return dW_ih, dW_hh, db, db.copy()


def fd_by_states(
    dhs,
    x,
    h0,
    W_ih,
    W_hh,
    b_ih,
    b_hh,
    eps,
    *,
    scheme="centred",
    in_place=False,
    undo=True,
    slip=None,
):
    """The centred difference written another way: W_hh +- eps E_ij built fresh, the states of
    both runs differenced first and then weighted by dhs (one flat index at a time); ``slip``
    injects one misreading of the objective or of the step."""
    if slip == "half nudges":  # "step eps" read as the distance between the two points
        eps = eps / 2
    weights = dhs.copy()
    if slip == "last state only":
        weights[:, :-1] = 0.0
    if slip == "batch mean":
        weights = weights / dhs.shape[0]

    def states(W):
        h, out = h0, np.empty(dhs.shape)
        for t in range(x.shape[1]):
            if slip == "paired with h_{t-1}":
                out[:, t] = h
            h = np.tanh(x[:, t] @ W_ih.T + b_ih + h @ W.T + b_hh)
            if slip != "paired with h_{t-1}":
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
        if slip == "half nudges":
            step = 2 * eps  # the two points are the eps given apart
        grad[n] = np.einsum("bth,bth->", weights, up - down) / step
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
    if slip == "short chunk skipped":
        bounds = [(s, e) for s, e in bounds if e - s == k]
    opt = torch.optim.SGD([*rnn.parameters(), Wy, by], lr=0.1) if slip == "opt.step()" else None
    h = torch.tensor(h0)[None]
    for s, e in bounds:
        if opt:
            opt.zero_grad()
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
        elif slip == "divided by B":
            loss = F.cross_entropy(logits, y, reduction="sum") / B
        else:
            loss = F.cross_entropy(logits, y, reduction="sum") / (B * T)
        loss.backward(retain_graph=slip == "no detach")
        if opt:
            opt.step()
    grads = [p.grad for p in rnn.parameters()] + [Wy.grad, by.grad]
    h_T = torch.tensor(h0) if slip == "h0 returned" else h[0]
    return tuple(g.numpy().copy() for g in grads) + (h_T.detach().numpy().copy(),)


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
    # Issue 19 (walk-through): misreadings that got no hint.
    (
        checks.check_numerical_gradient_W_hh,
        "eps ignored, a step of 1e-5 instead",
        lambda eps, **a: fd_by_states(**a, eps=1e-5),
        "or a step other than the eps given is used",
    ),
    (
        checks.check_numerical_gradient_W_hh,
        "nudges of +-eps/2",
        lambda **a: fd_by_states(**a, slip="half nudges"),
        "the nudges are +-eps/2",
    ),
    (
        checks.check_numerical_gradient_W_hh,
        "objective divided by B",
        lambda **a: fd_by_states(**a, slip="batch mean"),
        "the objective is averaged over the batch",
    ),
    (
        checks.check_numerical_gradient_W_hh,
        "objective on h_T only",
        lambda **a: fd_by_states(**a, slip="last state only"),
        "the objective uses the last state only",
    ),
    (
        checks.check_numerical_gradient_W_hh,
        "dhs paired with h_{t-1}",
        lambda **a: fd_by_states(**a, slip="paired with h_{t-1}"),
        "the states are paired one step off",
    ),
    (
        checks.check_truncated_bptt_grads,
        "own dhs term dropped before each boundary",
        lambda **a: truncated_by_steps(**a, slip="own term dropped"),
        "the chunk-end step's own dhs term is dropped as well",
    ),
    (
        checks.check_truncated_bptt_grads,
        "own dhs term dropped where (t + 1) % k == 0",
        lambda **a: truncated_by_steps(**a, slip="own term dropped, modulo"),
        "the chunk-end step's own dhs term is dropped",
    ),
    (
        checks.check_truncated_bptt_grads,
        "own dhs term dropped at every chunk's end",
        lambda **a: truncated_by_steps(**a, slip="own term dropped at every chunk end"),
        "dropped at the end of every chunk, the last one included",
    ),
    (
        checks.check_truncated_bptt_grads,
        "own dhs term dropped instead of the recurrent one",
        lambda **a: truncated_by_steps(**a, slip="own term dropped instead"),
        "loses its own dhs term instead of the term from h_{t+1}",
    ),
    (
        checks.check_truncated_bptt_grads,
        "short last chunk skipped",
        lambda **a: truncated_by_steps(**a, slip="short chunk skipped"),
        "the short last chunk is skipped",
    ),
    (
        checks.check_truncated_bptt_grads,
        "divided by the number of chunks",
        lambda **a: truncated_by_steps(**a, slip="divided by the chunks"),
        "divided by the number of chunks",
    ),
    (
        checks.check_tbptt_gradients,
        "divided by B",
        lambda **a: tbptt_torch(**a, slip="divided by B"),
        "divided by B instead of B*T",
    ),
    (
        checks.check_tbptt_gradients,
        "h0 returned as h_T",
        lambda **a: tbptt_torch(**a, slip="h0 returned"),
        "h0 is returned as h_T",
    ),
    (
        checks.check_tbptt_gradients,
        "short last chunk skipped",
        lambda **a: tbptt_torch(**a, slip="short chunk skipped"),
        "the short last chunk is skipped",
    ),
    (
        checks.check_tbptt_gradients,
        "opt.step() after every chunk",
        lambda **a: tbptt_torch(**a, slip="opt.step()"),
        "the weights are updated between chunks (torch.optim.SGD(lr=0.1) stepped after every",
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


def test_a_division_by_the_chunks_that_equals_one_by_the_batch_is_named_both_ways():
    """Issue 19 (walk-through): on hidden seed 801 (B = 3, three chunks) dividing by the number
    of chunks was told "averaged over the batch" only; the framework names every match."""
    args = checks.TRUNCATED_BPTT_GRADS.inputs(801)
    assert args["x"].shape[0] == len(range(0, args["x"].shape[1], args["k"])) == 3
    fn = positional(
        checks.check_truncated_bptt_grads,
        lambda **a: truncated_by_steps(**a, slip="divided by the chunks"),
    )
    with pytest.raises(AssertionError) as info:
        checks.check_truncated_bptt_grads(fn, seed=801)
    msg = str(info.value)
    assert "divided by the number of chunks" in msg and "averaged over the batch" in msg


def test_the_gradient_checker_names_a_fixed_step_with_the_analytic_gradient():
    """A checker that ignores its eps and uses 1e-5 returns the analytic gradient to within the
    tolerance: the hint names both readings, not only "the analytic gradient"."""
    msg = assert_rejected(
        checks.check_numerical_gradient_W_hh,
        lambda eps, **a: fd_by_states(**a, eps=1e-5),
        checks.ANALYTIC,
    )
    assert "Common causes" not in msg
