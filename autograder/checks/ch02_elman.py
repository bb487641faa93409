"""Checks for chapter 2's graded exercises (the Elman network).

Each part below is declared once (:class:`~autograder.parts.Part`): inputs
from a seed (sizes drawn unless given), the reference (``torch.nn.RNNCell`` /
``torch.nn.RNN`` / ``torch.nn.Linear`` on the reference device; for the last
states of a padded batch, ``h_n`` after ``pack_padded_sequence``), the outputs,
the known mistakes, the visible and hidden cases. The notebook's test cells,
the in-kernel check and the isolated grader all derive from it.

The last part, ``order_latch``, is a design: the student returns weights, and
:func:`_latch_property` runs them through ``nn.RNN`` and ``nn.Linear`` on the
declared order-task sequences, names the first one that fails, shows the states
the network went through, and diagnoses the classic failures (the phrases that
the declared mistakes use as their descriptions).
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
    "check_last_states",
    "check_order_latch",
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

    def weights(self, read_out: bool = False) -> dict:
        """The recurrent weights by name (with ``read_out``, W_hy and b_y too), for the input
        builders of the parts that take them."""
        names = ("W_ih", "W_hh", "b_ih", "b_hh") + (("W_hy", "b_y") if read_out else ())
        return {name: getattr(self, name) for name in names}


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
    return dict(x_t=c.x[:, 0], h_prev=c.h0, **c.weights())


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
    """What a float32-internal computation returns, cast back to float64 (floating arrays are
    rounded to float32; integer arrays, lengths and token ids, stay as they are)."""
    low = {
        k: (
            v.astype(np.float32).astype(np.float64)
            if isinstance(v, np.ndarray) and v.dtype.kind == "f"
            else v
        )
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
    return dict(x=c.x, h0=c.h0, **c.weights())


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
    uses=(RNN_STEP,),
)


def _output_inputs(seed, **sizes):
    c = make_case(seed, **sizes)
    hs = ref.rnn_forward(c.x, c.h0, **c.weights())
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
    return dict(x=c.x, h0=c.h0, **c.weights(read_out=True))


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
    uses=(RNN_STEP, RNN_FORWARD, RNN_OUTPUT),
)


# --- Part 5: the last real state of each sequence in a padded batch ------------------------

LAST_COLUMN = (
    "hs[:, -1] is taken: for every sequence shorter than T the last column is a padding step"
)
OFF_BY_ONE = "hs[b, lengths[b]] is taken (off by one: h_L is at index L - 1)"
PACKED_ORDER = "the rows come out sorted by length (the packed order), not in the batch's order"
MEAN_STATE = "the mean of the real states h_1..h_L is taken instead of the last one"
LONGEST_COLUMN = (
    "hs[:, lengths.max() - 1] is taken: one column, the longest sequence's last state, for "
    "every sequence (a padding step for every shorter one)"
)
LONGEST_PADDED = (
    "the longest sequence's padding is not handled (T - 1 used where its length ends earlier: "
    "a batch may be padded beyond its longest sequence)"
)


def _last_inputs(seed, batch=None, seq_len=None, hidden_size=None, spare_steps=0):
    """A padded batch run through the network: the states ``hs`` of every step, padding steps
    included (the network keeps running over the zero inputs after each sequence's end), and
    the real ``lengths``. ``spare_steps``: padding after the longest sequence too (a batch
    padded to a fixed length), so that no length equals T."""
    c = make_case(seed, batch=batch, seq_len=seq_len, hidden_size=hidden_size, zero_state=True)
    rng = np.random.default_rng(seed + 7919)
    B, T, _ = c.x.shape
    longest = max(1, T - spare_steps)
    for _ in range(1000):
        lengths = rng.integers(1, longest + 1, size=B)
        if not spare_steps:
            lengths[rng.integers(B)] = T  # pad_sequence pads to the longest sequence
        # Not in decreasing order (pack_padded_sequence's sorted order must not be the answer).
        if B < 2 or longest < 2 or not np.all(np.diff(lengths) <= 0):
            break
    x = c.x.copy()
    for b, length in enumerate(lengths):
        x[b, length:] = 0.0  # zero vectors after each sequence's end
    hs = ref.rnn_forward(x, c.h0, **c.weights())
    return dict(hs=hs, lengths=lengths.astype(np.int64))


def _last_mistakes(args):
    hs, lengths = args["hs"], args["lengths"]
    B, T, _ = hs.shape
    rows = np.arange(B)
    order = np.argsort(-lengths, kind="stable")
    return {
        LAST_COLUMN: lambda: hs[:, -1].copy(),
        # Where a length equals T this index is out of range (an IndexError, not a value).
        OFF_BY_ONE: lambda: hs[rows, lengths] if lengths.max() < T else None,
        PACKED_ORDER: lambda: hs[order, lengths[order] - 1],
        MEAN_STATE: lambda: np.stack([hs[b, : lengths[b]].mean(axis=0) for b in rows]),
        LONGEST_COLUMN: lambda: hs[:, lengths.max() - 1].copy(),
        # Where the longest sequence fills the batch, T - 1 is its last step: right there.
        LONGEST_PADDED: lambda: (
            hs[rows, np.where(lengths == lengths.max(), T - 1, lengths - 1)]
            if lengths.max() < T
            else None
        ),
    }


LAST_STATES = Part(
    grade_id="last_states",
    points=2,
    signature=("hs", "lengths"),
    inputs=_last_inputs,
    reference=ref.last_states,
    reference_name="h_n of torch.nn.RNN on a batch packed with pack_padded_sequence",
    outputs=(Output("h_last", "last real states", axes=("batch row", "hidden unit")),),
    # Case 1 is padded beyond its longest sequence, so an index off by one gives values there
    # and is named (where a length equals T, as in case 0, it gives an IndexError instead): it
    # comes first, since the notebook stops at the first visible case that fails.
    visible=(Case(1, spare_steps=2), Case(0)),
    hidden=(
        Case(501),
        Case(502, batch=1),
        Case(503, seq_len=1),
        Case(504, seq_len=9, spare_steps=3),
        Case(505, batch=9, seq_len=15),
        Case(506, hidden_size=1),
    ),
    mistakes=_last_mistakes,
    hint=(
        "hs has shape (B, T, H) and hs[b, t] is h_{t+1} of sequence b (h_0 is not in hs); the "
        "steps after a sequence's length are padding. lengths has shape (B,); return (B, H)."
    ),
    sizes=lambda args: {**recurrent_sizes(args), "lengths": args["lengths"].tolist()},
)


# --- Part 6: design a latch that solves the order task at any length ------------------------

# What the design must meet, stated in the notebook (the values live in references/, where the
# book reads them too).
LATCH_MAX_HIDDEN = ref.LATCH_MAX_HIDDEN
LATCH_SIGMA_BOUND = ref.LATCH_SIGMA_BOUND  # largest singular value of W_hh
LATCH_WEIGHT_BOUND = ref.LATCH_WEIGHT_BOUND  # |entry| of every weight and bias
LATCH_MARGIN = ref.LATCH_MARGIN  # z_label - z_other at h_T
LATCH_PROBE = 100  # distractors after the markers in the diagnostic probes

# Diagnoses: the property check names the first that fits; the declared mistakes use them.
STRONG = (
    "the recurrent weights are stronger than allowed "
    f"(the largest singular value of W_hh is above {LATCH_SIGMA_BOUND:g})"
)
NEVER_LEAVES_ZERO = "the state never leaves zero (the markers do not reach the hidden state)"
CHAPTER_IDS = "the chapter's marker ids 0 and 1 are used instead of marker_a and marker_b"
DRIFTS = (
    "the state drifts away from zero before any marker "
    "(a bias or a distractor's column of W_ih pushes it)"
)
FADES = (
    "the memory fades (W_hh is too weak to hold a state: after the first marker the state "
    "decays back towards zero over the distractors)"
)
ONE_MARKER = (
    "only one marker reaches the hidden state (both appear in every sequence: what must be "
    "stored is which came first)"
)
FLIPS_EACH_STEP = (
    "the state changes sign at every step (a negative W_hh), so the answer depends on how "
    "many steps follow the markers"
)
OVERWRITES = (
    "the second marker overwrites the first "
    "(its input weight is too strong for W_hh to hold the state)"
)
TOO_LARGE = (
    "a weight is larger than allowed "
    f"(every entry of every array must be at most {LATCH_WEIGHT_BOUND:g} in absolute value)"
)
HUGE_READOUT = (
    "a fading memory is made decisive by a huge read-out (the state decays towards zero over "
    "the distractors, and a W_hy far above the bound amplifies what is left; at a longer "
    "length the state underflows to zero and the answer is lost)"
)
OPPOSITE = "the read-out answers the opposite class (label 1 means A came before B)"
WEAK_READOUT = (
    f"the read-out is too weak (the right class wins, but by a logit margin below {LATCH_MARGIN:g})"
)
BLIND = "the answer does not depend on the order of the markers"

PROBES_RIGHT = "The probes (A then B, B then A, each followed by distractors) are answered right"
LATCH_WEIGHTS = ("W_ih", "W_hh", "b_ih", "b_hh", "W_hy", "b_y")
LATCH_PER_LENGTH = 24  # sequences per declared length


def _order_sequences(vocab_size, marker_a, marker_b, length, seed):
    """Order-task sequences (autograder.experiments.tasks.order_task, markers anywhere) with
    this case's marker ids, opening with the edge cases: the markers side by side at the start
    and at the end, and as far apart as they can be."""
    from ..experiments.tasks import MARKER_A, MARKER_B, order_task

    task = order_task(
        LATCH_PER_LENGTH, seq_len=length, marker_span=length, vocab_size=vocab_size, seed=seed
    )
    tokens = task.tokens.copy()
    edges = [(0, 1), (1, 0), (0, length - 1), (length - 1, 0), (length - 2, length - 1)]
    edges += [(length - 1, length - 2)]
    rng = np.random.default_rng(seed)
    for row, (a, b) in enumerate(edges if length >= 2 else ()):
        markers = (tokens[row] == MARKER_A) | (tokens[row] == MARKER_B)
        tokens[row, markers] = rng.integers(2, vocab_size, size=int(markers.sum()))
        tokens[row, a], tokens[row, b] = MARKER_A, MARKER_B
    # The task's ids (A = 0, B = 1, distractors 2..V-1) mapped to this case's.
    others = [t for t in range(vocab_size) if t not in (marker_a, marker_b)]
    ids = np.array([marker_a, marker_b, *others], dtype=np.int64)
    return ids[tokens]


def _latch_inputs(seed, vocab_size=None, marker_a=None, marker_b=None, lengths=None):
    rng = np.random.default_rng(seed)
    V = vocab_size or int(rng.integers(3, 30))
    A = int(rng.integers(V)) if marker_a is None else marker_a
    B = int(rng.choice([t for t in range(V) if t != A])) if marker_b is None else marker_b
    if lengths is None:
        lengths = (int(rng.integers(2, 13)), int(rng.integers(13, 100)), 500)
    sequences = tuple(
        _order_sequences(V, A, B, L, seed=1000 * seed + i) for i, L in enumerate(lengths)
    )
    return dict(vocab_size=V, marker_a=A, marker_b=B, sequences=sequences)


def _vec(h) -> str:
    return "[" + ", ".join(f"{v:+.3f}" for v in np.ravel(h)) + "]"


def _latch_sizes(args) -> dict:
    lengths = "/".join(str(s.shape[1]) for s in args["sequences"])
    return {"V": args["vocab_size"], "A": args["marker_a"], "B": args["marker_b"], "T": lengths}


def _size_problem(values, vocab_size) -> str | None:
    W_ih, W_hh, b_ih, b_hh, W_hy, _ = values
    sizes = {
        "W_ih.shape[0]": W_ih.shape[0],
        "W_hh.shape[0]": W_hh.shape[0],
        "W_hh.shape[1]": W_hh.shape[1],
        "b_ih.shape[0]": b_ih.shape[0],
        "b_hh.shape[0]": b_hh.shape[0],
        "W_hy.shape[1]": W_hy.shape[1],
    }
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{k} = {v}" for k, v in sizes.items())
        return (
            f"The hidden size H must be the same in every weight, but {listed}. Shapes: W_ih "
            f"(H, {vocab_size}), W_hh (H, H), b_ih and b_hh (H,), W_hy (2, H), b_y (2,)."
        )
    H = W_hh.shape[0]
    if not 1 <= H <= LATCH_MAX_HIDDEN:
        return f"Your network has H = {H} hidden units; this part allows 1 to {LATCH_MAX_HIDDEN}."
    return None


def _decisions(logits) -> np.ndarray:
    """The class the read-out answers at every state (ties go to class 0, as argmax does)."""
    return (logits[..., 1] > logits[..., 0]).astype(int)


def _probes(args, values):
    """Five probes run through the reference model: distractors only, A or B then
    distractors, A B or B A then distractors (LATCH_PROBE + 2 tokens each). Returns the
    number of tokens n, the states, the read-out's decisions and the states' norms."""
    V, A, B = args["vocab_size"], args["marker_a"], args["marker_b"]
    distractors = [t for t in range(V) if t not in (A, B)]
    n = LATCH_PROBE + 2
    fill = np.array([distractors[i % len(distractors)] for i in range(n)], dtype=np.int64)
    probes = np.stack([fill.copy() for _ in range(5)])
    probes[1, 0], probes[2, 0] = A, B
    probes[3, :2], probes[4, :2] = (A, B), (B, A)
    hs, logits = ref.one_hot_run(probes, *values)
    return n, hs, _decisions(logits), np.linalg.norm(hs, axis=-1)


def _fading(n, hs, norms) -> str | None:
    """How the state fades after a marker (None when it holds): the first of A, B whose state
    shrinks to under half its size over the probe's distractors."""
    for i, name in ((1, "A"), (2, "B")):
        if norms[i, 0] > 1e-6 and norms[i, -1] < 0.5 * norms[i, 0]:
            return (
                f"After {name} the state is {_vec(hs[i, 0])}; after {name} and {n - 1} "
                f"distractors it has decayed to {_vec(hs[i, -1])}, "
                f"{norms[i, -1] / norms[i, 0]:.1e} of its size"
            )
    return None


def _above(value: float, bound: float) -> str:
    """``value`` printed with enough digits to read above ``bound`` (2.0001, not 2)."""
    for digits in range(4, 18):
        text = f"{value:.{digits}g}"
        if float(text) > bound:
            return text
    return repr(float(value))


def _bound_problem(args, values) -> str | None:
    """The first array with an entry above LATCH_WEIGHT_BOUND in absolute value, its largest
    entry, and whether a huge read-out hides a memory that fades (None when all are within)."""
    for name, value in zip(LATCH_WEIGHTS, values):
        if value.size == 0 or not np.abs(value).max() > LATCH_WEIGHT_BOUND + 1e-9:
            continue
        index = np.unravel_index(int(np.argmax(np.abs(value))), value.shape)
        entry = float(value[index])
        shown = ("-" if entry < 0 else "") + _above(abs(entry), LATCH_WEIGHT_BOUND)
        where = f"{name}[{', '.join(str(int(i)) for i in index)}]"
        head = (
            f"{where} is {shown}, above the bound {LATCH_WEIGHT_BOUND:g}: the margin must come "
            f"from a state that stays away from zero, not from a huge weight."
        )
        n, hs, _, norms = _probes(args, values)
        fading = _fading(n, hs, norms)
        if name == "W_hy" and fading:
            return (
                f"{head} {fading}: your read-out decides only because W_hy multiplies that "
                f"small state by up to {abs(entry):.3g}. Diagnosis: {HUGE_READOUT}."
            )
        return f"{head} Diagnosis: {TOO_LARGE}."
    return None


def _diagnose(args, values) -> str:
    """Why a design fails, from its weights and from five probes run through the same
    reference model (:func:`_probes`)."""
    W_ih, W_hh = values[0], values[1]
    A, B = args["marker_a"], args["marker_b"]
    marker_cols = np.abs(W_ih[:, [A, B]]).max()
    if {A, B}.isdisjoint((0, 1)) and marker_cols == 0 and np.abs(W_ih[:, [0, 1]]).max() > 0:
        return (
            f"This case's markers are A = {A} and B = {B}, whose columns of W_ih are zero, "
            f"while columns 0 and 1 (distractors here) are not. Diagnosis: {CHAPTER_IDS}."
        )
    n, hs, dec, norms = _probes(args, values)
    if norms.max() < 1e-6:
        why = "the markers' columns of W_ih are zero" if marker_cols == 0 else "see W_ih"
        return (
            f"On every probe (A or B, then {n - 1} distractors) the state stays at zero "
            f"(largest |h| {norms.max():.1e}; {why}). Diagnosis: {NEVER_LEAVES_ZERO}."
        )
    if norms[0].max() > 0.05:
        return (
            f"With no marker at all, after {n} distractors h = {_vec(hs[0, -1])}, not 0, "
            f"and the read-out already answers class {dec[0, -1]}. Diagnosis: {DRIFTS}."
        )
    for i, name, token in ((1, "A", A), (2, "B", B)):
        if norms[i, 0] < 1e-6:
            return (
                f"Read from h_0 = 0, {name} (token {token}) leaves the state at zero "
                f"(|h| = {norms[i, 0]:.1e}), while the other marker moves it to "
                f"{_vec(hs[3 - i, 0])}. Diagnosis: {ONE_MARKER}."
            )
    changes = int(max((np.diff(dec[i, 1:]) != 0).sum() for i in (1, 2)))
    if changes > LATCH_PROBE // 2:
        return (
            f"After A, the read-out's answer changes at {changes} of the next {n - 1} "
            f"distractors (h = {_vec(hs[1, 1])}, {_vec(hs[1, 2])}, {_vec(hs[1, 3])}, ...). "
            f"Diagnosis: {FLIPS_EACH_STEP}."
        )
    fading = _fading(n, hs, norms)
    if fading:
        return (
            f"{fading} (largest singular value of W_hh: {np.linalg.norm(W_hh, 2):.3g}; a state "
            f"that stays needs tanh(W_hh h) to give h back). Diagnosis: {FADES}."
        )
    if dec[3, -1] != dec[1, -1] or dec[4, -1] != dec[2, -1]:
        i = 3 if dec[3, -1] != dec[1, -1] else 4
        first, second = ("A", "B") if i == 3 else ("B", "A")
        return (
            f"After {first} the state is {_vec(hs[i, 0])} (the read-out answers class "
            f"{dec[i, 0]}); right after {second} it is {_vec(hs[i, 1])} (class {dec[i, 1]}), "
            f"and {n - 2} distractors later {_vec(hs[i, -1])} (class {dec[i, -1]}), as if "
            f"{second} had come first. Diagnosis: {OVERWRITES}."
        )
    if dec[3, -1] == 0 and dec[4, -1] == 1:
        return (
            f"After A then B the read-out answers class 0, after B then A class 1: every "
            f"answer is reversed. Diagnosis: {OPPOSITE}."
        )
    if dec[3, -1] == dec[4, -1]:
        return (
            f"After A then B and after B then A the read-out answers the same class, "
            f"{dec[3, -1]} (final states {_vec(hs[3, -1])} and {_vec(hs[4, -1])}). "
            f"Diagnosis: {BLIND}."
        )
    return f"{PROBES_RIGHT}, so this sequence's own steps above show where your design goes wrong."


def _latch_failure(args, values, tokens, hs, logits, row) -> str:
    A, B = args["marker_a"], args["marker_b"]
    N, T = tokens.shape
    seq = tokens[row]
    step_a, step_b = int(np.argmax(seq == A)) + 1, int(np.argmax(seq == B)) + 1  # 1-based
    label = int(step_a < step_b)
    (s1, first), (s2, second) = sorted([(step_a, "A"), (step_b, "B")])
    dec = _decisions(logits[row])
    state = lambda t: _vec(hs[row, t - 1]) if t else _vec(np.zeros(hs.shape[-1]))  # noqa: E731
    z = logits[row, -1]
    margin = z[label] - z[1 - label]
    lines = [
        f"Your network fails on a declared sequence of length T = {T} (row {row} of the {N} "
        f"of that length): A at step {step_a}, B at step {step_b}, so its label is {label} "
        f"({'A came first' if label else 'B came first'}).",
    ]
    if dec[-1] != label:
        lines.append(
            f"At h_{T} the logits are ({z[0]:+.3f}, {z[1]:+.3f}): it answers class {dec[-1]}."
        )
    else:
        lines.append(
            f"At h_{T} the logits are ({z[0]:+.3f}, {z[1]:+.3f}): the right class, but by a "
            f"margin z_{label} - z_{1 - label} = {margin:.3f}, below the required {LATCH_MARGIN:g}."
        )
    flipped = dec[s2 - 1] != dec[s1 - 1]  # the second marker changed the read-out's answer
    held = "it flipped the answer" if flipped else "the answer held"
    before = f"h_{s2 - 1} = {state(s2 - 1)} just before {second}; " if s2 > s1 + 1 else ""
    lines.append(
        f"What it did: h_{s1 - 1} = {state(s1 - 1)} before {first}; h_{s1} = {state(s1)} after "
        f"{first} (the read-out would answer class {dec[s1 - 1]}); {before}h_{s2} = "
        f"{state(s2)} after {second} (class {dec[s2 - 1]}: {held})"
        + (f"; h_{T} = {state(T)} at the end." if T > s2 else ".")
    )
    diagnosis = None
    if dec[-1] != label or np.linalg.norm(hs[row, -1]) < 0.5:
        diagnosis = _diagnose(args, values)  # a small final state: does the memory fade?
    if dec[-1] == label and (diagnosis is None or diagnosis.startswith(PROBES_RIGHT)):
        small = np.linalg.norm(hs[row, -1]) < 0.5
        at_bound = np.abs(values[4]).max() >= LATCH_WEIGHT_BOUND - 1e-9
        lines.append(
            f"Diagnosis: {WEAK_READOUT}. "
            + (
                "Scale W_hy"
                if not at_bound
                else f"W_hy is already at the bound {LATCH_WEIGHT_BOUND:g}: make the state larger"
            )
            + (
                ", or keep the state away from zero (it is small at the end of this sequence)."
                if small and not at_bound
                else "."
            )
        )
    else:
        lines.append(diagnosis)
        if diagnosis and FADES in diagnosis and flipped and dec[-1] != label:
            # The probes show the fading; this sequence shows the second marker winning too.
            lines.append(
                f"Also, in this sequence {second} flipped the answer at step {s2}: the state "
                f"h_{s2 - 1} = {state(s2 - 1)} was too weak to hold against {second}'s input, "
                f"so {OVERWRITES}."
            )
    return "\n".join(lines)


def _latch_property(args, values) -> str | None:
    """Every declared sequence is classified right, by a logit margin of at least
    LATCH_MARGIN, by nn.RNN (tanh, h_0 = 0, one-hot inputs) and nn.Linear on h_T, with W_hh's
    largest singular value at most LATCH_SIGMA_BOUND, every entry of every array at most
    LATCH_WEIGHT_BOUND in absolute value and 1 to LATCH_MAX_HIDDEN hidden units."""
    problem = _size_problem(values, args["vocab_size"])
    if problem:
        return problem
    sigma = float(np.linalg.norm(values[1], 2))
    if sigma > LATCH_SIGMA_BOUND + 1e-9:
        return (
            f"The largest singular value of your W_hh is {_above(sigma, LATCH_SIGMA_BOUND)}; "
            f"this part allows at most {LATCH_SIGMA_BOUND:g}. Diagnosis: {STRONG}."
        )
    problem = _bound_problem(args, values)
    if problem:
        return problem
    for tokens in args["sequences"]:
        hs, logits = ref.one_hot_run(tokens, *values)
        z = logits[:, -1]
        labels = (
            np.argmax(tokens == args["marker_a"], axis=1)
            < np.argmax(tokens == args["marker_b"], axis=1)
        ).astype(int)
        rows = np.arange(len(labels))
        margins = z[rows, labels] - z[rows, 1 - labels]
        bad = np.flatnonzero(~(margins >= LATCH_MARGIN))
        if bad.size:
            return _latch_failure(args, values, tokens, hs, logits, int(bad[0]))
    return None


def _latch(args, *, w=2.0, u=1.0, k=4.0, bias=0.0, ids=None, u_b=None):
    """A one-unit latch with recurrent weight w, input +u for A and -u for B, read-out
    (-k, +k) and b_ih = bias (the declared mistakes are latches with one thing wrong); ``u_b``
    replaces B's input weight -u."""
    A, B = ids or (args["marker_a"], args["marker_b"])
    W_ih = np.zeros((1, args["vocab_size"]))
    W_ih[0, A], W_ih[0, B] = u, -u if u_b is None else u_b
    return (
        W_ih,
        np.array([[w]]),
        np.full(1, bias),
        np.zeros(1),
        np.array([[-k], [k]]),
        np.zeros(2),
    )


def _fading_pair(args, w=0.9, k=1e26):
    """No latch: one unit per marker, each fading by W_hh = w < 1 after its marker; the one
    that came first has faded more, and a read-out of +-k decides on that tiny difference."""
    W_ih = np.zeros((2, args["vocab_size"]))
    W_ih[0, args["marker_a"]], W_ih[1, args["marker_b"]] = 1.0, 1.0
    W_hy = np.array([[k, -k], [-k, k]])
    return W_ih, w * np.eye(2), np.zeros(2), np.zeros(2), W_hy, np.zeros(2)


def _latch_mistakes(args):
    chapter_ids = {args["marker_a"], args["marker_b"]}.isdisjoint((0, 1))
    return {
        TOO_LARGE: lambda: _latch(args, k=50.0),  # a working latch, "to be safe"
        HUGE_READOUT: lambda: _fading_pair(args),
        STRONG: lambda: _latch(args, w=4.0, u=2.0, k=1.0),  # the chapter's latch, as it is
        NEVER_LEAVES_ZERO: lambda: _latch(args, u=0.0),
        CHAPTER_IDS: lambda: _latch(args, ids=(0, 1)) if chapter_ids else None,
        DRIFTS: lambda: _latch(args, bias=0.5),
        ONE_MARKER: lambda: _latch(args, u_b=0.0),  # a latch that remembers "A appeared"
        FADES: lambda: _latch(args, w=0.5),
        FLIPS_EACH_STEP: lambda: _latch(args, w=-2.0),
        OVERWRITES: lambda: _latch(args, u=2.0),  # W_hh lowered to the bound, u kept at 2
        OPPOSITE: lambda: _latch(args, k=-4.0),
        WEAK_READOUT: lambda: _latch(args, k=1.0),  # the chapter's read-out (-1, +1)
    }


LATCH_HINT = (
    "Return (W_ih, W_hh, b_ih, b_hh, W_hy, b_y), float64 arrays in PyTorch's layout with a "
    f"hidden size H of your choice (1 to {LATCH_MAX_HIDDEN}): W_ih (H, vocab_size), W_hh "
    "(H, H), b_ih and b_hh (H,), W_hy (2, H), b_y (2,), every entry at most "
    f"{LATCH_WEIGHT_BOUND:g} in absolute value. Token t enters as a one-hot vector, so "
    "W_ih x_t = W_ih[:, t]."
)

ORDER_LATCH = Part(
    grade_id="order_latch",
    points=4,
    signature=("vocab_size", "marker_a", "marker_b", "sequences"),
    inputs=_latch_inputs,
    reference=ref.order_latch,
    reference_name=(
        "torch.nn.RNN (one-hot inputs) and torch.nn.Linear on h_T, run on the declared sequences"
    ),
    outputs=(
        Output("W_ih", "input weights W_ih", axes=("hidden unit", "token"), free=(0,)),
        Output("W_hh", "recurrent weights W_hh", axes=("hidden unit", "hidden unit"), free=(0, 1)),
        Output("b_ih", "bias b_ih", axes=("hidden unit",), free=(0,)),
        Output("b_hh", "bias b_hh", axes=("hidden unit",), free=(0,)),
        Output("W_hy", "read-out weights W_hy", axes=("class", "hidden unit"), free=(1,)),
        Output("b_y", "read-out bias b_y", axes=("class",)),
    ),
    # Case 0 is the chapter's vocabulary and reaches the longest length of the hidden cases
    # (a memory that fades slowly fails in sight); case 1 moves the markers (a latch wired to
    # ids 0 and 1 fails there) and has the shortest sequences, two tokens.
    visible=(
        Case(0, vocab_size=8, marker_a=0, marker_b=1, lengths=(12, 48, ref.LATCH_LONGEST)),
        Case(1, vocab_size=11, marker_a=7, marker_b=3, lengths=(2, 60, 300)),
    ),
    hidden=(
        Case(601, vocab_size=3, marker_a=2, marker_b=0, lengths=(5, 100, 400)),
        Case(602, vocab_size=50, marker_a=13, marker_b=14, lengths=(12, 250, 500)),
        Case(603, vocab_size=5, marker_a=1, marker_b=0, lengths=(3, 30, 300)),
        Case(604),
        Case(605, lengths=(2, 7, 450)),
    ),
    mistakes=_latch_mistakes,
    hint=LATCH_HINT,
    sizes=_latch_sizes,
    property_check=_latch_property,
)

PARTS = (RNN_STEP, RNN_FORWARD, RNN_OUTPUT, MANY_TO_ONE_LOGITS, LAST_STATES, ORDER_LATCH)

check_rnn_step = RNN_STEP.make_check()
check_rnn_forward = RNN_FORWARD.make_check()
check_rnn_output = RNN_OUTPUT.make_check()
check_many_to_one_logits = MANY_TO_ONE_LOGITS.make_check()
check_last_states = LAST_STATES.make_check()
check_order_latch = ORDER_LATCH.make_check()
