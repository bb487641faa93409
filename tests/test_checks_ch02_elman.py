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
from conftest import assert_passes, assert_rejected, solution_namespace

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


# --- uses=: a later part that calls a failing earlier part says "fix it first" -------------

WRONG_STEP_RIGHT_FORWARD = """
def rnn_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    return np.tanh(x_t @ W_ih.T + h_prev @ W_hh + b_ih + b_hh)      # W_hh not transposed

def rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh):
    h, hs = h0, []
    for t in range(x.shape[1]):
        h = rnn_step(x[:, t], h, W_ih, W_hh, b_ih, b_hh)
        hs.append(h)
    return np.stack(hs, axis=1)

def rnn_output(hs, W_hy, b_y):
    return hs @ W_hy.T + b_y

def many_to_one_logits(x, h0, W_ih, W_hh, b_ih, b_hh, W_hy, b_y):
    return rnn_output(rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh)[:, -1:], W_hy, b_y)[:, 0]
"""


def test_a_later_part_that_calls_a_failing_earlier_part_says_fix_it_first():
    namespace = {"np": np}
    exec(WRONG_STEP_RIGHT_FORWARD, namespace)
    for check in (checks.check_rnn_forward, checks.check_many_to_one_logits):
        with pytest.raises(AssertionError) as info:
            check(namespace[check.part.name])
        msg = str(info.value)
        assert "calls your `rnn_step`, which fails its own check (`check_rnn_step`)" in msg
        assert "fix it first" in msg and "What this test saw" in msg
    with pytest.raises(AssertionError, match="W_hh is used transposed"):  # what it saw
        checks.check_rnn_forward(namespace["rnn_forward"])
    # With the step fixed, the same forward pass and classifier pass.
    exec(LOOPS_STEP, namespace)
    checks.check_rnn_forward(namespace["rnn_forward"])
    checks.check_many_to_one_logits(namespace["many_to_one_logits"])


LOOPS_STEP = """
def rnn_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    return np.tanh(x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh)
"""


def test_a_wrong_forward_pass_is_named_before_the_classifier_that_calls_it():
    namespace = {"np": np}
    exec(WRONG_STEP_RIGHT_FORWARD + LOOPS_STEP, namespace)
    exec(
        "def rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh):\n"
        "    return np.stack([rnn_step(x[:, t], h0, W_ih, W_hh, b_ih, b_hh)\n"
        "                     for t in range(x.shape[1])], axis=1)\n",
        namespace,
    )
    with pytest.raises(AssertionError) as info:
        checks.check_many_to_one_logits(namespace["many_to_one_logits"])
    assert "calls your `rnn_forward`, which fails its own check" in str(info.value)


def test_float32_mistakes_round_floating_arrays_only():
    """Issue 17: the float32 mistake once cast integer arrays (lengths, token ids) to float."""
    seen = {}

    def fn(x, lengths):
        seen.update(x=x, lengths=lengths)
        return x

    checks._float32(fn, {"x": np.array([0.1]), "lengths": np.array([3], dtype=np.int64)})
    assert seen["lengths"].dtype == np.int64 and seen["x"][0] == np.float64(np.float32(0.1))


# --- Part 5: last_states ---------------------------------------------------------------


def last_states_loop(hs, lengths):
    return np.stack([hs[b, int(length) - 1] for b, length in enumerate(lengths)])


def last_states_take_along(hs, lengths):
    return np.take_along_axis(hs, (lengths - 1)[:, None, None], axis=1)[:, 0]


def last_states_mask(hs, lengths):
    """A one-hot mask of each sequence's last step, summed over time (exact: one term each)."""
    last = np.arange(hs.shape[1])[None, :] == (lengths - 1)[:, None]
    return np.einsum("bth,bt->bh", hs, last.astype(np.float64))


def last_states_python(hs, lengths):
    out = np.empty((hs.shape[0], hs.shape[2]))
    for b in range(hs.shape[0]):
        t = 0
        while t + 1 < lengths[b]:  # walk to the last real step
            t += 1
        out[b] = hs[b, t]
    return out


@pytest.mark.parametrize(
    "fn",
    [
        SOL["last_states"],
        last_states_loop,
        last_states_take_along,
        last_states_mask,
        last_states_python,
    ],
    ids=lambda f: f.__name__,
)
def test_honest_last_states_pass(fn, capfd):
    assert_passes(checks.check_last_states, fn, capfd)
    for seed in SEEDS:
        assert_passes(checks.check_last_states, fn, capfd, seed=seed, spare_steps=1)


def test_the_last_states_reference_is_h_n_of_a_packed_run():
    """The reference reads the states of the padded run; h_n of nn.RNN run on the packed inputs
    themselves gives the same states (and running each sequence alone does too)."""
    from autograder.references import ch02_elman as ref

    for seed in SEEDS:
        args = checks.LAST_STATES.inputs(seed)
        c = checks.make_case(seed, zero_state=True)
        x, lengths = c.x.copy(), args["lengths"]
        for b, length in enumerate(lengths):
            x[b, length:] = 0.0
        rnn = ref.elman_module(
            torch.nn.RNN,
            c.W_ih,
            c.W_hh,
            c.b_ih,
            c.b_hh,
            "tanh",
            torch.device("cpu"),
            batch_first=True,
        )
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            torch.from_numpy(x), torch.from_numpy(lengths), batch_first=True, enforce_sorted=False
        )
        with torch.no_grad():
            _, h_n = rnn(packed)
        np.testing.assert_allclose(ref.last_states(**args), h_n[0].numpy(), rtol=0, atol=1e-12)
        alone = [
            ref.rnn_forward(x[b : b + 1, :length], c.h0[b : b + 1], c.W_ih, c.W_hh, c.b_ih, c.b_hh)[
                0, -1
            ]
            for b, length in enumerate(lengths)
        ]
        np.testing.assert_allclose(ref.last_states(**args), np.stack(alone), rtol=0, atol=1e-12)


LAST_MUTANTS = {
    "last column": (lambda hs, lengths: hs[:, -1], checks.LAST_COLUMN),
    "off by one, clipped": (
        lambda hs, lengths: hs[np.arange(len(lengths)), np.minimum(lengths, hs.shape[1] - 1)],
        checks.OFF_BY_ONE,
    ),
    "off by one": (lambda hs, lengths: hs[np.arange(len(lengths)), lengths], checks.OFF_BY_ONE),
    "packed order": (
        lambda hs, lengths: np.stack(
            [hs[b, lengths[b] - 1] for b in sorted(range(len(lengths)), key=lambda b: -lengths[b])]
        ),
        checks.PACKED_ORDER,
    ),
    "mean of the real states": (
        lambda hs, lengths: np.stack([hs[b, :n].mean(axis=0) for b, n in enumerate(lengths)]),
        checks.MEAN_STATE,
    ),
    "time axis indexed first": (lambda hs, lengths: hs[:, lengths - 1], "should have shape"),
    "the longest sequence's last column for all": (
        lambda hs, lengths: hs[:, lengths.max() - 1],
        checks.LONGEST_COLUMN,
    ),
    "T - 1 for the longest sequence": (
        lambda hs, lengths: hs[
            np.arange(len(lengths)),
            np.where(lengths == lengths.max(), hs.shape[1] - 1, lengths - 1),
        ],
        checks.LONGEST_PADDED,
    ),
    "lengths as float": (
        lambda hs, lengths: hs[np.arange(len(lengths)), (lengths - 1.0)],
        "IndexError",
    ),
}


@pytest.mark.parametrize("name", LAST_MUTANTS)
def test_last_states_mistakes_are_named(name):
    fn, hint = LAST_MUTANTS[name]
    assert_rejected(checks.check_last_states, fn, hint, name)


def test_the_longest_column_is_named_with_the_last_column_where_they_coincide():
    """Issue 19 (walk-through): hs[:, lengths.max() - 1] was told "hs[:, -1] is taken" on the
    first visible case (its longest sequence fills the batch) and nothing on the second."""
    longest = LAST_MUTANTS["the longest sequence's last column for all"][0]
    with pytest.raises(AssertionError) as info:
        checks.check_last_states(longest, seed=0)
    msg = str(info.value)
    assert checks.LONGEST_COLUMN in msg and checks.LAST_COLUMN in msg
    with pytest.raises(AssertionError) as info:
        checks.check_last_states(longest, seed=1, spare_steps=2)
    assert checks.LONGEST_COLUMN in str(info.value)
    assert checks.LAST_COLUMN not in str(info.value)


# --- Part 6: order_latch (a design, judged by a property) -----------------------------------


def latch_reversed_sign(vocab_size, marker_a, marker_b, sequences):
    """A pushes the state down, B up; the read-out reads the sign the other way round."""
    W_ih = np.zeros((1, vocab_size))
    W_ih[0, [marker_a, marker_b]] = [-0.8, 0.8]
    return W_ih, np.array([[1.9]]), np.zeros(1), np.zeros(1), np.array([[6.0], [-6.0]]), np.zeros(2)


def latch_two_copies(vocab_size, marker_a, marker_b, sequences):
    """Two identical latches (H = 2), W_hh = 2 I; the read-out adds them up."""
    W_ih = np.zeros((2, vocab_size))
    W_ih[:, marker_a], W_ih[:, marker_b] = 1.0, -1.0
    W_hy = np.array([[-3.0, -3.0], [3.0, 3.0]])
    return W_ih, 2.0 * np.eye(2), np.zeros(2), np.zeros(2), W_hy, np.zeros(2)


def latch_coupled_four(vocab_size, marker_a, marker_b, sequences):
    """Four units coupled all to all (W_hh = ones / 2, largest singular value exactly 2): their
    common mode is the latch; biases that cancel (b_ih = -b_hh) and a read-out with a bias."""
    W_ih = np.zeros((4, vocab_size))
    W_ih[:, marker_a], W_ih[:, marker_b] = 0.9, -0.9
    b = np.array([0.3, -0.2, 0.1, 0.0])
    W_hy = np.array([[-1.0] * 4, [1.0] * 4])
    return W_ih, np.full((4, 4), 0.5), b, -b, W_hy, np.array([0.5, 0.5])


def latch_python_lists(vocab_size, marker_a, marker_b, sequences):
    """Built from Python lists, with an extra idle unit that reads nothing."""
    column = lambda t: [1.1 if t == marker_a else -1.1 if t == marker_b else 0.0, 0.0]  # noqa: E731
    W_ih = np.array([column(t) for t in range(vocab_size)]).T
    W_hh = np.array([[1.95, 0.0], [0.0, 0.3]])
    return (
        W_ih,
        W_hh,
        np.zeros(2),
        np.zeros(2),
        np.array([[-5.0, 7.0], [5.0, 7.0]]),
        np.array([0.0, 0.0]),
    )


@pytest.mark.parametrize(
    "fn",
    [
        SOL["order_latch"],
        latch_reversed_sign,
        latch_two_copies,
        latch_coupled_four,
        latch_python_lists,
    ],
    ids=lambda f: f.__name__,
)
def test_honest_latches_pass(fn, capfd):
    assert_passes(checks.check_order_latch, fn, capfd)
    assert_passes(checks.check_order_latch, fn, capfd, seed=7)


def _latch_variant(**change):
    """The notebook's solution with some outputs replaced."""

    def fn(vocab_size, marker_a, marker_b, sequences):
        values = dict(
            zip(checks.LATCH_WEIGHTS, SOL["order_latch"](vocab_size, marker_a, marker_b, sequences))
        )
        for name, make in change.items():
            values[name] = make(values)
        return tuple(values[name] for name in checks.LATCH_WEIGHTS)

    return fn


def _fading_pair(vocab_size, marker_a, marker_b, w, k):
    """No latch: one unit per marker, W_hh = w I (w < 1), read-out (k, -k; -k, k): the marker
    that came first has faded more, and a huge k decides on what is left."""
    W_ih = np.zeros((2, vocab_size))
    W_ih[0, marker_a], W_ih[1, marker_b] = 1.0, 1.0
    W_hy = np.array([[k, -k], [-k, k]])
    return W_ih, w * np.eye(2), np.zeros(2), np.zeros(2), W_hy, np.zeros(2)


LATCH_MUTANTS = {
    "just above the bound": (_latch_variant(W_hh=lambda v: np.array([[2.05]])), checks.STRONG),
    "five units": (
        _latch_variant(
            W_ih=lambda v: np.repeat(v["W_ih"], 5, axis=0),
            W_hh=lambda v: 2.0 * np.eye(5),
            b_ih=lambda v: np.zeros(5),
            b_hh=lambda v: np.zeros(5),
            W_hy=lambda v: np.repeat(v["W_hy"], 5, axis=1),
        ),
        "this part allows 1 to 4",
    ),
    "sizes that disagree": (_latch_variant(b_hh=lambda v: np.zeros(2)), "must be the same"),
    "W_ih transposed": (_latch_variant(W_ih=lambda v: v["W_ih"].T.copy()), "should have shape"),
    "float32 weights": (_latch_variant(W_hy=lambda v: v["W_hy"].astype(np.float32)), "float64"),
    "a list of weights": (
        lambda vocab_size, marker_a, marker_b, sequences: list(
            SOL["order_latch"](vocab_size, marker_a, marker_b, sequences)
        ),
        "should return a tuple",
    ),
    "both markers push the same way": (
        _latch_variant(W_ih=lambda v: np.abs(v["W_ih"])),
        checks.BLIND,
    ),
    "read-out ignores the state": (
        _latch_variant(W_hy=lambda v: np.zeros((2, 1))),
        checks.BLIND,
    ),
    "B forgotten (a latch that remembers that A appeared)": (
        _latch_variant(W_ih=lambda v: np.maximum(v["W_ih"], 0.0)),
        checks.ONE_MARKER,
    ),
    "a unit that fades, among four": (
        lambda vocab_size, marker_a, marker_b, sequences: (
            np.tile(np.eye(vocab_size)[[marker_a]] - np.eye(vocab_size)[[marker_b]], (4, 1)),
            0.2 * np.ones((4, 4)),
            np.zeros(4),
            np.zeros(4),
            np.array([[-5.0] * 4, [5.0] * 4]),
            np.zeros(2),
        ),
        checks.FADES,
    ),
    "no latch: a fading memory behind a huge read-out (the walk-through's loophole)": (
        lambda vocab_size, marker_a, marker_b, sequences: _fading_pair(
            vocab_size, marker_a, marker_b, 0.9, 1e26
        ),
        checks.HUGE_READOUT,
    ),
    "no latch, faster fading behind a huge read-out": (
        lambda vocab_size, marker_a, marker_b, sequences: _fading_pair(
            vocab_size, marker_a, marker_b, 0.5, 1e26
        ),
        checks.HUGE_READOUT,
    ),
    "no latch, the read-out at the bound": (
        lambda vocab_size, marker_a, marker_b, sequences: _fading_pair(
            vocab_size, marker_a, marker_b, 0.9, 10.0
        ),
        checks.FADES,
    ),
    "a working latch with a read-out of 20": (
        _latch_variant(W_hy=lambda v: np.array([[-20.0], [20.0]])),
        checks.TOO_LARGE,
    ),
    "a working latch with a bias of -11 on class 0": (
        _latch_variant(b_y=lambda v: np.array([-11.0, 0.0])),
        "b_y[0] is -11, above the bound 10",
    ),
    "tanh saturated, read-out too weak": (
        _latch_variant(W_hy=lambda v: np.array([[-1.4], [1.4]])),
        checks.WEAK_READOUT,
    ),
}


@pytest.mark.parametrize("name", LATCH_MUTANTS)
def test_latch_mistakes_are_named(name):
    fn, hint = LATCH_MUTANTS[name]
    assert_rejected(checks.check_order_latch, fn, hint, name)


def test_a_singular_value_just_above_the_bound_is_printed_with_the_digits_that_differ():
    """Issue 19 (walk-through): W_hh = 2.0001 was told "your W_hh is 2; at most 2"."""
    for w, shown in ((2.0001, "2.0001"), (2.0000001, "2.0000001"), (-2.5, "2.5")):
        msg = assert_rejected(
            checks.check_order_latch,
            _latch_variant(W_hh=lambda v, w=w: np.array([[w]])),
            "at most 2",
        )
        assert f"of your W_hh is {shown};" in msg, msg


def test_every_array_is_bounded_and_honest_designs_stay_within_the_bound():
    """The bound is on every entry of every array (a huge W_ih or bias is refused too)."""
    big_input = _latch_variant(W_ih=lambda v: 12.0 * v["W_ih"])
    assert_rejected(checks.check_order_latch, big_input, checks.TOO_LARGE)
    # The same latch with every weight exactly at the bound's edge passes the bound check.
    at_bound = _latch_variant(W_hy=lambda v: np.array([[-10.0], [10.0]]))
    args, _ = checks.ORDER_LATCH.build(checks.ORDER_LATCH.visible[0])
    values = at_bound(*args.values())
    assert checks._bound_problem(args, values) is None


def test_the_latch_message_names_the_sequence_and_what_the_network_did():
    """The first failing declared sequence: its length, where A and B are, the states."""
    overwrite = _latch_variant(W_ih=lambda v: 2.0 * v["W_ih"] / np.abs(v["W_ih"]).max())
    msg = assert_rejected(checks.check_order_latch, overwrite, checks.OVERWRITES)
    assert "length T = 12" in msg and "A at step 1, B at step 2" in msg
    assert "it flipped the answer" in msg and "h_1 = [+0.964] after A" in msg


def test_the_visible_latch_cases_reach_the_longest_hidden_length():
    """A memory that fades slowly must fail in sight, not only in the hidden cases."""
    assert max(
        s.shape[1] for s in checks.ORDER_LATCH.build(checks.ORDER_LATCH.visible[0])[0]["sequences"]
    ) == max(
        s.shape[1]
        for c in checks.ORDER_LATCH.hidden
        for s in checks.ORDER_LATCH.build(c)[0]["sequences"]
    )


def test_latch_sequences_are_order_task_sequences_with_the_edge_cases():
    for case in checks.ORDER_LATCH.cases():
        args = checks.ORDER_LATCH.inputs(case.seed, **case.sizes)
        A, B = args["marker_a"], args["marker_b"]
        for tokens in args["sequences"]:
            assert tokens.dtype == np.int64 and tokens.min() >= 0
            assert tokens.max() < args["vocab_size"]
            assert np.all((tokens == A).sum(axis=1) == 1) and np.all((tokens == B).sum(axis=1) == 1)
            first = {(int(np.argmax(r == A)), int(np.argmax(r == B))) for r in tokens[:6]}
            T = tokens.shape[1]
            assert {(0, 1), (1, 0), (T - 2, T - 1), (T - 1, T - 2)} <= first
            labels = np.argmax(tokens == A, axis=1) < np.argmax(tokens == B, axis=1)
            assert 0 < labels.mean() < 1


def test_the_latch_reaches_the_longest_length_the_chapter_states():
    """The chapter quotes references.LATCH_LONGEST as Part 6's longest sequence (it reads the
    reference, not the checks, so that editing a check does not re-execute the book)."""
    from autograder.references.ch02_elman import LATCH_LONGEST

    longest = max(
        max(s.shape[1] for s in checks.ORDER_LATCH.inputs(c.seed, **c.sizes)["sequences"])
        for c in checks.ORDER_LATCH.cases()
    )
    assert longest == LATCH_LONGEST
    visible = max(
        max(s.shape[1] for s in checks.ORDER_LATCH.inputs(c.seed, **c.sizes)["sequences"])
        for c in checks.ORDER_LATCH.visible
    )
    assert visible == LATCH_LONGEST, "a visible case must reach the longest hidden length"


def test_a_fading_latch_that_a_later_marker_overwrites_is_told_both():
    """Review: four units with W_hh = I fade (the probes show it), and in the failing sequence
    A's input (+1) overwrites B's weaker state (-0.3): the message says both."""

    def fading_and_unbalanced(vocab_size, marker_a, marker_b, sequences):
        W_ih = np.zeros((4, vocab_size))
        W_ih[:, marker_a], W_ih[:, marker_b] = 1.0, -0.3
        W_hy = np.array([[-2.5] * 4, [2.5] * 4])
        return W_ih, np.eye(4), np.zeros(4), np.zeros(4), W_hy, np.zeros(2)

    message = assert_rejected(checks.check_order_latch, fading_and_unbalanced, checks.FADES)
    assert "Also, in this sequence A flipped the answer at step 2" in message
    assert checks.OVERWRITES in message
