"""Chapter 1's graded parts (why feed-forward networks forget order), declared once.

Encodings are compared with ``torch.nn.functional.one_hot`` references;
parameter counts with ``sum(p.numel())`` of real ``torch.nn`` modules built at
the drawn sizes; the pair detector (a design part) is judged by what its weights
do in ``nn.Sequential(nn.Linear, nn.ReLU, nn.Linear)`` on every window of two
tokens. Each :class:`~autograder.parts.Part` below is the single
source of its notebook test, its in-kernel check and its isolated grading.
"""

from __future__ import annotations

import numpy as np

from ..parts import Case, Output, Part
from ..references import ch01_fnn_amnesia as ref

__all__ = [
    "PARTS",
    "make_tokens",
    "check_bag_of_words",
    "check_window_features",
    "check_window_mlp_param_count",
    "check_rnn_param_count",
    "check_adjacent_pair_detector",
]


def make_tokens(seed: int, *, num_sequences=None, seq_len=None, vocab_size=None):
    """Random token ids (N, T) int64 and the vocabulary size, from ``seed``."""
    rng = np.random.default_rng(seed)
    N = num_sequences or int(rng.integers(2, 6))
    T = seq_len or int(rng.integers(4, 10))
    V = vocab_size or int(rng.integers(4, 9))
    tokens = rng.integers(0, V, size=(N, T), dtype=np.int64)
    tokens[0, 0] = V - 1  # the largest id always occurs: catches an off-by-one vocabulary
    return tokens, V


def _tokens_sizes(args):
    N, T = args["tokens"].shape
    sizes = {"N": N, "T": T, "V": args["vocab_size"]}
    if "window" in args:
        sizes["window"] = args["window"]
    return sizes


# ---------------------------------------------------------------- part 1: bag of words


def _bow_inputs(seed, **sizes):
    tokens, V = make_tokens(seed, **sizes)
    return {"tokens": tokens, "vocab_size": V}


def _bow_mistakes(args):
    tokens, V = args["tokens"], args["vocab_size"]
    expected = lambda: ref.bag_of_words(tokens, V)  # noqa: E731
    return {
        "only presence is recorded (1 for a word that occurs, instead of how many times)": lambda: (
            expected() > 0
        ).astype(np.float64),
        "the counts are divided by the sequence length (frequencies, not counts)": lambda: (
            expected() / tokens.shape[1]
        ),
        "the token ids are shifted by one (column v should count token id v)": lambda: np.roll(
            expected(), 1, axis=1
        ),
    }


BAG_OF_WORDS = Part(
    grade_id="bag_of_words",
    points=2,
    signature=("tokens", "vocab_size"),
    inputs=_bow_inputs,
    reference=ref.bag_of_words,
    reference_name="torch.nn.functional.one_hot(tokens).sum(dim=1)",
    outputs=(Output("counts", "bag-of-words counts", axes=("sequence", "token id")),),
    visible=(Case(0),),
    hidden=(
        Case(11),
        Case(12),
        Case(13),
        Case(14, num_sequences=1),
        Case(15, seq_len=1),
        Case(16, vocab_size=2),
    ),
    mistakes=_bow_mistakes,
    hint="tokens has shape (num_sequences, seq_len); the result has one row per sequence and "
    "one column per token id 0..vocab_size-1.",
    sizes=_tokens_sizes,
)


# ---------------------------------------------------------------- part 2: a fixed window


def _window_inputs(seed, window=None, **sizes):
    tokens, V = make_tokens(seed, **sizes)
    T = tokens.shape[1]
    if window is None:
        window = int(np.random.default_rng(seed + 1000).integers(1, T + 3))
    return {"tokens": tokens, "vocab_size": V, "window": int(window)}


def _window_mistakes(args):
    tokens, V, window = args["tokens"], args["vocab_size"], args["window"]
    N, T = tokens.shape
    one_hot = np.eye(V)[tokens]  # (N, T, V)
    padded = np.concatenate([np.zeros((N, max(0, window - T), V)), one_hot], axis=1)
    flat = lambda a: a.reshape(N, -1)  # noqa: E731
    return {
        "the window holds the newest token first (order it oldest first)": lambda: flat(
            padded[:, -window:][:, ::-1]
        ),
        "the window holds the FIRST `window` tokens instead of the last ones": lambda: flat(
            padded[:, :window]
        ),
        "the window stops one token early (the newest token is missing)": lambda: flat(
            np.concatenate([np.zeros_like(padded[:, :1]), padded], 1)[:, -window - 1 : -1]
        ),
        "the features are flattened vocabulary-major (the (N, window, V) one-hot array was "
        "transposed to (N, V, window) before the reshape)": lambda: flat(
            padded[:, -window:].transpose(0, 2, 1)
        ),
        "the padding is put after the sequence instead of before it (pad on the left, the "
        "oldest side)": lambda: flat(
            np.concatenate([one_hot, np.zeros((N, max(0, window - T), V))], axis=1)[:, -window:]
            if window > T
            else padded[:, -window:]
        ),
    }


WINDOW_FEATURES = Part(
    grade_id="window_features",
    points=2,
    signature=("tokens", "vocab_size", "window"),
    inputs=_window_inputs,
    reference=ref.window_features,
    reference_name="one_hot of the last `window` tokens, oldest first, flattened",
    outputs=(Output("features", "window features", axes=("sequence", "feature")),),
    # The visible cases include a window longer than the sequence (left padding):
    # a naive `np.eye(V)[tokens[:, -window:]]` fails here, not only in grading.
    visible=(Case(0), Case(1, seq_len=3, window=5)),
    hidden=(
        Case(21),
        Case(22),
        Case(23),
        Case(24, window=1),
        Case(25, seq_len=4, window=4),
        Case(26, seq_len=3, window=6),
        Case(27, num_sequences=1),
        Case(28, seq_len=1),
    ),
    mistakes=_window_mistakes,
    hint="the result has shape (num_sequences, window * vocab_size): the one-hot vector of each "
    "of the last `window` tokens, oldest first, side by side. When the sequence is shorter "
    "than the window (T < window), the positions before its start are all-zero vectors "
    "(pad on the left), so the shape is the same for every T.",
    sizes=_tokens_sizes,
)


# ---------------------------------------------------------------- parts 3-4: parameter counts

_COUNT_RANGES = {
    "vocab_size": (5, 5000),
    "window": (2, 12),
    "hidden_size": (3, 600),
    "num_classes": (2, 50),
}


def _count_inputs(names):
    def inputs(seed, **given):
        rng = np.random.default_rng(seed)
        return {n: int(given.get(n) or rng.integers(*_COUNT_RANGES[n])) for n in names}

    return inputs


def _window_count_mistakes(a):
    V, w, H, C = a["vocab_size"], a["window"], a["hidden_size"], a["num_classes"]
    return {
        "the biases are left out": lambda: w * V * H + H * C,
        "the window is forgotten (the first layer sees one token, V inputs, not window*V)": lambda: (
            V * H + H + H * C + C
        ),
        "the output layer is left out": lambda: w * V * H + H,
        "the bias of the output layer is left out": lambda: w * V * H + H + H * C,
    }


WINDOW_MLP_PARAM_COUNT = Part(
    grade_id="window_mlp_param_count",
    points=2,
    signature=("vocab_size", "window", "hidden_size", "num_classes"),
    inputs=_count_inputs(("vocab_size", "window", "hidden_size", "num_classes")),
    reference=ref.window_mlp_param_count,
    reference_name="PyTorch's count of nn.Sequential(nn.Linear(window*V, H), nn.Tanh(), "
    "nn.Linear(H, C))",
    outputs=(Output("count", "parameter count", kind="int"),),
    visible=(Case(0),),
    hidden=(Case(31), Case(32), Case(33), Case(34, window=1, num_classes=2)),
    mistakes=_window_count_mistakes,
    sizes=lambda a: dict(a),
)


def _rnn_count_mistakes(a):
    V, H, C = a["vocab_size"], a["hidden_size"], a["num_classes"]
    return {
        "only one recurrent bias is counted (PyTorch's nn.RNN keeps two: b_ih and b_hh)": lambda: (
            V * H + H * H + H + H * C + C
        ),
        "the recurrent weights W_hh (H x H) are left out": lambda: V * H + 2 * H + H * C + C,
        "the biases are left out": lambda: V * H + H * H + H * C,
        "the output layer is left out": lambda: V * H + H * H + 2 * H,
    }


RNN_PARAM_COUNT = Part(
    grade_id="rnn_param_count",
    points=2,
    signature=("vocab_size", "hidden_size", "num_classes"),
    inputs=_count_inputs(("vocab_size", "hidden_size", "num_classes")),
    reference=ref.rnn_param_count,
    reference_name="PyTorch's count of nn.RNN(V, H) followed by nn.Linear(H, C)",
    outputs=(Output("count", "parameter count", kind="int"),),
    visible=(Case(0),),
    # hidden_size=1: "one bias" and "W_hh left out" give the same count there;
    # the message then names both.
    hidden=(Case(41), Case(42), Case(43), Case(44, hidden_size=1, num_classes=2)),
    mistakes=_rnn_count_mistakes,
    sizes=lambda a: dict(a),
)


# ---------------------------------------------------------------- part 5: design a pair detector

# The property (stated in references/, where the book reads it too): the output is at least
# +MARGIN on (a, b) and at most -MARGIN on every other window, so that no round-off can decide
# it; a detector uses at most MAX_HIDDEN hidden units.
MARGIN = ref.PAIR_MARGIN
MAX_HIDDEN = ref.PAIR_MAX_HIDDEN

# What the property check says about the classic mistakes (the declared mistakes' descriptions).
ORDER_IGNORED = (
    "it ignores the order: it fires on b then a too (one weight per token, shared by both "
    "positions, reads a bag of words: give each position its own weights)"
)
SWAPPED = (
    "the two positions are swapped: it detects b then a (the first vocab_size inputs are the "
    "first, older token of the window)"
)
VOCAB_MAJOR = (
    "the weights are laid out vocabulary-major (index 2 * token + position), but the window "
    "is position-major (index position * vocab_size + token), as window_features lays it out"
)
SECOND_IGNORED = "it ignores the second position: it fires on a followed by any token"
FIRST_IGNORED = "it ignores the first position: it fires on any token followed by b"
EITHER = (
    "it fires when either position matches (a first, or b second), not only when both do: "
    "the hidden unit's threshold is too low for an AND"
)
NEVER = (
    "it never fires: its output is negative on every window, a then b included (a hidden "
    "unit whose bias is too negative never turns on)"
)
INVERTED = (
    "it is inverted: it fires on every window except a then b (the output layer's sign is flipped)"
)
NO_MARGIN = (
    f"every window is on the right side of 0, but not by the margin of {MARGIN}: scale the "
    "output layer up"
)


def _detector_inputs(seed, vocab_size=None, a=None, b=None):
    rng = np.random.default_rng(seed)
    V = int(vocab_size or rng.integers(3, 10))
    if a is None:
        a = int(rng.integers(0, V)) if b is None else int((b + rng.integers(1, V)) % V)
    if b is None:
        b = int((a + rng.integers(1, V)) % V)  # any token but a
    return {"vocab_size": V, "a": int(a), "b": int(b)}


def _detector(*, first, second, bias=-1.0, out=(2.0, -1.0)):
    """One hidden unit reading the input weights ``first`` (slot 1) and ``second`` (slot 2)."""
    W1 = np.concatenate([first, second])[None].astype(np.float64)
    return W1, np.array([bias]), np.array([[out[0]]]), np.array([out[1]])


def _onehot(V, *tokens):
    v = np.zeros(V)
    v[list(tokens)] = 1.0
    return v


def _vocab_major(V, a, b):
    if V == 2 or (a == 0 and b == V - 1):
        return None  # at these inputs the two layouts put a and b at the same indices
    table = np.zeros((V, 2))
    table[a, 0] = table[b, 1] = 1.0  # a (token, position) table, flattened row by row
    return table.reshape(1, -1), np.array([-1.0]), np.array([[2.0]]), np.array([-1.0])


def _detector_mistakes(args):
    V, a, b = args["vocab_size"], args["a"], args["b"]
    ea, eb, zero = _onehot(V, a), _onehot(V, b), np.zeros(V)
    both = _onehot(V, a, b)
    return {
        ORDER_IGNORED: lambda: _detector(first=both, second=both),
        SWAPPED: lambda: _detector(first=eb, second=ea),
        VOCAB_MAJOR: lambda: _vocab_major(V, a, b),
        SECOND_IGNORED: lambda: _detector(first=ea, second=zero, bias=0.0),
        FIRST_IGNORED: lambda: _detector(first=zero, second=eb, bias=0.0),
        EITHER: lambda: _detector(first=ea, second=eb, bias=0.0),
        NEVER: lambda: _detector(first=ea, second=eb, bias=-2.0),
        INVERTED: lambda: _detector(first=ea, second=eb, out=(-2.0, 1.0)),
        NO_MARGIN: lambda: _detector(first=ea, second=eb, out=(0.4, -0.2)),
    }


def _meets(logits, target) -> bool:
    """The property on one layout: +MARGIN or more on the target window, -MARGIN or less on
    every other one."""
    return bool(np.all(np.where(target, logits >= MARGIN, logits <= -MARGIN)))


def _window_list(V, mask, most=6) -> str:
    windows = [f"({i}, {j})" for i in range(V) for j in range(V) if mask[i, j]]
    more = f" and {len(windows) - most} more" if len(windows) > most else ""
    return ", ".join(windows[:most]) + more


def _detector_property(args, values):
    """None when the weights detect exactly (a, b) with the margin, else what they did."""
    V, a, b = args["vocab_size"], args["a"], args["b"]
    W1, b1, W2, b2 = values
    H = W1.shape[0]
    if b1.shape[0] != H or W2.shape[1] != H:
        return (
            f"The hidden sizes disagree: W1 has {H} rows (one per hidden unit), b1 has "
            f"{b1.shape[0]} entries and W2 has {W2.shape[1]} columns. All three must be H, "
            f"the number of hidden units (W1 (H, {2 * V}), b1 (H,), W2 (1, H))."
        )
    if not 1 <= H <= MAX_HIDDEN:
        return f"Your network has {H} hidden units; use between 1 and {MAX_HIDDEN}."
    tokens = ref.pair_windows(V)  # row i * V + j: token i, then token j
    features = ref.window_features(tokens, V, 2)  # (V*V, 2V), as window_features lays it out
    run = lambda x: ref.pair_detector_logits(W1, b1, W2, b2, x).reshape(V, V)  # noqa: E731
    logits = run(features)
    target = np.zeros((V, V), dtype=bool)
    target[a, b] = True
    net = f"nn.Sequential(nn.Linear({2 * V}, {H}), nn.ReLU(), nn.Linear({H}, 1))"
    if not np.all(np.isfinite(logits)):
        i, j = (int(k) for k in np.argwhere(~np.isfinite(logits))[0])
        return (
            f"Your detector, run as {net} in float64, outputs {logits[i, j]} on the window "
            f"({i}, {j}): keep the weights moderate so that every output is a finite number."
        )
    if _meets(logits, target):
        return None
    # The first window that breaks the property: (a, b), then (b, a), then the others in order.
    wrong = np.where(target, logits < MARGIN, logits > -MARGIN)
    order = [(a, b), (b, a)] + [(int(i), int(j)) for i, j in np.argwhere(wrong)]
    i, j = next(w for w in order if wrong[w])
    names = {(a, b): f"a = {a} then b = {b}", (b, a): f"b = {b} then a = {a}"}
    name = names.get((i, j), f"token {i} then token {j}")
    if (i, j) == (a, b):
        should = f"it should be at least +{MARGIN} there, the one window to fire on"
    else:
        should = f"every window other than a = {a} then b = {b} should give at most -{MARGIN}"
    fires = logits > 0
    lines = [
        f"Your detector, run as {net} in float64 on all {V * V} windows of two tokens "
        f"(window_features(..., window=2) of each), is wrong on the window ({i}, {j}), {name}: "
        f"it outputs {logits[i, j]:+.4g}, but {should}.",
        f"  It fires (outputs more than 0) on {int(fires.sum())} of the {V * V} windows"
        + (f": {_window_list(V, fires)}." if fires.any() else "."),
    ]
    # What the pattern of windows it fires on says about the design: the first that fits.
    shape = features.reshape(V * V, 2, V)
    hints = []
    if not fires.any():
        hints.append(NEVER)
    elif fires.sum() == V * V - 1 and not fires[a, b]:
        hints.append(INVERTED)
    elif _meets(run(shape[:, ::-1].reshape(V * V, 2 * V)), target):
        hints.append(SWAPPED)
    elif _meets(run(shape.transpose(0, 2, 1).reshape(V * V, 2 * V)), target):
        hints.append(VOCAB_MAJOR)
    elif fires[a, b] and fires[b, a]:
        hints.append(ORDER_IGNORED)
    elif fires[a].all() and fires[:, b].all():
        hints.append(EITHER)
    elif fires[a].all():
        hints.append(SECOND_IGNORED)
    elif fires[:, b].all():
        hints.append(FIRST_IGNORED)
    elif np.array_equal(fires, target):
        hints.append(NO_MARGIN)
    elif fires.sum() == 1:
        p, q = (int(k) for k in np.argwhere(fires)[0])
        hints.append(
            f"it detects {p} then {q} instead of {a} then {b}: input "
            f"position * vocab_size + token stands for that token in that position "
            f"(position 0 is the first, older token)"
        )
    lines += [f"  Hint: {h}." for h in hints]
    return "\n".join(lines)


ADJACENT_PAIR_DETECTOR = Part(
    grade_id="adjacent_pair_detector",
    points=3,
    signature=("vocab_size", "a", "b"),
    inputs=_detector_inputs,
    reference=ref.adjacent_pair_detector,
    reference_name="a detector of a then b, run as nn.Sequential(nn.Linear(2 * vocab_size, H), "
    "nn.ReLU(), nn.Linear(H, 1))",
    outputs=(
        Output("W1", "first layer's weight W1", axes=("hidden unit", "input"), free=(0,)),
        Output("b1", "first layer's bias b1", axes=("hidden unit",), free=(0,)),
        Output("W2", "output layer's weight W2", axes=("output", "hidden unit"), free=(1,)),
        Output("b2", "output layer's bias b2", axes=("output",)),
    ),
    # Both visible cases catch and name every declared mistake; the second puts a at the end of
    # the vocabulary (an index past the first block shows there) and b before it.
    visible=(Case(0), Case(1, vocab_size=7, a=6, b=2)),
    hidden=(
        Case(51),
        Case(52),
        Case(53, vocab_size=2, a=1, b=0),
        Case(54, vocab_size=12),
        Case(55, vocab_size=5, a=0, b=4),
        Case(56, vocab_size=3),
    ),
    mistakes=_detector_mistakes,
    hint="Return (W1, b1, W2, b2) in nn.Linear's layout: W1 (H, 2 * vocab_size), b1 (H,), "
    f"W2 (1, H), b2 (1,), all float64, with H (1 to {MAX_HIDDEN} hidden units) of your "
    "choice. Input "
    "j < vocab_size is the first token's one-hot code, input vocab_size + j the second's.",
    sizes=lambda args: {"V": args["vocab_size"], "a": args["a"], "b": args["b"]},
    property_check=_detector_property,
)

PARTS = (
    BAG_OF_WORDS,
    WINDOW_FEATURES,
    WINDOW_MLP_PARAM_COUNT,
    RNN_PARAM_COUNT,
    ADJACENT_PAIR_DETECTOR,
)

check_bag_of_words = BAG_OF_WORDS.make_check()
check_window_features = WINDOW_FEATURES.make_check()
check_window_mlp_param_count = WINDOW_MLP_PARAM_COUNT.make_check()
check_rnn_param_count = RNN_PARAM_COUNT.make_check()
check_adjacent_pair_detector = ADJACENT_PAIR_DETECTOR.make_check()
