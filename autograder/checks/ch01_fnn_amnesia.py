"""Chapter 1's graded parts (why feed-forward networks forget order), declared once.

Encodings are compared with ``torch.nn.functional.one_hot`` references;
parameter counts with ``sum(p.numel())`` of real ``torch.nn`` modules built at
the drawn sizes. Each :class:`~autograder.parts.Part` below is the single
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

PARTS = (BAG_OF_WORDS, WINDOW_FEATURES, WINDOW_MLP_PARAM_COUNT, RNN_PARAM_COUNT)

check_bag_of_words = BAG_OF_WORDS.make_check()
check_window_features = WINDOW_FEATURES.make_check()
check_window_mlp_param_count = WINDOW_MLP_PARAM_COUNT.make_check()
check_rnn_param_count = RNN_PARAM_COUNT.make_check()
