"""Checks for chapter 2's graded exercises (the Elman network).

Each part below is declared once (:class:`~autograder.parts.Part`): inputs
from a seed (sizes drawn unless given), the reference (``torch.nn.RNNCell`` /
``torch.nn.RNN`` / ``torch.nn.Linear`` on the reference device), the outputs,
the known mistakes, the visible and hidden cases. The notebook's test cells,
the in-kernel check and the isolated grader all derive from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..parts import Case, Output, Part, recurrent_sizes
from ..references import ch02_elman as ref

__all__ = [
    "PARTS",
    "make_case",
    "check_rnn_step",
    "check_rnn_forward",
    "check_rnn_output",
    "check_many_to_one_logits",
]

LAYOUT_HINT = (
    "PyTorch's layout: W_ih has shape (hidden_size, input_size), W_hh "
    "(hidden_size, hidden_size) and W_hy (output_size, hidden_size). With a batch "
    "of row vectors x_t of shape (batch, input_size), the product is x_t @ W_ih.T."
)


@dataclass
class ElmanCase:
    """Inputs of one check, all float64 in PyTorch's layout."""

    x: np.ndarray  # (B, T, D)
    h0: np.ndarray  # (B, H)
    W_ih: np.ndarray  # (H, D)
    W_hh: np.ndarray  # (H, H)
    b_ih: np.ndarray  # (H,)
    b_hh: np.ndarray  # (H,)
    W_hy: np.ndarray  # (O, H)
    b_y: np.ndarray  # (O,)

    @property
    def sizes(self):
        B, T, D = self.x.shape
        return {"B": B, "T": T, "D": D, "H": self.W_hh.shape[0], "O": self.W_hy.shape[0]}


def make_case(
    seed: int,
    *,
    batch=None,
    seq_len=None,
    input_size=None,
    hidden_size=None,
    output_size=None,
    zero_state=False,
) -> ElmanCase:
    """Random inputs from ``seed``; sizes are drawn unless given.

    Input, hidden and output sizes are drawn distinct so that a transposed
    weight fails loudly instead of passing by coincidence of shapes.
    """
    rng = np.random.default_rng(seed)
    B = batch or int(rng.integers(2, 6))
    T = seq_len or int(rng.integers(3, 8))
    D = input_size or int(rng.integers(2, 7))
    H = hidden_size or int(rng.choice([h for h in range(3, 9) if h != D]))
    O = output_size or int(rng.choice([o for o in range(2, 6) if o not in (D, H)]))
    scale = 1.0 / np.sqrt(H)
    return ElmanCase(
        x=rng.normal(0.0, 1.0, (B, T, D)),
        h0=np.zeros((B, H)) if zero_state else rng.normal(0.0, 0.5, (B, H)),
        W_ih=rng.normal(0.0, 1.5 * scale, (H, D)),
        W_hh=rng.normal(0.0, 1.5 * scale, (H, H)),
        b_ih=rng.normal(0.0, 0.5, H),
        b_hh=rng.normal(0.0, 0.5, H),
        W_hy=rng.normal(0.0, 1.5 * scale, (O, H)),
        b_y=rng.normal(0.0, 0.5, O),
    )


STEP_ARGS = ("x_t", "h_prev", "W_ih", "W_hh", "b_ih", "b_hh")
FORWARD_ARGS = ("x", "h0", "W_ih", "W_hh", "b_ih", "b_hh")
# Building the module itself is what the exercises ask for: calling it scores 0.
ELMAN_MODULES = ("torch.nn.RNNCell", "torch.nn.RNN")


def _sizes(args):
    return recurrent_sizes(args)


def _step_inputs(seed, **sizes):
    c = make_case(seed, **{**sizes, "seq_len": 1})  # one step: the sequence length plays no part
    return dict(x_t=c.x[:, 0], h_prev=c.h0, W_ih=c.W_ih, W_hh=c.W_hh, b_ih=c.b_ih, b_hh=c.b_hh)


def _step_mistakes(args):
    """What rnn_step returns under each common mistake."""
    step = ref.rnn_step
    x_t, h_prev, W_ih, W_hh, b_ih, b_hh = (args[k] for k in STEP_ARGS)
    return {
        "W_hh is used transposed (h_prev @ W_hh instead of h_prev @ W_hh.T)": lambda: step(
            x_t, h_prev, W_ih, W_hh.T, b_ih, b_hh
        ),
        "the bias b_hh is left out (PyTorch keeps two biases, b_ih and b_hh, and adds both)": lambda: (
            step(x_t, h_prev, W_ih, W_hh, b_ih, 0 * b_hh)
        ),
        "the bias b_ih is left out (PyTorch keeps two biases, b_ih and b_hh, and adds both)": lambda: (
            step(x_t, h_prev, W_ih, W_hh, 0 * b_ih, b_hh)
        ),
        "both biases are left out": lambda: step(x_t, h_prev, W_ih, W_hh, 0 * b_ih, 0 * b_hh),
        "ReLU is used instead of tanh": lambda: step(
            x_t, h_prev, W_ih, W_hh, b_ih, b_hh, nonlinearity="relu"
        ),
        "the activation is missing (tanh is never applied)": lambda: (
            x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh
        ),
        "the previous hidden state is ignored (the W_hh h_prev term is missing)": lambda: step(
            x_t, h_prev, W_ih, 0 * W_hh, b_ih, b_hh
        ),
        "the computation drops to float32 somewhere (keep float64 throughout)": lambda: _float32(
            ref.rnn_step, args
        ),
    }


def _float32(fn, args):
    """What a float32-internal computation returns, cast back to float64."""
    low = {
        k: (v.astype(np.float32).astype(np.float64) if isinstance(v, np.ndarray) else v)
        for k, v in args.items()
    }
    return np.asarray(fn(**low), dtype=np.float32).astype(np.float64)


RNN_STEP = Part(
    grade_id="rnn_step",
    points=3,
    signature=STEP_ARGS,
    inputs=_step_inputs,
    reference=ref.rnn_step,
    reference_name="torch.nn.RNNCell",
    outputs=(Output("h_t", "hidden state h_t", axes=("batch row", "hidden unit")),),
    # The second visible case is large enough that a float32-internal step is caught here.
    visible=(Case(0), Case(1, batch=8, input_size=6, hidden_size=8)),
    hidden=(
        Case(101),
        Case(102),
        Case(103),
        Case(104, batch=1),
        Case(105, zero_state=True),
        Case(106, input_size=1, hidden_size=1),
    ),
    forbidden=ELMAN_MODULES,
    mistakes=_step_mistakes,
    hint=LAYOUT_HINT,
    sizes=_sizes,
)


def _forward_inputs(seed, **sizes):
    c = make_case(seed, **sizes)
    return dict(x=c.x, h0=c.h0, W_ih=c.W_ih, W_hh=c.W_hh, b_ih=c.b_ih, b_hh=c.b_hh)


def _loop(args, *, reset_each_step=False):
    """The recurrence unrolled by hand, for mistakes nn.RNN cannot express."""
    x, h0 = args["x"], args["h0"]
    h, out = h0, []
    for t in range(x.shape[1]):
        h = ref.rnn_step(
            x[:, t],
            h0 if reset_each_step else h,
            args["W_ih"],
            args["W_hh"],
            args["b_ih"],
            args["b_hh"],
        )
        out.append(h)
    return np.stack(out, axis=1)


def _forward_mistakes(args):
    hs = lambda **kw: ref.rnn_forward(**{**args, **kw})  # noqa: E731
    h0 = args["h0"]
    return {
        "the states are shifted by one time step (h_0..h_{T-1} returned instead of h_1..h_T)": lambda: (
            np.concatenate([h0[:, None], hs()[:, :-1]], axis=1)
        ),
        "the state is not carried forward (every step starts again from h0)": lambda: _loop(
            args, reset_each_step=True
        ),
        "the initial state h0 is ignored (zeros used instead)": lambda: hs(h0=np.zeros_like(h0)),
        "the sequence is read backwards in time": lambda: hs(x=args["x"][:, ::-1].copy()),
        "W_hh is used transposed (h_prev @ W_hh instead of h_prev @ W_hh.T)": lambda: hs(
            W_hh=args["W_hh"].T.copy()
        ),
        "the bias b_hh is left out (PyTorch keeps two biases, b_ih and b_hh, and adds both)": lambda: (
            hs(b_hh=0 * args["b_hh"])
        ),
        "the bias b_ih is left out (PyTorch keeps two biases, b_ih and b_hh, and adds both)": lambda: (
            hs(b_ih=0 * args["b_ih"])
        ),
        "ReLU is used instead of tanh": lambda: ref.rnn_forward(**args, nonlinearity="relu"),
        "the computation drops to float32 somewhere (keep float64 throughout)": lambda: _float32(
            ref.rnn_forward, args
        ),
    }


RNN_FORWARD = Part(
    grade_id="rnn_forward",
    points=3,
    signature=FORWARD_ARGS,
    inputs=_forward_inputs,
    reference=ref.rnn_forward,
    reference_name="torch.nn.RNN with batch_first=True",
    outputs=(
        Output(
            "hs",
            "hidden states (h_1..h_T)",
            axes=("batch row", "time step", "hidden unit"),
            time_axis=1,
        ),
    ),
    visible=(Case(0), Case(1, seq_len=12)),
    hidden=(
        Case(201),
        Case(202),
        Case(203),
        Case(204, batch=1),
        Case(205, seq_len=1),
        Case(206, zero_state=True),
        Case(207, seq_len=25),
        Case(208, input_size=1),
    ),
    forbidden=ELMAN_MODULES,
    mistakes=_forward_mistakes,
    hint=LAYOUT_HINT + " x has shape (batch, time, input_size); return (batch, time, hidden_size).",
    sizes=_sizes,
)


def _output_inputs(seed, **sizes):
    c = make_case(seed, **sizes)
    hs = ref.rnn_forward(c.x, c.h0, c.W_ih, c.W_hh, c.b_ih, c.b_hh)
    return dict(hs=hs, W_hy=c.W_hy, b_y=c.b_y)


def _output_mistakes(args):
    hs, W_hy, b_y = args["hs"], args["W_hy"], args["b_y"]
    expected = lambda: ref.rnn_output(hs, W_hy, b_y)  # noqa: E731
    shifted = lambda a: np.exp(a - a.max(axis=-1, keepdims=True))  # noqa: E731
    return {
        "the bias b_y is left out": lambda: ref.rnn_output(hs, W_hy, 0 * b_y),
        "tanh is applied to the output (y_t = W_hy h_t + b_y has no activation)": lambda: np.tanh(
            expected()
        ),
        "softmax is applied to the output (return the raw scores, the logits)": lambda: (
            shifted(expected()) / shifted(expected()).sum(axis=-1, keepdims=True)
        ),
        "the computation drops to float32 somewhere (keep float64 throughout)": lambda: _float32(
            ref.rnn_output, args
        ),
    }


RNN_OUTPUT = Part(
    grade_id="rnn_output",
    points=2,
    signature=("hs", "W_hy", "b_y"),
    inputs=_output_inputs,
    reference=ref.rnn_output,
    reference_name="torch.nn.Linear",
    outputs=(
        Output(
            "ys", "outputs y_1..y_T", axes=("batch row", "time step", "output unit"), time_axis=1
        ),
    ),
    visible=(Case(0), Case(1, seq_len=12)),
    hidden=(
        Case(301),
        Case(302),
        Case(303),
        Case(304, batch=1, seq_len=1),
        Case(305, output_size=1),
    ),
    forbidden=("torch.nn.Linear",),
    mistakes=_output_mistakes,
    hint=LAYOUT_HINT
    + " hs has shape (batch, time, hidden_size); return (batch, time, output_size).",
    sizes=_sizes,
)


def _logits_inputs(seed, **sizes):
    c = make_case(seed, **sizes)
    return dict(
        x=c.x, h0=c.h0, W_ih=c.W_ih, W_hh=c.W_hh, b_ih=c.b_ih, b_hh=c.b_hh, W_hy=c.W_hy, b_y=c.b_y
    )


def _logits_mistakes(args):
    rnn = {k: args[k] for k in FORWARD_ARGS}
    hs = lambda: ref.rnn_forward(**rnn)  # noqa: E731
    head = lambda h: ref.rnn_output(h[:, None], args["W_hy"], args["b_y"])[:, 0]  # noqa: E731
    mistakes = {
        "the first hidden state h_1 is used instead of the last one h_T": lambda: head(hs()[:, 0]),
        "the mean of all hidden states is used instead of the last one h_T": lambda: head(
            hs().mean(axis=1)
        ),
        "the initial state h0 is used instead of the last one h_T": lambda: head(args["h0"]),
        "the initial state h0 is ignored (zeros used instead)": lambda: head(
            ref.rnn_forward(**{**rnn, "h0": 0 * args["h0"]})[:, -1]
        ),
        "the bias b_y is left out": lambda: ref.rnn_output(
            hs()[:, -1:], args["W_hy"], 0 * args["b_y"]
        )[:, 0],
        "tanh is applied to the logits": lambda: np.tanh(head(hs()[:, -1])),
        "the computation drops to float32 somewhere (keep float64 throughout)": lambda: _float32(
            ref.many_to_one_logits, args
        ),
    }
    if args["x"].shape[1] >= 2:
        mistakes["h_{T-1} is used instead of h_T (off by one in time)"] = lambda: head(hs()[:, -2])
    return mistakes


MANY_TO_ONE_LOGITS = Part(
    grade_id="many_to_one_logits",
    points=3,
    signature=FORWARD_ARGS + ("W_hy", "b_y"),
    inputs=_logits_inputs,
    reference=ref.many_to_one_logits,
    reference_name="torch.nn.RNN then torch.nn.Linear on the last hidden state",
    outputs=(Output("logits", "logits", axes=("batch row", "class")),),
    # seq_len=12 and batch 6: enough values that a float32-internal answer is caught here.
    visible=(Case(0), Case(1, batch=6, seq_len=12)),
    hidden=(
        Case(401),
        Case(402),
        Case(403),
        Case(404, batch=1),
        Case(405, seq_len=1),
        Case(406, seq_len=2, zero_state=True),
    ),
    forbidden=ELMAN_MODULES + ("torch.nn.Linear",),
    mistakes=_logits_mistakes,
    hint=LAYOUT_HINT,
    sizes=_sizes,
)

PARTS = (RNN_STEP, RNN_FORWARD, RNN_OUTPUT, MANY_TO_ONE_LOGITS)

check_rnn_step = RNN_STEP.make_check()
check_rnn_forward = RNN_FORWARD.make_check()
check_rnn_output = RNN_OUTPUT.make_check()
check_many_to_one_logits = MANY_TO_ONE_LOGITS.make_check()
