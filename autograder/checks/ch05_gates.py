"""Chapter 5's graded parts (LSTM and GRU gates), declared once.

References are ``torch.nn.LSTMCell`` / ``LSTM`` / ``GRUCell`` / ``GRU`` and
autograd (:mod:`autograder.references.ch05_gates`). The known mistakes are
computed by the small NumPy cells below, with one switch per mistake: every
other order of the packed gates (CS231n's i, f, o, g first), the GRU's
Cho/D2L reset placement, ``z`` and ``1 - z`` swapped, and so on.
"""

from __future__ import annotations

from itertools import permutations

import numpy as np

from ..parts import Case, Output, Part, recurrent_sizes
from ..references import ch05_gates as ref

__all__ = [
    "PARTS",
    "make_gated_case",
    "check_lstm_step",
    "check_lstm_forward",
    "check_gru_step",
    "check_gru_forward",
    "check_lstm_step_backward",
]

LSTM_MODULES = ("torch.nn.LSTM", "torch.nn.LSTMCell")
GRU_MODULES = ("torch.nn.GRU", "torch.nn.GRUCell")
LAYOUT = (
    "PyTorch's packed layout: W_ih is (G*H, D) and W_hh is (G*H, H) with G = 4 gate "
    "blocks for the LSTM (i, f, g, o) and G = 3 for the GRU (r, z, n); b_ih and b_hh are "
    "(G*H,). Block k is rows k*H:(k+1)*H. With a batch of rows x_t (B, D), the gate "
    "pre-activations are x_t @ W_ih.T + b_ih + h @ W_hh.T + b_hh."
)


def make_gated_case(
    seed, gates, *, batch=None, seq_len=None, input_size=None, hidden_size=None, zero_state=False
):
    """Random inputs for a gated cell with ``gates`` blocks (4: LSTM, 3: GRU)."""
    rng = np.random.default_rng(seed)
    B = batch or int(rng.integers(2, 6))
    T = seq_len or int(rng.integers(3, 8))
    D = input_size or int(rng.integers(2, 6))
    H = hidden_size or int(rng.choice([h for h in range(2, 7) if h != D]))
    s = 1.2 / np.sqrt(H)
    state = (lambda: np.zeros((B, H))) if zero_state else (lambda: rng.normal(0, 0.6, (B, H)))
    return {
        "x": rng.normal(0, 1, (B, T, D)),
        "h0": state(),
        "c0": state(),
        "W_ih": rng.normal(0, s, (gates * H, D)),
        "W_hh": rng.normal(0, s, (gates * H, H)),
        "b_ih": rng.normal(0, 0.5, gates * H),
        "b_hh": rng.normal(0, 0.5, gates * H),
    }


def _sizes(args):
    return recurrent_sizes(args)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# ---------------------------------------------------------------- NumPy cells with switches


def _lstm_np(
    x_t,
    h,
    c,
    W_ih,
    W_hh,
    b_ih,
    b_hh,
    *,
    order="ifgo",
    g_act="tanh",
    out_tanh=True,
    forget_on_candidate=False,
    one_bias=False,
    transposed=False,
):
    H = h.shape[1]
    Wh = W_hh.reshape(4, H, H).transpose(0, 2, 1).reshape(4 * H, H) if transposed else W_hh
    z = x_t @ W_ih.T + b_ih + h @ Wh.T + (0.0 if one_bias else b_hh)
    blocks = dict(zip(order, np.split(z, 4, axis=1)))
    i, f, o = _sigmoid(blocks["i"]), _sigmoid(blocks["f"]), _sigmoid(blocks["o"])
    g = np.tanh(blocks["g"]) if g_act == "tanh" else _sigmoid(blocks["g"])
    c_new = (i * c + f * g) if forget_on_candidate else (f * c + i * g)
    h_new = o * (np.tanh(c_new) if out_tanh else c_new)
    return h_new, c_new


def _gru_np(
    x_t, h, W_ih, W_hh, b_ih, b_hh, *, order="rzn", swap_z=False, reset="after", one_bias=False
):
    gi = dict(zip(order, np.split(x_t @ W_ih.T + b_ih, 3, axis=1)))
    W = dict(zip(order, np.split(W_hh, 3, axis=0)))
    bh = dict(zip(order, np.split(b_hh, 3)))
    r = _sigmoid(gi["r"] + h @ W["r"].T + bh["r"])
    z = _sigmoid(gi["z"] + h @ W["z"].T + bh["z"])
    if reset == "before":  # Cho et al. / D2L: reset applied to h before the product
        n = np.tanh(gi["n"] + (r * h) @ W["n"].T + bh["n"])
    elif reset == "bias_outside":
        n = np.tanh(gi["n"] + r * (h @ W["n"].T) + bh["n"])
    else:
        n = np.tanh(gi["n"] + r * (h @ W["n"].T + (0.0 if one_bias else bh["n"])))
    return z * n + (1 - z) * h if swap_z else (1 - z) * n + z * h


def _unroll(step, x, *states):
    hs = []
    for t in range(x.shape[1]):
        out = step(x[:, t], *states)
        states = out if isinstance(out, tuple) else (out,)
        hs.append(states[0])
    return np.stack(hs, axis=1), states


LSTM_ORDERS = ["".join(p) for p in permutations("ifgo") if "".join(p) != "ifgo"]
GRU_ORDERS = ["".join(p) for p in permutations("rzn") if "".join(p) != "rzn"]


def _order_text(order):
    return ", ".join(order)


def _lstm_variants():
    """(description, switches) of every known LSTM mistake, the most common first."""
    yield (
        "the packed gates are read in CS231n's order i, f, o, g (PyTorch packs i, f, g, o)",
        {"order": "ifog"},
    )
    yield (
        "the cell state is not passed through tanh in the output (h = o * tanh(c))",
        {"out_tanh": False},
    )
    yield ("sigmoid is used where tanh belongs, for the candidate g", {"g_act": "sigmoid"})
    yield (
        "the forget gate is applied to the candidate and the input gate to the old cell "
        "(c_t = f * c_{t-1} + i * g)",
        {"forget_on_candidate": True},
    )
    yield ("only one bias is added (PyTorch adds both b_ih and b_hh)", {"one_bias": True})
    yield ("each gate's block of W_hh is used transposed", {"transposed": True})
    for order in LSTM_ORDERS:
        if order != "ifog":
            yield (
                f"the packed gates are read in the order {_order_text(order)} (PyTorch "
                f"packs i, f, g, o)",
                {"order": order},
            )


def _gru_variants():
    yield ("z and 1 - z are swapped (PyTorch: h_t = (1 - z) * n + z * h_{t-1})", {"swap_z": True})
    yield (
        "the reset gate is applied before the matrix product (Cho et al. / D2L: "
        "W_hn (r * h); PyTorch: r * (W_hn h + b_hn))",
        {"reset": "before"},
    )
    yield (
        "b_hn is added outside the reset product (PyTorch: r * (W_hn h + b_hn))",
        {"reset": "bias_outside"},
    )
    yield ("b_hn is left out", {"one_bias": True})
    for order in GRU_ORDERS:
        yield (
            f"the packed gates are read in the order {_order_text(order)} (PyTorch packs r, z, n)",
            {"order": order},
        )


# ---------------------------------------------------------------- part 1: lstm_step

LSTM_STEP_ARGS = ("x_t", "h_prev", "c_prev", "W_ih", "W_hh", "b_ih", "b_hh")


def _one_step(seed, gates, names, **sizes):
    """The inputs of one step of a gated cell (the first step of a drawn case)."""
    a = make_gated_case(seed, gates, **{**sizes, "seq_len": 1})
    step = {**a, "x_t": a["x"][:, 0], "h_prev": a["h0"], "c_prev": a["c0"]}
    return {name: step[name] for name in names}


def _lstm_step_inputs(seed, **sizes):
    return _one_step(seed, 4, LSTM_STEP_ARGS, **sizes)


def _variant_outputs(cell, args, variants):
    """{description: () -> what the cell computes under that mistake}."""
    return {desc: (lambda sw=sw: cell(*args, **sw)) for desc, sw in variants()}


def _lstm_step_mistakes(a):
    return _variant_outputs(_lstm_np, [a[k] for k in LSTM_STEP_ARGS], _lstm_variants)


HC_AXES = ("batch row", "hidden unit")

LSTM_STEP = Part(
    grade_id="lstm_step",
    points=3,
    signature=LSTM_STEP_ARGS,
    inputs=_lstm_step_inputs,
    reference=ref.lstm_step,
    reference_name="torch.nn.LSTMCell",
    outputs=(
        Output("h_t", "hidden state h_t", axes=HC_AXES),
        Output("c_t", "cell state c_t", axes=HC_AXES),
    ),
    visible=(Case(0), Case(1, batch=6, hidden_size=5)),
    hidden=(
        Case(1301),
        Case(1302),
        Case(1303, batch=1),
        Case(1304, zero_state=True),
        Case(1305, input_size=1, hidden_size=1),
    ),
    forbidden=LSTM_MODULES,
    mistakes=_lstm_step_mistakes,
    hint=LAYOUT + " Return (h_t, c_t), each (B, H).",
    sizes=_sizes,
)


# ---------------------------------------------------------------- part 2: lstm_forward

LSTM_FORWARD_ARGS = ("x", "h0", "c0", "W_ih", "W_hh", "b_ih", "b_hh")


def _lstm_forward_inputs(seed, **sizes):
    a = make_gated_case(seed, 4, **sizes)
    return {k: a[k] for k in LSTM_FORWARD_ARGS}


def _lstm_forward_np(a, **sw):
    hs, (h, c) = _unroll(
        lambda x_t, h, c: _lstm_np(x_t, h, c, a["W_ih"], a["W_hh"], a["b_ih"], a["b_hh"], **sw),
        a["x"],
        a["h0"],
        a["c0"],
    )
    return hs, c


def _lstm_no_carry(a):
    h, hs = a["h0"], []
    for t in range(a["x"].shape[1]):
        h, c = _lstm_np(a["x"][:, t], h, a["c0"], a["W_ih"], a["W_hh"], a["b_ih"], a["b_hh"])
        hs.append(h)
    return np.stack(hs, axis=1), c


def _lstm_forward_mistakes(a):
    out = {desc: (lambda sw=sw: _lstm_forward_np(a, **sw)) for desc, sw in _lstm_variants()}
    out["the cell state is not carried forward (every step starts again from c0)"] = lambda: (
        _lstm_no_carry(a)
    )
    out["c0 is ignored (zeros used instead)"] = lambda: _lstm_forward_np(
        {**a, "c0": np.zeros_like(a["c0"])}
    )
    return out


LSTM_FORWARD = Part(
    grade_id="lstm_forward",
    points=3,
    signature=LSTM_FORWARD_ARGS,
    inputs=_lstm_forward_inputs,
    reference=ref.lstm_forward,
    reference_name="torch.nn.LSTM with batch_first=True",
    outputs=(
        Output(
            "hs",
            "hidden states h_1..h_T",
            axes=("batch row", "time step", "hidden unit"),
            time_axis=1,
        ),
        Output("c_T", "last cell state c_T", axes=HC_AXES),
    ),
    visible=(Case(0), Case(1, seq_len=10)),
    hidden=(
        Case(1401),
        Case(1402),
        Case(1403, batch=1),
        Case(1404, seq_len=1),
        Case(1405, zero_state=True),
        Case(1406, seq_len=20),
    ),
    forbidden=LSTM_MODULES,
    mistakes=_lstm_forward_mistakes,
    hint=LAYOUT + " Return (hs, c_T): hs (B, T, H) holds h_1..h_T, c_T is (B, H).",
    sizes=_sizes,
)


# ---------------------------------------------------------------- part 3: gru_step

GRU_STEP_ARGS = ("x_t", "h_prev", "W_ih", "W_hh", "b_ih", "b_hh")


def _gru_step_inputs(seed, **sizes):
    return _one_step(seed, 3, GRU_STEP_ARGS, **sizes)


def _gru_step_mistakes(a):
    return _variant_outputs(_gru_np, [a[k] for k in GRU_STEP_ARGS], _gru_variants)


GRU_STEP = Part(
    grade_id="gru_step",
    points=3,
    signature=GRU_STEP_ARGS,
    inputs=_gru_step_inputs,
    reference=ref.gru_step,
    reference_name="torch.nn.GRUCell",
    outputs=(Output("h_t", "hidden state h_t", axes=HC_AXES),),
    visible=(Case(0), Case(1, batch=6, hidden_size=5)),
    hidden=(
        Case(1501),
        Case(1502),
        Case(1503, batch=1),
        Case(1504, zero_state=True),
        Case(1505, input_size=1, hidden_size=1),
    ),
    forbidden=GRU_MODULES,
    mistakes=_gru_step_mistakes,
    hint=LAYOUT + " Return h_t, (B, H).",
    sizes=_sizes,
)


# ---------------------------------------------------------------- part 4: gru_forward

GRU_FORWARD_ARGS = ("x", "h0", "W_ih", "W_hh", "b_ih", "b_hh")


def _gru_forward_inputs(seed, **sizes):
    a = make_gated_case(seed, 3, **sizes)
    return {k: a[k] for k in GRU_FORWARD_ARGS}


def _gru_forward_mistakes(a):
    def run(**sw):
        return _unroll(
            lambda x_t, h: _gru_np(x_t, h, a["W_ih"], a["W_hh"], a["b_ih"], a["b_hh"], **sw),
            a["x"],
            a["h0"],
        )[0]

    out = {desc: (lambda sw=sw: run(**sw)) for desc, sw in _gru_variants()}
    out["the states are shifted by one time step (h_0..h_{T-1} returned instead of h_1..h_T)"] = (
        lambda: np.concatenate([a["h0"][:, None], run()[:, :-1]], axis=1)
    )
    return out


GRU_FORWARD = Part(
    grade_id="gru_forward",
    points=3,
    signature=GRU_FORWARD_ARGS,
    inputs=_gru_forward_inputs,
    reference=ref.gru_forward,
    reference_name="torch.nn.GRU with batch_first=True",
    outputs=(
        Output(
            "hs",
            "hidden states h_1..h_T",
            axes=("batch row", "time step", "hidden unit"),
            time_axis=1,
        ),
    ),
    visible=(Case(0), Case(1, seq_len=10)),
    hidden=(
        Case(1601),
        Case(1602),
        Case(1603, batch=1),
        Case(1604, seq_len=1),
        Case(1605, zero_state=True),
        Case(1606, seq_len=20),
    ),
    forbidden=GRU_MODULES,
    mistakes=_gru_forward_mistakes,
    hint=LAYOUT + " Return hs, (B, T, H), holding h_1..h_T.",
    sizes=_sizes,
)


# ---------------------------------------------------------------- part 5: lstm_step_backward

BACKWARD_ARGS = ("dh_t", "dc_t") + LSTM_STEP_ARGS


def _backward_inputs(seed, **sizes):
    a = _lstm_step_inputs(seed, **sizes)
    rng = np.random.default_rng(seed + 5)
    return {
        "dh_t": rng.normal(0, 1, a["h_prev"].shape),
        "dc_t": rng.normal(0, 1, a["c_prev"].shape),
        **a,
    }


def _lstm_backward_np(a, *, dc_direct=True, tanh_grad=True, order="ifgo", c_prev_grad=True):
    """The LSTM step's backward pass by hand, with switches for the mistakes."""
    x, h, c = a["x_t"], a["h_prev"], a["c_prev"]
    H = h.shape[1]
    z = x @ a["W_ih"].T + a["b_ih"] + h @ a["W_hh"].T + a["b_hh"]
    blk = dict(zip(order, np.split(z, 4, axis=1)))
    i, f, o, g = _sigmoid(blk["i"]), _sigmoid(blk["f"]), _sigmoid(blk["o"]), np.tanh(blk["g"])
    c_new = f * c + i * g
    tc = np.tanh(c_new)
    dh, dc_in = a["dh_t"], a["dc_t"]
    dc = dh * o * ((1 - tc**2) if tanh_grad else 1.0) + (dc_in if dc_direct else 0.0)
    d = {
        "i": dc * g * i * (1 - i),
        "f": dc * c * f * (1 - f),
        "g": dc * i * (1 - g**2),
        "o": dh * tc * o * (1 - o),
    }
    dz = np.concatenate([d[k] for k in order], axis=1)
    dW_ih, dW_hh, db = dz.T @ x, dz.T @ h, dz.sum(axis=0)
    del H
    return (
        dz @ a["W_ih"],
        dz @ a["W_hh"],
        dc * f if c_prev_grad else dc,
        dW_ih,
        dW_hh,
        db,
        db.copy(),
    )


def _backward_mistakes(a):
    return {
        "the gradient dc_t arriving at the cell state directly is left out (dc = dh * o * "
        "(1 - tanh(c_t)**2) + dc_t)": lambda: _lstm_backward_np(a, dc_direct=False),
        "the derivative of tanh(c_t) in h_t = o * tanh(c_t) is left out": lambda: _lstm_backward_np(
            a, tanh_grad=False
        ),
        "dc_prev is not multiplied by the forget gate (dc_prev = dc * f)": lambda: (
            _lstm_backward_np(a, c_prev_grad=False)
        ),
        "the gate gradients are packed in CS231n's order i, f, o, g (PyTorch: i, f, g, o)": lambda: (
            _lstm_backward_np(a, order="ifog")
        ),
    }


def _grad(name, axes):
    return Output(name, f"gradient {name}", axes=axes)


LSTM_STEP_BACKWARD = Part(
    grade_id="lstm_step_backward",
    points=4,
    signature=BACKWARD_ARGS,
    inputs=_backward_inputs,
    reference=ref.lstm_step_backward,
    reference_name="torch.autograd through torch.nn.LSTMCell",
    outputs=(
        _grad("dx_t", ("batch row", "input unit")),
        _grad("dh_prev", HC_AXES),
        _grad("dc_prev", HC_AXES),
        _grad("dW_ih", ("gate row", "input unit")),
        _grad("dW_hh", ("gate row", "hidden unit")),
        _grad("db_ih", ("gate row",)),
        _grad("db_hh", ("gate row",)),
    ),
    visible=(Case(0), Case(1, batch=5, hidden_size=4)),
    hidden=(
        Case(1701),
        Case(1702),
        Case(1703, batch=1),
        Case(1704, zero_state=True),
        Case(1705, input_size=1, hidden_size=1),
    ),
    forbidden=LSTM_MODULES + ("torch.autograd.backward", "torch.autograd.grad"),
    mistakes=_backward_mistakes,
    hint=LAYOUT + " Return (dx_t, dh_prev, dc_prev, dW_ih, dW_hh, db_ih, db_hh) for the loss "
    "L = sum(dh_t * h_t) + sum(dc_t * c_t).",
    sizes=_sizes,
)

PARTS = (LSTM_STEP, LSTM_FORWARD, GRU_STEP, GRU_FORWARD, LSTM_STEP_BACKWARD)

check_lstm_step = LSTM_STEP.make_check()
check_lstm_forward = LSTM_FORWARD.make_check()
check_gru_step = GRU_STEP.make_check()
check_gru_forward = GRU_FORWARD.make_check()
check_lstm_step_backward = LSTM_STEP_BACKWARD.make_check()
