"""Chapter 2 checks: correct implementations pass, wrong ones are rejected with the right hint.

The parts themselves are declared in autograder/checks/ch02_elman.py; the
registry-wide properties (solutions pass every case, stubs fail, every
declared mistake is caught by a visible case) are in tests/test_parts.py.
These are chapter 2's own honest variants and the mistakes students make.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from conftest import assert_rejected, solution_namespace

from autograder.checks import ch02_elman as checks

SOL = solution_namespace("02-elman")
SEEDS = (0, 1, 7, 123)


# --- honest implementations written differently from the solutions ---------------


def step_loops(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    """Scalar loops, no matrix products at all."""
    B, D = x_t.shape
    H = W_hh.shape[0]
    out = np.zeros((B, H))
    for b in range(B):
        for i in range(H):
            s = b_ih[i] + b_hh[i]
            for d in range(D):
                s += W_ih[i, d] * x_t[b, d]
            for k in range(H):
                s += W_hh[i, k] * h_prev[b, k]
            out[b, i] = np.tanh(s)
    return out


def step_torch(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    """Computed with torch tensors, converted back to NumPy float64: refused (NumPy only)."""
    t = {
        k: torch.from_numpy(v)
        for k, v in dict(x=x_t, h=h_prev, Wi=W_ih, Wh=W_hh, bi=b_ih, bh=b_hh).items()
    }
    return torch.tanh(t["x"] @ t["Wi"].T + t["bi"] + t["h"] @ t["Wh"].T + t["bh"]).numpy()


def forward_column_vectors(x, h0, W_ih, W_hh, b_ih, b_hh):
    """The textbook column-vector form, one sequence at a time."""
    B, T, _ = x.shape
    hs = np.zeros((B, T, W_hh.shape[0]))
    for b in range(B):
        h = h0[b][:, None]
        for t in range(T):
            h = np.tanh(W_ih @ x[b, t][:, None] + W_hh @ h + (b_ih + b_hh)[:, None])
            hs[b, t] = h[:, 0]
    return hs


def output_loops(hs, W_hy, b_y):
    return np.stack([hs[:, t] @ W_hy.T + b_y for t in range(hs.shape[1])], axis=1)


def many_to_one_direct(x, h0, W_ih, W_hh, b_ih, b_hh, W_hy, b_y):
    h = h0
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ W_ih.T + h @ W_hh.T + b_ih + b_hh)
    return np.einsum("bh,oh->bo", h, W_hy) + b_y


HONEST = [
    (checks.check_rnn_step, SOL["rnn_step"]),
    (checks.check_rnn_step, step_loops),
    (checks.check_rnn_forward, SOL["rnn_forward"]),
    (checks.check_rnn_forward, forward_column_vectors),
    (checks.check_rnn_output, SOL["rnn_output"]),
    (checks.check_rnn_output, output_loops),
    (checks.check_many_to_one_logits, SOL["many_to_one_logits"]),
    (checks.check_many_to_one_logits, many_to_one_direct),
]


@pytest.mark.parametrize("check,fn", HONEST, ids=lambda v: getattr(v, "__name__", str(v)))
@pytest.mark.parametrize("seed", SEEDS)
def test_honest_implementations_pass(check, fn, seed, capfd):
    check(fn, seed=seed)
    check(fn, seed=seed, batch=1, seq_len=1, zero_state=True)
    out, err = capfd.readouterr()
    assert err == "", "a check wrote to stderr, which nbgrader scores as a failure"
    assert "correct" in out


# --- mutants: each must be rejected, and the message must point at the mistake -----


def _step(x_t, h, W_ih, W_hh, b_ih, b_hh, act=np.tanh):
    return act(x_t @ W_ih.T + b_ih + h @ W_hh.T + b_hh)


def _fwd(x, h0, W_ih, W_hh, b_ih, b_hh, step=_step):
    h, out = h0, []
    for t in range(x.shape[1]):
        h = step(x[:, t], h, W_ih, W_hh, b_ih, b_hh)
        out.append(h)
    return np.stack(out, axis=1)


STEP_MUTANTS = {
    "transposed W_hh": (
        lambda x_t, h_prev, W_ih, W_hh, b_ih, b_hh: _step(x_t, h_prev, W_ih, W_hh.T, b_ih, b_hh),
        "W_hh is used transposed",
    ),
    "missing b_hh": (
        lambda x_t, h_prev, W_ih, W_hh, b_ih, b_hh: np.tanh(x_t @ W_ih.T + b_ih + h_prev @ W_hh.T),
        "the bias b_hh is left out",
    ),
    "relu": (
        lambda x_t, h_prev, W_ih, W_hh, b_ih, b_hh: _step(
            x_t, h_prev, W_ih, W_hh, b_ih, b_hh, act=lambda z: np.maximum(z, 0)
        ),
        "ReLU is used instead of tanh",
    ),
    "no activation": (
        lambda x_t, h_prev, W_ih, W_hh, b_ih, b_hh: _step(
            x_t, h_prev, W_ih, W_hh, b_ih, b_hh, act=lambda z: z
        ),
        "the activation is missing",
    ),
    "ignores h_prev": (
        lambda x_t, h_prev, W_ih, W_hh, b_ih, b_hh: np.tanh(x_t @ W_ih.T + b_ih + b_hh),
        "previous hidden state is ignored",
    ),
    "transposed W_ih": (
        lambda x_t, h_prev, W_ih, W_hh, b_ih, b_hh: np.tanh(
            x_t @ W_ih + b_ih + h_prev @ W_hh.T + b_hh
        ),
        "the product is x_t @ W_ih.T",
    ),
    "float32": (
        lambda x_t, h_prev, W_ih, W_hh, b_ih, b_hh: _step(
            x_t, h_prev, W_ih, W_hh, b_ih, b_hh
        ).astype(np.float32),
        "dtype float64",
    ),
    "list": (
        lambda x_t, h_prev, W_ih, W_hh, b_ih, b_hh: _step(
            x_t, h_prev, W_ih, W_hh, b_ih, b_hh
        ).tolist(),
        "numpy.ndarray",
    ),
    "torch answer": (step_torch, "may use NumPy only"),
    "the RNNCell itself": (
        lambda x_t, h_prev, W_ih, W_hh, b_ih, b_hh: _torch_cell(
            x_t, h_prev, W_ih, W_hh, b_ih, b_hh
        ),
        "must not call torch.nn.RNNCell",
    ),
    "float32 inside": (
        lambda x_t, h_prev, W_ih, W_hh, b_ih, b_hh: _step(
            *(a.astype(np.float32) for a in (x_t, h_prev, W_ih, W_hh, b_ih, b_hh))
        ).astype(np.float64),
        "float32 round-off",
    ),
    "no return": (lambda x_t, h_prev, W_ih, W_hh, b_ih, b_hh: None, "forget the `return`"),
    "in place": (
        lambda x_t, h_prev, W_ih, W_hh, b_ih, b_hh: np.tanh(
            np.add(h_prev @ W_hh.T + b_hh + b_ih, x_t @ W_ih.T, out=h_prev)
        ),
        "changed its input `h_prev` in place",
    ),
}

FORWARD_MUTANTS = {
    "off by one in time": (
        lambda x, h0, W_ih, W_hh, b_ih, b_hh: np.concatenate(
            [h0[:, None], _fwd(x, h0, W_ih, W_hh, b_ih, b_hh)[:, :-1]], axis=1
        ),
        "shifted by one time step",
    ),
    "state not carried": (
        lambda x, h0, W_ih, W_hh, b_ih, b_hh: np.stack(
            [_step(x[:, t], h0, W_ih, W_hh, b_ih, b_hh) for t in range(x.shape[1])], axis=1
        ),
        "state is not carried forward",
    ),
    "ignores h0": (
        lambda x, h0, W_ih, W_hh, b_ih, b_hh: _fwd(x, np.zeros_like(h0), W_ih, W_hh, b_ih, b_hh),
        "h0 is ignored",
    ),
    "float32 inside": (
        lambda x, h0, W_ih, W_hh, b_ih, b_hh: _fwd(
            *(a.astype(np.float32) for a in (x, h0, W_ih, W_hh, b_ih, b_hh))
        ).astype(np.float64),
        "float32 round-off",
    ),
    "reversed time": (
        lambda x, h0, W_ih, W_hh, b_ih, b_hh: _fwd(x[:, ::-1], h0, W_ih, W_hh, b_ih, b_hh),
        "read backwards in time",
    ),
    "transposed W_hh": (
        lambda x, h0, W_ih, W_hh, b_ih, b_hh: _fwd(x, h0, W_ih, W_hh.T, b_ih, b_hh),
        "W_hh is used transposed",
    ),
    "missing b_ih": (
        lambda x, h0, W_ih, W_hh, b_ih, b_hh: _fwd(x, h0, W_ih, W_hh, 0 * b_ih, b_hh),
        "the bias b_ih is left out",
    ),
    "time-major result": (
        lambda x, h0, W_ih, W_hh, b_ih, b_hh: (
            _fwd(x, h0, W_ih, W_hh, b_ih, b_hh).transpose(1, 0, 2).copy()
        ),
        "shape",
    ),
    "includes h0": (
        lambda x, h0, W_ih, W_hh, b_ih, b_hh: np.concatenate(
            [h0[:, None], _fwd(x, h0, W_ih, W_hh, b_ih, b_hh)], axis=1
        ),
        "should have shape",
    ),
}

OUTPUT_MUTANTS = {
    "missing b_y": (lambda hs, W_hy, b_y: hs @ W_hy.T, "the bias b_y is left out"),
    "tanh on output": (lambda hs, W_hy, b_y: np.tanh(hs @ W_hy.T + b_y), "tanh is applied"),
    "softmax on output": (
        lambda hs, W_hy, b_y: (lambda e: e / e.sum(-1, keepdims=True))(np.exp(hs @ W_hy.T + b_y)),
        "softmax is applied",
    ),
    "transposed W_hy": (lambda hs, W_hy, b_y: hs @ W_hy + b_y, "W_hy (output_size, hidden_size)"),
}


def _torch_cell(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    cell = torch.nn.RNNCell(W_ih.shape[1], W_ih.shape[0], dtype=torch.float64)
    with torch.no_grad():
        for p, v in zip(cell.parameters(), (W_ih, W_hh, b_ih, b_hh)):
            p.copy_(torch.from_numpy(v))
        return cell(torch.from_numpy(x_t), torch.from_numpy(h_prev)).numpy()


def _m2o(pick):
    def fn(x, h0, W_ih, W_hh, b_ih, b_hh, W_hy, b_y):
        return pick(_fwd(x, h0, W_ih, W_hh, b_ih, b_hh), h0) @ W_hy.T + b_y

    return fn


M2O_MUTANTS = {
    "first state": (_m2o(lambda hs, h0: hs[:, 0]), "h_1 is used instead of the last"),
    "off by one": (_m2o(lambda hs, h0: hs[:, -2]), "h_{T-1} is used instead of h_T"),
    "mean state": (_m2o(lambda hs, h0: hs.mean(axis=1)), "mean of all hidden states"),
    "initial state": (_m2o(lambda hs, h0: h0), "the initial state h0 is used"),
    "all steps": (
        lambda x, h0, W_ih, W_hh, b_ih, b_hh, W_hy, b_y: (
            _fwd(x, h0, W_ih, W_hh, b_ih, b_hh) @ W_hy.T + b_y
        ),
        "should have shape",
    ),
    # Issue 8: a float32 answer passed the old visible test and failed hidden seeds.
    "float32 inside": (
        lambda x, h0, W_ih, W_hh, b_ih, b_hh, W_hy, b_y: (
            _fwd(*(a.astype(np.float32) for a in (x, h0, W_ih, W_hh, b_ih, b_hh)))[:, -1]
            @ W_hy.T.astype(np.float32)
            + b_y.astype(np.float32)
        ).astype(np.float64),
        "float32 round-off",
    ),
}

MUTANTS = (
    [(checks.check_rnn_step, name, *v) for name, v in STEP_MUTANTS.items()]
    + [(checks.check_rnn_forward, name, *v) for name, v in FORWARD_MUTANTS.items()]
    + [(checks.check_rnn_output, name, *v) for name, v in OUTPUT_MUTANTS.items()]
    + [(checks.check_many_to_one_logits, name, *v) for name, v in M2O_MUTANTS.items()]
)


@pytest.mark.parametrize(
    "check,name,fn,hint", MUTANTS, ids=[f"{c.__name__}-{n}" for c, n, _, _ in MUTANTS]
)
def test_mutants_are_rejected_with_a_pointed_message(check, name, fn, hint):
    assert_rejected(check, fn, hint, name)


@pytest.mark.parametrize(
    "check",
    [
        checks.check_rnn_step,
        checks.check_rnn_forward,
        checks.check_rnn_output,
        checks.check_many_to_one_logits,
    ],
)
def test_the_student_stub_fails_with_a_clear_message(check):
    def stub(*args, **kwargs):
        raise NotImplementedError()

    with pytest.raises(AssertionError, match="not implemented yet"):
        check(stub)


def test_the_failure_message_names_the_first_wrong_time_step():
    def late_bug(x, h0, W_ih, W_hh, b_ih, b_hh):
        hs = _fwd(x, h0, W_ih, W_hh, b_ih, b_hh)
        hs[:, 3:] *= 0.5  # wrong from time step 3 on
        return hs

    with pytest.raises(AssertionError) as info:
        checks.check_rnn_forward(late_bug, seed=0, seq_len=6)
    msg = str(info.value)
    assert "Time steps 0..2 are right; the first wrong time step is 3" in msg
    assert "time step 3" in msg and "expected" in msg and "times the allowed error" in msg


def test_the_two_first_wrong_lines_agree():
    """Issue 8: seed 201 once reported index (0, 2, 2) and "already step 0 is wrong"."""

    def wrong_from_step(step):
        def fn(x, h0, W_ih, W_hh, b_ih, b_hh):
            hs = _fwd(x, h0, W_ih, W_hh, b_ih, b_hh)
            hs[1:, step:] += 0.1  # rows 1.. wrong from `step`
            hs[0, step + 1 :] += 0.1  # row 0 wrong one step later
            return hs

        return fn

    for step in (0, 2):
        with pytest.raises(AssertionError) as info:
            checks.check_rnn_forward(wrong_from_step(step), seed=201)
        msg = str(info.value)
        index = re.search(r"First wrong value at index \((\d+), (\d+), (\d+)\)", msg)
        assert index and int(index.group(2)) == step, msg
        if step:
            assert f"the first wrong time step is {step}." in msg
        else:
            assert "Already the first time step (index 0) is wrong." in msg


def test_round_off_is_reported_as_round_off_with_digits_that_differ():
    """Issue 8: float32 inside was reported as "expected -0.036891, got -0.036891" and a logic bug."""

    def f32(x, h0, W_ih, W_hh, b_ih, b_hh):
        return _fwd(*(a.astype(np.float32) for a in (x, h0, W_ih, W_hh, b_ih, b_hh))).astype(
            np.float64
        )

    for seed in range(5):
        try:
            checks.check_rnn_forward(f32, seed=seed, seq_len=12)
        except AssertionError as err:
            msg = str(err)
            assert "float32 round-off" in msg and "Common causes" not in msg
            got = re.search(r"expected (\S+), got (\S+)", msg)
            assert got.group(1) != got.group(2), msg
            assert "W_hh is used transposed" not in msg
            break
    else:
        pytest.fail("a float32-internal forward pass passed five seeds")


def test_one_error_measure_and_it_is_consistent():
    """Issue 8: the message printed a symmetric relative error next to another formula."""

    def off(x, h0, W_ih, W_hh, b_ih, b_hh):
        hs = _fwd(x, h0, W_ih, W_hh, b_ih, b_hh)
        return hs + 3e-6 * np.abs(hs) + 1e-9

    with pytest.raises(AssertionError) as info:
        checks.check_rnn_forward(off, seed=0)
    msg = str(info.value)
    assert "rel error" not in msg
    ratio = float(re.search(r"the worst is (\S+) times the allowed error", msg).group(1))
    assert 2.0 < ratio < 3.1, msg


def test_objects_that_claim_equality_are_refused():
    class AlwaysEqual(np.ndarray):
        def __eq__(self, other):
            return True

    class Liar:
        shape = (5, 6)
        dtype = np.float64

        def __eq__(self, other):
            return True

    for fake in (lambda *a: np.zeros((5, 6)).view(AlwaysEqual), lambda *a: Liar()):
        with pytest.raises(AssertionError, match="should be a numpy.ndarray"):
            checks.check_rnn_step(fake)


def test_hidden_sizes_differ_from_the_visible_ones():
    """Hidden tests call the same check with other seeds: the sizes really change."""
    sizes = {tuple(checks.make_case(s).sizes.values()) for s in range(20)}
    assert len(sizes) > 10
    for s in range(50):
        case = checks.make_case(s)
        assert case.sizes["D"] != case.sizes["H"], "a transposed W_ih must not fit by chance"
