"""Chapter 5's graded parts (LSTM and GRU gates), declared once.

References are ``torch.nn.LSTMCell`` / ``LSTM`` / ``GRUCell`` / ``GRU`` and
autograd (:mod:`autograder.references.ch05_gates`). The known mistakes are
computed by the small NumPy cells below, with one switch per mistake: every
other order of the packed gates (CS231n's i, f, o, g first), the GRU's
Cho/D2L reset placement, ``z`` and ``1 - z`` swapped, and so on.

Two parts are judged by a property, not by equality with one answer:

* ``repack_cs231n`` (real-world): CS231n's LSTM weights moved into PyTorch's layout must make
  ``nn.LSTM`` compute what CS231n's ``lstm_forward`` computes on the case's inputs (any split
  of the bias between ``b_ih`` and ``b_hh`` is right);
* ``cue_carrier`` (design): hand-made LSTM weights and a read-out must answer every sentence
  of the cue-to-blank language (:mod:`autograder.experiments.cue_task`) in the case, across
  up to 1,000 filler words (visible and hidden cases alike, so that a belt that leaks a little
  cannot pass the visible test and fail a longer hidden one); a failure is explained from the gates of the first sentence that
  fails (the belt leaks, fillers overwrite the cue, the output gate is shut at the blank, ...).
"""

from __future__ import annotations

from itertools import permutations

import numpy as np

from ..experiments import cue_task as cue
from ..judging import close
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
    "check_repack_cs231n",
    "check_cue_carrier",
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


# Descriptions quote the correct formula after "correct:", so that the bracket does not read
# as the mistake.
def _lstm_variants():
    """(description, switches) of every known LSTM mistake, the most common first."""
    yield (
        "the packed gates are read in CS231n's order i, f, o, g (PyTorch packs i, f, g, o)",
        {"order": "ifog"},
    )
    yield (
        "the cell state is not passed through tanh in the output (correct: h = o * tanh(c))",
        {"out_tanh": False},
    )
    yield ("sigmoid is used where tanh belongs, for the candidate g", {"g_act": "sigmoid"})
    yield (
        "the forget gate is applied to the candidate and the input gate to the old cell "
        "(correct: c_t = f * c_{t-1} + i * g)",
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
    yield (
        "z and 1 - z are swapped (correct, as in PyTorch: h_t = (1 - z) * n + z * h_{t-1})",
        {"swap_z": True},
    )
    yield (
        "the reset gate is applied before the matrix product (as in Cho et al. and D2L: "
        "W_hn (r * h); correct here, as in PyTorch: r * (W_hn h + b_hn))",
        {"reset": "before"},
    )
    yield (
        "b_hn is added outside the reset product (correct: r * (W_hn h + b_hn))",
        {"reset": "bias_outside"},
    )
    yield ("b_hn is left out", {"one_bias": True})
    for order in GRU_ORDERS:
        yield (
            f"the packed gates are read in the order {_order_text(order)} (PyTorch packs r, z, n)",
            {"order": order},
        )


# ---------------------------------------------------------------- what the cells share

HC_AXES = ("batch row", "hidden unit")
HS = Output(
    "hs", "hidden states h_1..h_T", axes=("batch row", "time step", "hidden unit"), time_axis=1
)
CELLS = {  # forbidden modules, reference names of a step and of a whole sequence
    "LSTM": (LSTM_MODULES, "torch.nn.LSTMCell", "torch.nn.LSTM with batch_first=True"),
    "GRU": (GRU_MODULES, "torch.nn.GRUCell", "torch.nn.GRU with batch_first=True"),
}


def _step_cases(base):
    """A step's cases: hidden seeds base+1.. with one row, zero states and size 1."""
    return {
        "visible": (Case(0), Case(1, batch=6, hidden_size=5)),
        "hidden": (
            Case(base + 1),
            Case(base + 2),
            Case(base + 3, batch=1),
            Case(base + 4, zero_state=True),
            Case(base + 5, input_size=1, hidden_size=1),
        ),
    }


def _sequence_cases(base):
    """A whole sequence's cases: hidden seeds base+1.., one row, one step, long sequences."""
    return {
        "visible": (Case(0), Case(1, seq_len=10)),
        "hidden": (
            Case(base + 1),
            Case(base + 2),
            Case(base + 3, batch=1),
            Case(base + 4, seq_len=1),
            Case(base + 5, zero_state=True),
            Case(base + 6, seq_len=20),
        ),
    }


def _cell_part(cell, *, sequence=False, base, returns, **fields):
    """A part about one of the chapter's cells ("LSTM" or "GRU"), one step or a whole sequence:
    the cases, forbidden modules, reference name, hint and sizes they share; ``fields`` are the
    part's own (they may override the shared ones)."""
    forbidden, step_name, sequence_name = CELLS[cell]
    shared = {
        "points": 3,
        "reference_name": sequence_name if sequence else step_name,
        "forbidden": forbidden,
        "hint": f"{LAYOUT} {returns}",
        "sizes": _sizes,
        **(_sequence_cases(base) if sequence else _step_cases(base)),
    }
    return Part(**{**shared, **fields})


def _one_step(seed, gates, names, **sizes):
    """The inputs of one step of a gated cell (the first step of a drawn case)."""
    a = make_gated_case(seed, gates, **{**sizes, "seq_len": 1})
    step = {**a, "x_t": a["x"][:, 0], "h_prev": a["h0"], "c_prev": a["c0"]}
    return {name: step[name] for name in names}


def _sequence(seed, gates, names, **sizes):
    a = make_gated_case(seed, gates, **sizes)
    return {k: a[k] for k in names}


def _variant_outputs(cell, args, variants):
    """{description: () -> what the cell computes under that mistake}."""
    return {desc: (lambda sw=sw: cell(*args, **sw)) for desc, sw in variants()}


def _unrolled(cell, a, states, **sw):
    """``cell`` with the mistake switches ``sw`` run over ``a["x"]`` from ``states``."""
    weights = [a[k] for k in ("W_ih", "W_hh", "b_ih", "b_hh")]
    return _unroll(lambda x_t, *s: cell(x_t, *s, *weights, **sw), a["x"], *states)


# ---------------------------------------------------------------- parts 1, 3: one step

LSTM_STEP_ARGS = ("x_t", "h_prev", "c_prev", "W_ih", "W_hh", "b_ih", "b_hh")
GRU_STEP_ARGS = ("x_t", "h_prev", "W_ih", "W_hh", "b_ih", "b_hh")


def _lstm_step_inputs(seed, **sizes):
    return _one_step(seed, 4, LSTM_STEP_ARGS, **sizes)


def _gru_step_inputs(seed, **sizes):
    return _one_step(seed, 3, GRU_STEP_ARGS, **sizes)


def _lstm_step_mistakes(a):
    return _variant_outputs(_lstm_np, [a[k] for k in LSTM_STEP_ARGS], _lstm_variants)


def _gru_step_mistakes(a):
    return _variant_outputs(_gru_np, [a[k] for k in GRU_STEP_ARGS], _gru_variants)


LSTM_STEP = _cell_part(
    "LSTM",
    grade_id="lstm_step",
    signature=LSTM_STEP_ARGS,
    inputs=_lstm_step_inputs,
    reference=ref.lstm_step,
    outputs=(
        Output("h_t", "hidden state h_t", axes=HC_AXES),
        Output("c_t", "cell state c_t", axes=HC_AXES),
    ),
    mistakes=_lstm_step_mistakes,
    returns="Return (h_t, c_t), each (B, H).",
    base=1300,
)

GRU_STEP = _cell_part(
    "GRU",
    grade_id="gru_step",
    signature=GRU_STEP_ARGS,
    inputs=_gru_step_inputs,
    reference=ref.gru_step,
    outputs=(Output("h_t", "hidden state h_t", axes=HC_AXES),),
    mistakes=_gru_step_mistakes,
    returns="Return h_t, (B, H).",
    base=1500,
)


# ---------------------------------------------------------------- parts 2, 4: whole sequences

LSTM_FORWARD_ARGS = ("x", "h0", "c0", "W_ih", "W_hh", "b_ih", "b_hh")
GRU_FORWARD_ARGS = ("x", "h0", "W_ih", "W_hh", "b_ih", "b_hh")


def _lstm_forward_inputs(seed, **sizes):
    return _sequence(seed, 4, LSTM_FORWARD_ARGS, **sizes)


def _gru_forward_inputs(seed, **sizes):
    return _sequence(seed, 3, GRU_FORWARD_ARGS, **sizes)


def _lstm_forward_np(a, **sw):
    hs, (_, c) = _unrolled(_lstm_np, a, (a["h0"], a["c0"]), **sw)
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


def _gru_forward_mistakes(a):
    def run(**sw):
        return _unrolled(_gru_np, a, (a["h0"],), **sw)[0]

    out = {desc: (lambda sw=sw: run(**sw)) for desc, sw in _gru_variants()}
    out["the states are shifted by one time step (h_0..h_{T-1} returned instead of h_1..h_T)"] = (
        lambda: np.concatenate([a["h0"][:, None], run()[:, :-1]], axis=1)
    )
    return out


LSTM_FORWARD = _cell_part(
    "LSTM",
    grade_id="lstm_forward",
    signature=LSTM_FORWARD_ARGS,
    inputs=_lstm_forward_inputs,
    reference=ref.lstm_forward,
    outputs=(HS, Output("c_T", "last cell state c_T", axes=HC_AXES)),
    mistakes=_lstm_forward_mistakes,
    returns="Return (hs, c_T): hs (B, T, H) holds h_1..h_T, c_T is (B, H).",
    sequence=True,
    base=1400,
    uses=(LSTM_STEP,),
)

GRU_FORWARD = _cell_part(
    "GRU",
    grade_id="gru_forward",
    signature=GRU_FORWARD_ARGS,
    inputs=_gru_forward_inputs,
    reference=ref.gru_forward,
    outputs=(HS,),
    mistakes=_gru_forward_mistakes,
    returns="Return hs, (B, T, H), holding h_1..h_T.",
    sequence=True,
    base=1600,
    uses=(GRU_STEP,),
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


def _lstm_backward_np(
    a,
    *,
    dc_direct=True,
    tanh_grad=True,
    order="ifgo",
    c_prev_grad=True,
    sigmoid_grad=True,
    candidate_grad=True,
    averaged=False,
):
    """The LSTM step's backward pass by hand, with switches for the mistakes."""
    x, h, c = a["x_t"], a["h_prev"], a["c_prev"]
    z = x @ a["W_ih"].T + a["b_ih"] + h @ a["W_hh"].T + a["b_hh"]
    blk = dict(zip(order, np.split(z, 4, axis=1)))
    i, f, o, g = _sigmoid(blk["i"]), _sigmoid(blk["f"]), _sigmoid(blk["o"]), np.tanh(blk["g"])
    c_new = f * c + i * g
    tc = np.tanh(c_new)
    dh, dc_in = a["dh_t"], a["dc_t"]
    dc = dh * o * ((1 - tc**2) if tanh_grad else 1.0) + (dc_in if dc_direct else 0.0)

    def ds(s):  # the sigmoid's derivative, or 1 where it is forgotten
        return s * (1 - s) if sigmoid_grad else 1.0

    d = {
        "i": dc * g * ds(i),
        "f": dc * c * ds(f),
        "g": dc * i * ((1 - g**2) if candidate_grad else 1.0),
        "o": dh * tc * ds(o),
    }
    dz = np.concatenate([d[k] for k in order], axis=1)
    scale = 1.0 / x.shape[0] if averaged else 1.0
    dW_ih, dW_hh, db = scale * (dz.T @ x), scale * (dz.T @ h), scale * dz.sum(axis=0)
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
    switches = {
        "the gradient dc_t arriving at the cell state directly is left out (correct: dc = "
        "dh * o * (1 - tanh(c_t)**2) + dc_t)": {"dc_direct": False},
        "the derivative of tanh(c_t) in h_t = o * tanh(c_t) is left out": {"tanh_grad": False},
        "dc_prev is not multiplied by the forget gate (correct: dc_prev = dc * f)": {
            "c_prev_grad": False
        },
        "the gate gradients are packed in CS231n's order i, f, o, g (PyTorch: i, f, g, o)": {
            "order": "ifog"
        },
        "the sigmoid's derivative is left out of the gates i, f, o (correct: di = dc * g * "
        "i * (1 - i), and so on)": {"sigmoid_grad": False},
        "the tanh derivative is left out of the candidate's gradient (correct: dg = dc * i * "
        "(1 - g**2))": {"candidate_grad": False},
        "the weight and bias gradients are averaged over the batch instead of summed": {
            "averaged": True
        },
    }
    return {desc: (lambda sw=sw: _lstm_backward_np(a, **sw)) for desc, sw in switches.items()}


def _grad(name, axes):
    return Output(name, f"gradient {name}", axes=axes)


LSTM_STEP_BACKWARD = _cell_part(
    "LSTM",
    grade_id="lstm_step_backward",
    signature=BACKWARD_ARGS,
    inputs=_backward_inputs,
    reference=ref.lstm_step_backward,
    outputs=(
        _grad("dx_t", ("batch row", "input unit")),
        _grad("dh_prev", HC_AXES),
        _grad("dc_prev", HC_AXES),
        _grad("dW_ih", ("gate row", "input unit")),
        _grad("dW_hh", ("gate row", "hidden unit")),
        _grad("db_ih", ("gate row",)),
        _grad("db_hh", ("gate row",)),
    ),
    mistakes=_backward_mistakes,
    returns="Return (dx_t, dh_prev, dc_prev, dW_ih, dW_hh, db_ih, db_hh) for the loss "
    "L = sum(dh_t * h_t) + sum(dc_t * c_t).",
    base=1700,
    visible=(Case(0), Case(1, batch=5, hidden_size=4)),
    points=4,
    reference_name="torch.autograd through torch.nn.LSTMCell",
    forbidden=LSTM_MODULES + ("torch.autograd.backward", "torch.autograd.grad"),
    uses=(LSTM_STEP,),
)


# ---------------------------------------------------------------- part 6: repack_cs231n

REPACK_ARGS = ("Wx", "Wh", "b", "x", "h0")
_TORCH_BLOCKS = ("i", "f", "g", "o")


def _repack_inputs(seed, **sizes):
    """CS231n's weights (the transposed, reordered image of a drawn PyTorch LSTM) and the
    inputs x (N, T, D), h0 (N, H) the two forwards are compared on."""
    a = make_gated_case(seed, 4, **sizes)
    H = a["h0"].shape[1]
    back = ref.other_gate_order  # one swap of the last two blocks, either way
    return {
        "Wx": back(a["W_ih"].T, H),
        "Wh": back(a["W_hh"].T, H),
        "b": back(a["b_ih"] + a["b_hh"], H),
        "x": a["x"],
        "h0": a["h0"],
    }


REPACK_ORDER = "the gate blocks are left in CS231n's order i, f, o, g (nn.LSTM reads i, f, g, o)"
REPACK_RESHAPED = "Wx is reshaped to (4H, D) instead of transposed"
REPACK_BLOCKS = "each gate's H x H block of Wh is copied without transposing it"
REPACK_TWICE = "the bias b is put into both b_ih and b_hh"


def _repack_layouts(a):
    """{array: [(what it holds, value)]}: the right layout and the known wrong ones, by the
    array of the student's answer they would give (b_ih + b_hh for the bias)."""
    H = a["h0"].shape[1]
    torch_x, torch_h = ref.other_gate_order(a["Wx"], H), ref.other_gate_order(a["Wh"], H)
    bias = ref.other_gate_order(a["b"], H)
    D = a["Wx"].shape[0]

    def untransposed_blocks(W):
        return np.concatenate([W[:, k * H : (k + 1) * H] for k in range(4)], axis=0)

    ordered = "; and " + REPACK_ORDER
    return {
        "W_ih": [
            ("right", torch_x.T),
            (REPACK_ORDER, a["Wx"].T),
            (REPACK_RESHAPED, torch_x.reshape(4 * H, D)),
            (REPACK_RESHAPED + ordered, a["Wx"].reshape(4 * H, D)),
        ],
        "W_hh": [
            ("right", torch_h.T),
            (REPACK_ORDER, a["Wh"].T),
            ("Wh is reshaped to (4H, H) instead of transposed", torch_h.reshape(4 * H, H)),
            (
                "Wh is reshaped to (4H, H) instead of transposed" + ordered,
                a["Wh"].reshape(4 * H, H),
            ),
            (REPACK_BLOCKS, untransposed_blocks(torch_h)),
            (REPACK_BLOCKS + ordered, untransposed_blocks(a["Wh"])),
        ],
        "b_ih + b_hh": [
            ("right", bias),
            (REPACK_ORDER, a["b"]),
            (REPACK_TWICE + " (their sum is 2b, and nn.LSTM adds the two)", 2 * bias),
            (REPACK_TWICE + " (their sum is 2b)" + ordered, 2 * a["b"]),
        ],
    }


def _what_it_holds(layouts, got, H, array):
    """The first layout ``got`` matches, else the first gate block that is wrong."""
    for text, value in layouts:
        if close(got, value).all():
            return text
    right = layouts[0][1]
    for k, gate in enumerate(_TORCH_BLOCKS):
        rows = slice(k * H, (k + 1) * H)
        if not close(got[rows], right[rows]).all():
            return (
                f"none of the known layouts; its first wrong block is block {k} (rows "
                f"{k}H:{k + 1}H, gate {gate}, which must hold CS231n's {gate} block"
                + (" transposed)" if array != "b_ih + b_hh" else ")")
            )
    return "right"


def _repack_property(args, values):
    W_ih, W_hh, b_ih, b_hh = values
    got = ref.lstm_forward(
        args["x"], args["h0"], np.zeros_like(args["h0"]), W_ih, W_hh, b_ih, b_hh
    )[0]
    want = ref.cs231n_lstm_forward(args["x"], args["h0"], args["Wx"], args["Wh"], args["b"])
    ok = close(got, want)
    if ok.all():
        return None
    n, t, u = (int(i) for i in np.argwhere(~ok)[0])
    H = args["h0"].shape[1]
    layouts = _repack_layouts(args)
    held = {
        "W_ih": _what_it_holds(layouts["W_ih"], W_ih, H, "W_ih"),
        "W_hh": _what_it_holds(layouts["W_hh"], W_hh, H, "W_hh"),
        "b_ih + b_hh": _what_it_holds(layouts["b_ih + b_hh"], b_ih + b_hh, H, "b_ih + b_hh"),
    }
    lines = [
        "nn.LSTM(batch_first=True) with your four arrays, started from h0 and c0 = 0, does not "
        "compute what CS231n's lstm_forward(x, h0, Wx, Wh, b) computes on this case's x and h0.",
        f"  First difference: sequence {n}, time step {t}, hidden unit {u} (indices start at "
        f"0): CS231n's forward gives {want[n, t, u]:+.6f}, nn.LSTM with yours {got[n, t, u]:+.6f}"
        f"; {int((~ok).sum())} of {ok.size} hidden values differ.",
        "  What each of your arrays holds:",
    ]
    lines += [f"    {name}: {text}." for name, text in held.items()]
    if all(text == "right" for text in held.values()):
        lines.append("  (All three are right, yet the outputs differ: ask your instructor.)")
    return "\n".join(lines)


def _repack_mistakes(a):
    H = a["h0"].shape[1]
    right = ref.repack_cs231n(**a)
    layouts = _repack_layouts(a)
    W_hh_blocks = dict(layouts["W_hh"])[REPACK_BLOCKS]
    zeros = np.zeros(4 * H)
    return {
        REPACK_ORDER: lambda: (a["Wx"].T.copy(), a["Wh"].T.copy(), a["b"].copy(), zeros),
        REPACK_TWICE: lambda: (right[0], right[1], right[2], right[2].copy()),
        REPACK_BLOCKS: lambda: (right[0], W_hh_blocks, right[2], zeros),
        REPACK_RESHAPED: lambda: (
            dict(layouts["W_ih"])[REPACK_RESHAPED],
            dict(layouts["W_hh"])["Wh is reshaped to (4H, H) instead of transposed"],
            right[2],
            zeros,
        ),
    }


REPACK_CS231N = Part(
    grade_id="repack_cs231n",
    points=2,
    signature=REPACK_ARGS,
    inputs=_repack_inputs,
    reference=ref.repack_cs231n,
    reference_name="torch.nn.LSTM against CS231n's lstm_forward",
    outputs=(
        Output("W_ih", "input weights W_ih", axes=("gate row", "input unit")),
        Output("W_hh", "hidden weights W_hh", axes=("gate row", "hidden unit")),
        Output("b_ih", "input bias b_ih", axes=("gate row",)),
        Output("b_hh", "hidden bias b_hh", axes=("gate row",)),
    ),
    visible=(Case(0), Case(1, batch=3, hidden_size=5)),
    hidden=(
        Case(1801),
        Case(1802, batch=1),
        Case(1803, seq_len=1),
        Case(1804, zero_state=True),
        Case(1805, input_size=1, hidden_size=1),
        Case(1806, seq_len=12),
    ),
    mistakes=_repack_mistakes,
    hint="CS231n's Wx is (D, 4H) and Wh (H, 4H), gates i, f, o, g; PyTorch's W_ih is (4H, D) "
    "and W_hh (4H, H), gates i, f, g, o, with two biases b_ih and b_hh of shape (4H,). Return "
    "(W_ih, W_hh, b_ih, b_hh).",
    sizes=_sizes,
    property_check=_repack_property,
)


# ---------------------------------------------------------------- part 7: cue_carrier (design)

CUE_ARGS = ("vocab_size", "cue_ids", "answer_ids", "blank_id", "sentences")
CUE_MARGIN = 1.0  # the answer's score must lead every other word's by this much
CUE_MAX_HIDDEN = 32
CUE_MAX_WEIGHT = 100.0


def _cue_inputs(seed, fillers=None, n_cues=None, batch=None):
    """``batch`` sentences of the cue-to-blank language with ``fillers`` filler words between
    the cue and "i want to go ___", and the word ids the weights need."""
    rng = np.random.default_rng(seed)
    fillers = int(rng.integers(20, 300)) if fillers is None else fillers
    n_cues = n_cues or int(rng.integers(2, len(cue.CUES) + 1))
    n = batch or 2 * n_cues
    task = cue.cue_task(n, fillers + cue.MIN_DISTANCE, n_cues=n_cues, seed=seed)
    return {
        "vocab_size": len(cue.VOCAB),
        "cue_ids": np.array([cue.WORD_TO_ID[w] for w in cue.CUES[:n_cues]], dtype=np.int64),
        "answer_ids": np.array([cue.WORD_TO_ID[w] for w in cue.ANSWERS[:n_cues]], dtype=np.int64),
        "blank_id": cue.WORD_TO_ID[cue.BLANK],
        "sentences": task.tokens,
    }


def _cue_sizes(args):
    N, T = args["sentences"].shape
    return {"N": N, "fillers": T - cue.MIN_DISTANCE - 2, "cues": len(args["cue_ids"])}


CUE_LEAK = "the forget gate is not near enough to 1, so the belt leaks"
CUE_OVERWRITE = "the words after the cue overwrite it: the input gate is open on them"
CUE_SHUT = "the output gate is shut at the blank"
CUE_ORDER = "the gate blocks are packed in CS231n's order i, f, o, g (nn.LSTM reads i, f, g, o)"
CUE_NO_WRITE = "the cue is never written onto the belt"
CUE_READS_CUE = "the read-out scores the cue word itself instead of its answer"


def _cue_size_problem(args, values) -> str | None:
    """The sizes must agree on one H (1..CUE_MAX_HIDDEN) and every entry stay within bounds."""
    W_ih, W_hh, b_ih, b_hh, W_hy, b_y = values
    H = W_hh.shape[1]
    want = {
        "W_ih": (4 * H, args["vocab_size"]),
        "W_hh": (4 * H, H),
        "b_ih": (4 * H,),
        "b_hh": (4 * H,),
        "W_hy": (args["vocab_size"], H),
    }
    wrong = [
        f"{name} is {got.shape}, not {want[name]}"
        for name, got in zip(("W_ih", "W_hh", "b_ih", "b_hh", "W_hy"), values)
        if got.shape != want[name]
    ]
    if wrong:
        return (
            f"Your arrays do not agree on one hidden size: W_hh has {H} columns, so H = {H}, "
            f"and then " + "; ".join(wrong) + ". (PyTorch's packing: 4H gate rows, in the "
            "order i, f, g, o; the read-out W_hy is (vocab_size, H).)"
        )
    if not 1 <= H <= CUE_MAX_HIDDEN:
        return (
            f"Your hidden size is H = {H}; choose one between 1 and {CUE_MAX_HIDDEN} (a few "
            f"units are enough to hold {len(args['cue_ids'])} cues)."
        )
    for name, value in zip(("W_ih", "W_hh", "b_ih", "b_hh", "W_hy", "b_y"), values):
        if value.size and np.abs(value).max() > CUE_MAX_WEIGHT:
            index = tuple(int(i) for i in np.unravel_index(np.abs(value).argmax(), value.shape))
            return (
                f"{name}[{', '.join(map(str, index))}] is {value[index]:.4g}: keep every "
                f"weight and bias within -{CUE_MAX_WEIGHT:g}..{CUE_MAX_WEIGHT:g} (a gate is "
                f"already {_sigmoid(10.0):.5f} open at a pre-activation of 10)."
            )
    return None


def _cue_failures(args, values):
    """(hs, scores, index of the first sentence whose answer does not lead by CUE_MARGIN)."""
    hs, scores = ref.lstm_readout(args["sentences"], *values)
    answers = _answers_of(args)
    for n, answer in enumerate(answers):
        others = np.delete(scores[n], answer)
        if not scores[n, answer] - others.max() >= CUE_MARGIN:
            return hs, scores, n
    return hs, scores, None


def _answers_of(args):
    where = {int(c): k for k, c in enumerate(args["cue_ids"])}
    cues = args["sentences"][:, cue.CUE_POSITION - 1]
    return np.array([int(args["answer_ids"][where[int(c)]]) for c in cues])


def _cs231n_swapped(values):
    """The weights with blocks g and o exchanged: what was meant in CS231n's order."""
    W_ih, W_hh, b_ih, b_hh, W_hy, b_y = values
    H = W_hh.shape[1]

    def swap(a):
        return np.concatenate([a[: 2 * H], a[3 * H :], a[2 * H : 3 * H]], axis=0)

    return (swap(W_ih), swap(W_hh), swap(b_ih), swap(b_hh), W_hy, b_y)


def _gate_trace(sentence, h_states, values):
    """Gates (T, H) each and cell states c_1..c_T (T, H) of one sentence, recomputed from
    nn.LSTM's hidden states (h_{t-1} of every step)."""
    W_ih, W_hh, b_ih, b_hh, _, _ = values
    T, H = h_states.shape
    h_prev = np.vstack([np.zeros((1, H)), h_states[:-1]])
    z = W_ih[:, sentence].T + b_ih + h_prev @ W_hh.T + b_hh
    zi, zf, zg, zo = np.split(z, 4, axis=1)
    i, f, g, o = _sigmoid(zi), _sigmoid(zf), np.tanh(zg), _sigmoid(zo)
    c = np.zeros((T + 1, H))
    for t in range(T):
        c[t + 1] = f[t] * c[t] + i[t] * g[t]
    return i, f, g, o, c[1:]


def _gate_text(value):
    """A gate value with enough digits to tell it from 1 (0.96, 0.9990, 0.999998)."""
    if value < 0.995 or value >= 1.0:
        return f"{value:.2f}"
    digits = int(np.ceil(-np.log10(1.0 - value))) + 1
    return f"{value:.{digits}f}"


def _small(value, digits=2):
    """A number with ``digits`` decimals, or in scientific notation when that would show 0.00
    (0.0013 as 1.3e-03, not 0.00)."""
    if value == 0 or abs(value) >= 10.0**-digits:
        return f"{value:.{digits}f}"
    return f"{value:.1e}"


def _sentence_text(words, n_fill):
    if n_fill <= 3:
        return " ".join(words)
    return " ".join(words[:5] + ["..."] + words[-5:])


def _cue_diagnosis(args, values, hs, scores, n):
    """What the model did on sentence ``n``, and why, read off its gates."""
    words = [cue.VOCAB[w] for w in args["sentences"][n]]
    T, n_fill = len(words), len(words) - cue.MIN_DISTANCE - 2
    cue_word, answer = words[cue.CUE_POSITION - 1], int(_answers_of(args)[n])
    best = int(np.argmax(np.where(np.arange(scores.shape[1]) == answer, -np.inf, scores[n])))
    s_ans, s_best = scores[n, answer], scores[n, best]
    if s_best < s_ans:
        did = (
            f"'{cue.VOCAB[answer]}' scores highest ({s_ans:.3g}), but only "
            f"{s_ans - s_best:.2g} above '{cue.VOCAB[best]}' ({s_best:.3g})"
        )
    else:
        did = (
            f"'{cue.VOCAB[best]}' scores highest ({s_best:.3g}) and the answer "
            f"'{cue.VOCAB[answer]}' gets {s_ans:.3g}"
        )
    head = (
        f"sentences[{n}] ('{_sentence_text(words, n_fill)}', with {n_fill} fillers; answer "
        f"'{cue.VOCAB[answer]}'): at the blank {did}. The answer must score highest, ahead of "
        f"every other word by at least {CUE_MARGIN:g}.\nWhy: "
    )
    if _cue_failures(args, _cs231n_swapped(values))[2] is None:
        return (
            f"{head}{CUE_ORDER}: read in that order, your weights answer every sentence of "
            "this case. Move the candidate's rows to block 2 and the output gate's to block 3."
        )
    i, f, g, o, c = _gate_trace(args["sentences"][n], hs[n], values)
    at = cue.CUE_POSITION - 1  # the cue's index; the blank's is T - 1
    change = c[at] - (c[at - 1] if at else 0.0)
    u = int(np.argmax(np.abs(change)))
    unit = f"unit {u}" if c.shape[1] > 1 else "your one unit"
    if abs(change[u]) < 0.1:
        return (
            f"{head}{CUE_NO_WRITE}: at '{cue_word}' the cell state changes by at most "
            f"{abs(change[u]):.2g} ({unit}: input gate {i[at, u]:.2g}, candidate "
            f"{g[at, u]:+.2f})."
        )
    after = slice(at + 1, T)  # every word after the cue, the blank included
    steps = T - 1 - at
    kept = float(np.prod(f[after, u]))
    c_cue, c_blank = c[at, u], c[T - 1, u]
    if abs(c_blank - c_cue) > 0.5 * abs(c_cue):
        if kept < 0.5:
            low = at + 1 + int(np.argmin(f[after, u]))
            if np.ptp(f[after, u]) <= 1e-3 * f[low, u]:
                gate = f"the forget gate is {_gate_text(f[low, u])} on every word after the cue"
            else:
                gate = (
                    f"the forget gate is lowest at '{words[low]}' (index {low} of the sentence), "
                    f"{_gate_text(f[low, u])}, and {_gate_text(float(np.median(f[after, u])))} "
                    f"on a typical word after the cue"
                )
            return (
                f"{head}{CUE_LEAK}: after '{cue_word}' and {n_fill} fillers your cell state "
                f"has decayed to {_small(kept, 3)} of its value ({unit}: from {c_cue:+.3g} to "
                f"{c_blank:+.3g} at the blank); {gate}, and the {steps} steps from the cue to "
                f"the blank multiply it away."
            )
        first = at + 1 + int(np.argmax(i[after, u] * np.abs(g[after, u])))
        return (
            f"{head}{CUE_OVERWRITE} (it averages {_small(i[after, u].mean())} there; at "
            f"'{words[first]}' it is {_small(i[first, u])} and writes "
            f"{i[first, u] * g[first, u]:+.2g}), so your cell state goes from {c_cue:+.3g} after "
            f"'{cue_word}' to {c_blank:+.3g} at the blank ({unit}), while the forget gate stays "
            f"at {_gate_text(kept ** (1.0 / steps))}."
        )
    if o[T - 1, u] < 0.1:
        return (
            f"{head}{CUE_SHUT}: o = {o[T - 1, u]:.2g} there ({unit}), so h = o * tanh(c) shows "
            f"only {hs[n, -1, u]:+.2g} of a belt that still holds {c_blank:+.3g}."
        )
    carried = (
        f"the belt carries the cue to the blank ({unit}: c = {c_blank:+.3g}, h = "
        f"{hs[n, -1, u]:+.3g})"
    )
    if best == args["sentences"][n, at] and s_best >= s_ans:
        return (
            f"{head}{CUE_READS_CUE}: {carried}, but the row of W_hy that turns it into the "
            f"highest score is the one for '{cue_word}'; it should be the one for "
            f"'{cue.VOCAB[answer]}'."
        )
    return (
        f"{head}{carried}, so look at the read-out: the scores are W_hy h + b_y at the blank, "
        f"one per word, and the row of W_hy for '{cue.VOCAB[answer]}' must turn this state into "
        f"the highest score, by at least {CUE_MARGIN:g} (|h| < 1, so scale W_hy)."
    )


def _cue_property(args, values):
    problem = _cue_size_problem(args, values)
    if problem:
        return problem
    hs, scores, n = _cue_failures(args, values)
    if n is None:
        return None
    return _cue_diagnosis(args, values, hs, scores, n)


def _cue_mistakes(args):
    right = ref.cue_carrier(**args)
    H, big = len(args["cue_ids"]), ref.CUE_GATE
    i_rows, f_rows, o_rows = slice(0, H), slice(H, 2 * H), slice(3 * H, 4 * H)
    fillers = [cue.WORD_TO_ID[w] for w in cue.FILLERS]

    def changed(edit):
        def make():
            W_ih, W_hh, b_ih, b_hh, W_hy, b_y = (v.copy() for v in right)
            edit(W_ih, b_ih, W_hy)
            return W_ih, W_hh, b_ih, b_hh, W_hy, b_y

        return make

    def leak(W_ih, b_ih, W_hy):
        b_ih[f_rows] = np.log(9.0)  # sigmoid(log 9) = 0.9

    def overwrite(W_ih, b_ih, W_hy):
        W_ih[i_rows, np.array(fillers)[:, None]] = 2 * big  # every filler opens the gate

    def shut(W_ih, b_ih, W_hy):
        W_ih[o_rows, args["blank_id"]] = 0.0

    def no_write(W_ih, b_ih, W_hy):
        W_ih[i_rows] = 0.0

    def reads_cue(W_ih, b_ih, W_hy):
        W_hy[:] = 0.0
        W_hy[args["cue_ids"], np.arange(H)] = ref.CUE_READOUT

    return {
        CUE_LEAK: changed(leak),
        CUE_OVERWRITE: changed(overwrite),
        CUE_SHUT: changed(shut),
        CUE_ORDER: lambda: _cs231n_swapped(right),
        CUE_NO_WRITE: changed(no_write),
        CUE_READS_CUE: changed(reads_cue),
    }


CUE_CARRIER = Part(
    grade_id="cue_carrier",
    points=4,
    signature=CUE_ARGS,
    inputs=_cue_inputs,
    reference=ref.cue_carrier,
    reference_name="torch.nn.LSTM and torch.nn.Linear on the case's sentences",
    outputs=(
        Output("W_ih", "input weights W_ih", axes=("gate row", "word"), free=(0,)),
        Output("W_hh", "hidden weights W_hh", axes=("gate row", "hidden unit"), free=(0, 1)),
        Output("b_ih", "input bias b_ih", axes=("gate row",), free=(0,)),
        Output("b_hh", "hidden bias b_hh", axes=("gate row",), free=(0,)),
        Output("W_hy", "read-out weights W_hy", axes=("word", "hidden unit"), free=(1,)),
        Output("b_y", "read-out bias b_y", axes=("word",)),
    ),
    # Case 2 has fewer cues than the others, so a design that hard-codes four fails in sight.
    visible=(
        Case(0, fillers=100, n_cues=4),
        Case(1, fillers=1000, n_cues=4),
        Case(2, fillers=50, n_cues=2),
    ),
    hidden=(
        Case(1901, fillers=0, n_cues=4),
        Case(1902, fillers=1000, n_cues=4),
        Case(1903, fillers=300, n_cues=2),
        Case(1904, fillers=1000, n_cues=3),
        Case(1905, fillers=500, batch=1),
    ),
    mistakes=_cue_mistakes,
    hint="Return (W_ih, W_hh, b_ih, b_hh, W_hy, b_y): W_ih (4H, vocab_size), W_hh (4H, H), "
    "b_ih and b_hh (4H,) in PyTorch's gate order i, f, g, o, then the read-out W_hy "
    "(vocab_size, H) and b_y (vocab_size,), with a hidden size H of your choice.",
    sizes=_cue_sizes,
    property_check=_cue_property,
)

PARTS = (
    LSTM_STEP,
    LSTM_FORWARD,
    GRU_STEP,
    GRU_FORWARD,
    LSTM_STEP_BACKWARD,
    REPACK_CS231N,
    CUE_CARRIER,
)

check_lstm_step = LSTM_STEP.make_check()
check_lstm_forward = LSTM_FORWARD.make_check()
check_gru_step = GRU_STEP.make_check()
check_gru_forward = GRU_FORWARD.make_check()
check_lstm_step_backward = LSTM_STEP_BACKWARD.make_check()
check_repack_cs231n = REPACK_CS231N.make_check()
check_cue_carrier = CUE_CARRIER.make_check()
