"""Chapter 5 checks: honest LSTM/GRU variants pass, the gate mix-ups are rejected and named."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from conftest import assert_passes, assert_rejected, positional, solution_namespace

from autograder.checks import ch05_gates as checks

SOL = solution_namespace("05-gates")


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


HONEST = [
    (checks.check_lstm_step, SOL["lstm_step"]),
    (checks.check_lstm_step, lstm_step_per_gate),
    (checks.check_lstm_forward, SOL["lstm_forward"]),
    (
        checks.check_lstm_forward,
        lambda x, h0, c0, W_ih, W_hh, b_ih, b_hh: (lambda hs_state: (hs_state[0], hs_state[1][1]))(
            unroll(
                lambda x_t, h, c: lstm_step_per_gate(x_t, h, c, W_ih, W_hh, b_ih, b_hh), x, h0, c0
            )
        ),
    ),
    (checks.check_gru_step, SOL["gru_step"]),
    (checks.check_gru_step, gru_step_columns),
    (checks.check_gru_forward, SOL["gru_forward"]),
    (checks.check_lstm_step_backward, SOL["lstm_step_backward"]),
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
