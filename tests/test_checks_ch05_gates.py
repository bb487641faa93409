"""Chapter 5 checks: honest LSTM/GRU variants pass, the gate mix-ups are rejected and named.

The registry-wide properties (the solutions pass every case, the stubs fail, every declared
mistake is caught and named by a visible case) are tests/test_parts.py's; here: answers written
differently from the solutions, mistakes written as code, and the design part's property
judged on weight sets the reference would never produce."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from conftest import assert_passes, assert_rejected, positional

from autograder.checks import ch05_gates as checks


def sig(z):
    return 0.5 * (1 + np.tanh(z / 2))  # the same function, another formula


def lstm_step_per_gate(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh, order="ifgo", out_tanh=True):
    """One gate at a time, by block slices, the way many students write it."""
    H = h_prev.shape[1]
    gate = {}
    for k, name in enumerate(order):
        rows = slice(k * H, (k + 1) * H)
        gate[name] = x_t @ W_ih[rows].T + b_ih[rows] + h_prev @ W_hh[rows].T + b_hh[rows]
    c = sig(gate["f"]) * c_prev + sig(gate["i"]) * np.tanh(gate["g"])
    return sig(gate["o"]) * (np.tanh(c) if out_tanh else c), c


def gru_step_columns(x_t, h_prev, W_ih, W_hh, b_ih, b_hh, reset="after", swap=False):
    H = h_prev.shape[1]
    Wr, Wz, Wn = (W_ih[k * H : (k + 1) * H] for k in range(3))
    Ur, Uz, Un = (W_hh[k * H : (k + 1) * H] for k in range(3))
    br, bz, bn = (b_ih[k * H : (k + 1) * H] for k in range(3))
    cr, cz, cn = (b_hh[k * H : (k + 1) * H] for k in range(3))
    r = sig(x_t @ Wr.T + br + h_prev @ Ur.T + cr)
    z = sig(x_t @ Wz.T + bz + h_prev @ Uz.T + cz)
    if reset == "after":
        n = np.tanh(x_t @ Wn.T + bn + r * (h_prev @ Un.T + cn))
    else:  # Cho et al. / D2L
        n = np.tanh(x_t @ Wn.T + bn + (r * h_prev) @ Un.T + cn)
    return z * n + (1 - z) * h_prev if swap else (1 - z) * n + z * h_prev


def unroll(step, x, *state):
    hs = []
    for t in range(x.shape[1]):
        out = step(x[:, t], *state)
        state = out if isinstance(out, tuple) else (out,)
        hs.append(state[0])
    return np.stack(hs, 1), state


def lstm_forward_per_gate(x, h0, c0, W_ih, W_hh, b_ih, b_hh):
    hs, (_, c) = unroll(
        lambda x_t, h, c: lstm_step_per_gate(x_t, h, c, W_ih, W_hh, b_ih, b_hh), x, h0, c0
    )
    return hs, c


def gru_forward_columns(x, h0, W_ih, W_hh, b_ih, b_hh):
    return unroll(lambda x_t, h: gru_step_columns(x_t, h, W_ih, W_hh, b_ih, b_hh), x, h0)[0]


def lstm_backward_row_by_row(dh_t, dc_t, x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    """One batch row at a time, column vectors and outer products, gradients accumulated."""
    H = h_prev.shape[1]
    dx, dh, dc_prev = np.zeros_like(x_t), np.zeros_like(h_prev), np.zeros_like(c_prev)
    dW_ih, dW_hh, db = np.zeros_like(W_ih), np.zeros_like(W_hh), np.zeros_like(b_ih)
    for n in range(x_t.shape[0]):
        z = W_ih @ x_t[n] + b_ih + W_hh @ h_prev[n] + b_hh
        i, f, g, o = sig(z[:H]), sig(z[H : 2 * H]), np.tanh(z[2 * H : 3 * H]), sig(z[3 * H :])
        tanh_c = np.tanh(f * c_prev[n] + i * g)
        dc = dc_t[n] + dh_t[n] * o * (1 - tanh_c * tanh_c)
        dz = np.concatenate(
            [dc * g * i * (1 - i), dc * c_prev[n] * f * (1 - f), dc * i * (1 - g * g)]
            + [dh_t[n] * tanh_c * o * (1 - o)]
        )
        dx[n], dh[n], dc_prev[n] = W_ih.T @ dz, W_hh.T @ dz, dc * f
        dW_ih += np.outer(dz, x_t[n])
        dW_hh += np.outer(dz, h_prev[n])
        db += dz
    return dx, dh, dc_prev, dW_ih, dW_hh, db, db.copy()


# ---------------------------------------------------------------- CS231n's layout, repacked


def repack_by_reshape(Wx, Wh, b, x, h0):
    """Gates as an axis of their own, reordered by fancy indexing; the bias split in halves."""
    H, order = Wh.shape[0], [0, 1, 3, 2]
    W_ih = Wx.reshape(Wx.shape[0], 4, H)[:, order].reshape(-1, 4 * H).T
    W_hh = Wh.reshape(H, 4, H)[:, order].reshape(H, 4 * H).T
    bias = b.reshape(4, H)[order].reshape(-1)
    return W_ih, W_hh, bias / 2, bias / 2


def repack_by_gate_name(Wx, Wh, b, x, h0):
    """A dict of CS231n's blocks by gate name, stacked in PyTorch's order; an uneven bias split."""
    H = Wh.shape[0]
    blocks = {name: slice(k * H, (k + 1) * H) for k, name in enumerate("ifog")}
    W_ih = np.vstack([Wx[:, blocks[name]].T for name in "ifgo"])
    W_hh = np.vstack([Wh[:, blocks[name]].T for name in "ifgo"])
    bias = np.concatenate([b[blocks[name]] for name in "ifgo"])
    b_ih = np.cos(np.arange(4 * H))  # any split whose sum is the bias
    return W_ih, W_hh, b_ih, bias - b_ih


# ---------------------------------------------------------------- cue_carrier: other designs


def cue_one_unit(vocab_size, cue_ids, answer_ids, blank_id, sentences):
    """One unit for every cue: each cue writes its own level onto the belt, the forget gate is
    exactly 1 in float64 (sigmoid(40)), the output gate is always open, and the read-out's
    lines, tangent to S * h**2, make the nearest level's answer win."""
    K, V = len(cue_ids), vocab_size
    levels = np.linspace(-0.9, 0.9, K)
    W_ih, b = np.zeros((4, V)), np.array([-30.0, 40.0, 0.0, 30.0])
    W_ih[0, cue_ids] = 60.0  # the input gate opens on every cue
    W_ih[2, cue_ids] = np.arctanh(levels)  # ... and the candidate is that cue's level
    shown, S = np.tanh(levels), 10.0  # h at the blank = tanh(c) = tanh(level)
    W_hy, b_y = np.zeros((V, 1)), np.full(V, -50.0)
    W_hy[answer_ids, 0] = 2 * S * shown
    b_y[answer_ids] = -S * shown**2
    return W_ih, np.zeros((4, 1)), b, np.zeros(4), W_hy, b_y


def cue_input_gate_always_open(vocab_size, cue_ids, answer_ids, blank_id, sentences):
    """The input gate open on every word is no mistake when the candidate is 0 on all but the
    cue: the fillers then write nothing. The output gate is open everywhere too."""
    K = len(cue_ids)
    W_ih, b_hh = np.zeros((4 * K, vocab_size)), np.zeros(4 * K)
    b_hh[:K], b_hh[K : 2 * K], b_hh[3 * K :] = 30.0, 40.0, 30.0
    for k, word in enumerate(cue_ids):
        W_ih[2 * K + k, word] = 30.0
    W_hy = np.zeros((vocab_size, K))
    W_hy[answer_ids, np.arange(K)] = 5.0
    return W_ih, np.zeros((4 * K, K)), np.zeros(4 * K), b_hh, W_hy, np.zeros(vocab_size)


def cue_unit_per_cue(vocab_size, cue_ids, answer_ids, blank_id, sentences):
    """The solution's idea, written cue by cue: unit k writes +1 on cue k and keeps it, every
    output gate opens at the blank, and the read-out gives answer k the score 8 * h_k."""
    K = len(cue_ids)
    W_ih, b_ih = np.zeros((4 * K, vocab_size)), np.zeros(4 * K)
    for k in range(K):
        i, f, g, o = (gate * K + k for gate in range(4))
        b_ih[[i, f, g, o]] = -15.0, 25.0, 15.0, -15.0
        W_ih[i, cue_ids[k]] = W_ih[o, blank_id] = 30.0
    W_hy = np.zeros((vocab_size, K))
    for k in range(K):
        W_hy[answer_ids[k], k] = 8.0
    return W_ih, np.zeros((4 * K, K)), b_ih, np.zeros(4 * K), W_hy, np.zeros(vocab_size)


def _four_cues_hard_coded(vocab_size, cue_ids, answer_ids, blank_id, sentences):
    """The design written for the four cues of the visible cases: unit k for k in range(4)."""
    H = 4
    W_ih, b_ih = np.zeros((4 * H, vocab_size)), np.zeros(4 * H)
    units = np.arange(H)
    b_ih[:H], b_ih[H : 2 * H], b_ih[2 * H : 3 * H], b_ih[3 * H :] = -15.0, 25.0, 15.0, -15.0
    W_ih[units, cue_ids] = 30.0
    W_ih[3 * H :, blank_id] = 30.0
    W_hy = np.zeros((vocab_size, H))
    W_hy[answer_ids, units] = 8.0
    return W_ih, np.zeros((4 * H, H)), b_ih, np.zeros(4 * H), W_hy, np.zeros(vocab_size)


def cue_reference_in(H, split=True, f_bias=None):
    """That design in H units (the spare ones busy with random recurrent weights of
    their own), its bias split between b_ih and b_hh; ``f_bias`` overrides the forget bias."""

    def design(vocab_size, cue_ids, answer_ids, blank_id, sentences):
        W_ih, _, b_ih, _, W_hy, b_y = cue_unit_per_cue(
            vocab_size, cue_ids, answer_ids, blank_id, sentences
        )
        K, rng = len(cue_ids), np.random.default_rng(0)
        big = [np.zeros((4 * H,) + W_ih.shape[1:]), np.zeros(4 * H), np.zeros((4 * H, H))]
        for gate in range(4):
            rows, mine = slice(gate * H, gate * H + K), slice(gate * K, (gate + 1) * K)
            big[0][rows], big[1][rows] = W_ih[mine], b_ih[mine]
            spare = slice(gate * H + K, (gate + 1) * H)
            big[2][spare] = rng.normal(0, 0.5, (H - K, H))
        if f_bias is not None:
            big[1][H : H + K] = f_bias
        out_W = np.zeros((vocab_size, H))
        out_W[:, :K] = W_hy
        b_ih, b_hh = (big[1] / 2, big[1] / 2) if split else (big[1], np.zeros(4 * H))
        return big[0], big[2], b_ih, b_hh, out_W, b_y

    return design


HONEST = [
    (checks.check_lstm_step, lstm_step_per_gate),
    (checks.check_lstm_forward, lstm_forward_per_gate),
    (checks.check_gru_step, gru_step_columns),
    (checks.check_gru_forward, gru_forward_columns),
    (checks.check_lstm_step_backward, lstm_backward_row_by_row),
    (checks.check_repack_cs231n, repack_by_reshape),
    (checks.check_repack_cs231n, repack_by_gate_name),
    (checks.check_cue_carrier, cue_one_unit),
    (checks.check_cue_carrier, cue_input_gate_always_open),
    (checks.check_cue_carrier, cue_unit_per_cue),
    (checks.check_cue_carrier, cue_reference_in(8)),
    (checks.check_cue_carrier, cue_reference_in(32, split=False)),
]


@pytest.mark.parametrize("check,fn", HONEST, ids=lambda v: getattr(v, "__name__", "variant"))
def test_honest_implementations_pass_every_case(check, fn, capfd):
    assert_passes(check, fn, capfd)


def _torch_lstm_cell(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    cell = torch.nn.LSTMCell(W_ih.shape[1], h_prev.shape[1], dtype=torch.float64)
    with torch.no_grad():
        for p, v in zip(cell.parameters(), (W_ih, W_hh, b_ih, b_hh)):
            p.copy_(torch.from_numpy(v))
        h, c = cell(torch.from_numpy(x_t), (torch.from_numpy(h_prev), torch.from_numpy(c_prev)))
    return h.numpy(), c.numpy()


def _repack_with_hh_left_in_cs231n_order(Wx, Wh, b, x, h0):
    W_ih, _, b_ih, b_hh = repack_by_reshape(Wx, Wh, b, x, h0)
    return W_ih, Wh.T.copy(), b_ih, b_hh


def _scaled_readout(**args):
    W_ih, W_hh, b_ih, b_hh, W_hy, b_y = cue_unit_per_cue(**args)
    return W_ih, W_hh, b_ih, b_hh, W_hy / 8.0, b_y  # scores of 0.76: below the margin


def _hy_too_wide(**args):
    W_ih, W_hh, b_ih, b_hh, W_hy, b_y = cue_unit_per_cue(**args)
    return W_ih, W_hh, b_ih, b_hh, np.hstack([W_hy, W_hy[:, :1]]), b_y


def _huge_forget_bias(**args):
    W_ih, W_hh, b_ih, b_hh, W_hy, b_y = cue_unit_per_cue(**args)
    H = W_hh.shape[1]
    b_ih[H : 2 * H] = 500.0
    return W_ih, W_hh, b_ih, b_hh, W_hy, b_y


def _forget_open_on_fillers_only(**args):
    """Student walk-through: the forget gate's bias is 0 and only the fillers open it, so it
    is 0.5 on "i want to go ___"; the message must name that word, not an average."""
    from autograder.experiments import cue_task as cue

    W_ih, W_hh, b_ih, b_hh, W_hy, b_y = cue_unit_per_cue(**args)
    H = W_hh.shape[1]
    b_ih[H : 2 * H] = 0.0
    W_ih[H : 2 * H, [cue.WORD_TO_ID[w] for w in cue.FILLERS]] = 25.0
    return W_ih, W_hh, b_ih, b_hh, W_hy, b_y


def _input_gate_ajar(**args):
    """The input gate at sigmoid(-6) = 0.0025 on every other word, and the candidate -0.46
    there: 1,000 small writes undo the cue (the message must not print 0.00)."""
    W_ih, W_hh, b_ih, b_hh, W_hy, b_y = cue_unit_per_cue(**args)
    H = W_hh.shape[1]
    b_ih[:H], b_ih[2 * H : 3 * H] = -6.0, -0.5
    W_ih[2 * H + np.arange(H), args["cue_ids"]] = 15.5  # still +1 on the cue
    return W_ih, W_hh, b_ih, b_hh, W_hy, b_y


MUTANTS = [
    (
        checks.check_lstm_step,
        "CS231n order",
        lambda **a: lstm_step_per_gate(**a, order="ifog"),
        "CS231n's order i, f, o, g",
    ),
    (
        checks.check_lstm_step,
        "other order",
        lambda **a: lstm_step_per_gate(**a, order="figo"),
        "order f, i, g, o",
    ),
    (
        checks.check_lstm_step,
        "no tanh on the cell",
        lambda **a: lstm_step_per_gate(**a, out_tanh=False),
        "not passed through tanh",
    ),
    (
        checks.check_lstm_step,
        "LSTMCell itself",
        _torch_lstm_cell,
        "must not call torch.nn.LSTMCell",
    ),
    (checks.check_lstm_step, "only h", lambda **a: lstm_step_per_gate(**a)[0], "tuple of 2 values"),
    (
        checks.check_gru_step,
        "z swapped",
        lambda **a: gru_step_columns(**a, swap=True),
        "z and 1 - z are swapped",
    ),
    (
        checks.check_gru_step,
        "Cho/D2L reset",
        lambda **a: gru_step_columns(**a, reset="before"),
        "before the matrix product",
    ),
    (
        checks.check_gru_forward,
        "Cho/D2L reset over a sequence",
        lambda x, h0, **w: unroll(
            lambda x_t, h: gru_step_columns(x_t, h, **w, reset="before"), x, h0
        )[0],
        "before the matrix product",
    ),
    (
        checks.check_repack_cs231n,
        "not transposed",
        lambda Wx, Wh, b, x, h0: (Wx, Wh, b, np.zeros_like(b)),
        "check for a transpose",
    ),
    (
        checks.check_repack_cs231n,
        "W_hh alone left in CS231n's order",
        _repack_with_hh_left_in_cs231n_order,
        "W_ih: right.\n    W_hh: the gate blocks are left in CS231n's order",
    ),
    (
        checks.check_cue_carrier,
        "forget gate 0.99: enough for 100 fillers, not for 1000",
        cue_reference_in(4, f_bias=np.log(99.0)),
        "and 1000 fillers your cell state has decayed to",
    ),
    (
        checks.check_cue_carrier,
        "forget gate open on the fillers only",
        _forget_open_on_fillers_only,
        "the forget gate is lowest at 'i' (index 102 of the sentence), 0.50,",
    ),
    (
        checks.check_cue_carrier,
        "input gate ajar on every word",
        _input_gate_ajar,
        "the input gate is open on them (it averages 2.5e-03 there;",
    ),
    (  # review: four cues hard-coded passed every visible case until one had two cues
        checks.check_cue_carrier,
        "four cues hard-coded",
        _four_cues_hard_coded,
        "IndexError",
    ),
    (checks.check_cue_carrier, "H = 33", cue_reference_in(33), "between 1 and 32"),
    (checks.check_cue_carrier, "a bias of 500", _huge_forget_bias, "within -100..100"),
    (checks.check_cue_carrier, "W_hy one column too many", _hy_too_wide, "one hidden size"),
    (checks.check_cue_carrier, "read-out too weak", _scaled_readout, "look at the read-out"),
]


@pytest.mark.parametrize(
    "check,name,fn,hint", MUTANTS, ids=[f"{c.__name__}-{n}" for c, n, _, _ in MUTANTS]
)
def test_mutants_are_rejected_with_a_pointed_message(check, name, fn, hint):
    assert_rejected(check, fn, hint, name)


def test_every_gate_permutation_is_named():
    """Not only CS231n's: each of the 23 wrong orders of i, f, g, o gets its own name."""
    from itertools import permutations

    for order in ("".join(p) for p in permutations("ifgo")):
        if order == "ifgo":
            continue
        mutant = functools.partial(lambda order, **a: lstm_step_per_gate(**a, order=order), order)
        with pytest.raises(AssertionError) as info:
            checks.check_lstm_step(positional(checks.check_lstm_step, mutant))
        assert ", ".join(order) in str(info.value), order


# ---------------------------------------------------------------- uses=: fix the earlier part first

NOTEBOOK = """
import numpy as np

def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))

def lstm_step(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    z = x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh
    i, f, o, g = np.split(z, 4, axis=1)          # CS231n's order, by mistake
    c_t = sigmoid(f) * c_prev + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c_t), c_t

def lstm_forward(x, h0, c0, W_ih, W_hh, b_ih, b_hh):
    h, c, hs = h0, c0, []
    for t in range(x.shape[1]):
        h, c = lstm_step(x[:, t], h, c, W_ih, W_hh, b_ih, b_hh)
        hs.append(h)
    return np.stack(hs, axis=1), c

def gru_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    a_r, a_z, a_n = np.split(x_t @ W_ih.T + b_ih, 3, axis=1)
    b_r, b_z, b_n = np.split(h_prev @ W_hh.T + b_hh, 3, axis=1)
    r, z = sigmoid(a_r + b_r), sigmoid(a_z + b_z)
    return z * np.tanh(a_n + r * b_n) + (1.0 - z) * h_prev   # z and 1 - z swapped

def gru_forward(x, h0, W_ih, W_hh, b_ih, b_hh):
    h, hs = h0, []
    for t in range(x.shape[1]):
        h = gru_step(x[:, t], h, W_ih, W_hh, b_ih, b_hh)
        hs.append(h)
    return np.stack(hs, axis=1)
"""


@pytest.mark.parametrize(
    "check,step", [(checks.check_lstm_forward, "lstm_step"), (checks.check_gru_forward, "gru_step")]
)
def test_a_sequence_calling_a_wrong_step_is_told_to_fix_the_step_first(check, step):
    namespace: dict = {}
    exec(compile(NOTEBOOK, "<notebook>", "exec"), namespace)
    message = assert_rejected(check, namespace[check.part.name], "fix it first")
    assert f"your `{step}`, which fails its own check (`check_{step}`)" in message


def test_a_wrong_sequence_with_a_right_step_is_not_sent_back_to_the_step():
    namespace: dict = {"np": np}
    exec(compile(NOTEBOOK, "<notebook>", "exec"), namespace)
    namespace["lstm_step"] = lstm_step_per_gate  # right
    exec(
        "def lstm_forward(x, h0, c0, W_ih, W_hh, b_ih, b_hh):\n"
        "    h, c, hs = h0, np.zeros_like(c0), []\n"
        "    for t in range(x.shape[1]):\n"
        "        h, c = lstm_step(x[:, t], h, c, W_ih, W_hh, b_ih, b_hh)\n"
        "        hs.append(h)\n"
        "    return np.stack(hs, axis=1), c\n",
        namespace,
    )
    message = assert_rejected(checks.check_lstm_forward, namespace["lstm_forward"], "c0 is ignored")
    assert "fix it first" not in message
