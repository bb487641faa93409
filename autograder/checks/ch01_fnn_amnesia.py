"""Checks for chapter 1's graded exercises (why feed-forward networks forget order).

Encodings are compared with ``torch.nn.functional.one_hot`` references;
parameter counts with ``sum(p.numel())`` of real ``torch.nn`` modules built at
the randomised sizes.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..comparing import call_student, require_int
from ..references import ch01_fnn_amnesia as ref
from ._harness import check_array_function, passed

__all__ = ["check_bag_of_words", "check_window_features", "check_window_mlp_param_count",
           "check_rnn_param_count", "make_tokens"]


def make_tokens(seed: int, *, num_sequences=None, seq_len=None, vocab_size=None):
    """Random token ids (N, T) int64 and the vocabulary size, from ``seed``."""
    rng = np.random.default_rng(seed)
    N = num_sequences or int(rng.integers(2, 6))
    T = seq_len or int(rng.integers(4, 10))
    V = vocab_size or int(rng.integers(4, 9))
    tokens = rng.integers(0, V, size=(N, T), dtype=np.int64)
    tokens[0, 0] = V - 1   # the largest id always occurs: catches an off-by-one vocabulary
    return tokens, V


def check_bag_of_words(bag_of_words, seed: int = 0, **sizes) -> None:
    """``bag_of_words(tokens, vocab_size)`` -> (N, V) float64 counts."""
    tokens, V = make_tokens(seed, **sizes)
    expected = ref.bag_of_words(tokens, V)
    check_array_function(
        bag_of_words, "bag_of_words", dict(tokens=tokens, vocab_size=V), expected=expected,
        output="bag-of-words counts", axes=("sequence", "token id"),
        reference="torch.nn.functional.one_hot(tokens).sum(dim=1)",
        mistakes={
            "only presence is recorded (1 for a word that occurs, instead of how many times)":
                lambda: (expected > 0).astype(np.float64),
            "the counts are divided by the sequence length (frequencies, not counts)":
                lambda: expected / tokens.shape[1],
            "the token ids are shifted by one (column v should count token id v)":
                lambda: np.roll(expected, 1, axis=1),
        },
        shape_hint="tokens has shape (num_sequences, seq_len); the result has one row per "
                   "sequence and one column per token id 0..vocab_size-1.")
    N, T = tokens.shape
    passed("bag_of_words", seed, {"N": N, "T": T, "V": V})


def check_window_features(window_features, seed: int = 0, window=None, **sizes) -> None:
    """``window_features(tokens, vocab_size, window)`` -> (N, window*V) float64."""
    tokens, V = make_tokens(seed, **sizes)
    T = tokens.shape[1]
    if window is None:
        window = int(np.random.default_rng(seed + 1000).integers(2, T))
    args = dict(tokens=tokens, vocab_size=V, window=window)
    expected = ref.window_features(**args)
    one_hot = np.eye(V)[tokens]                      # (N, T, V), for the mistakes only
    padded = np.concatenate([np.zeros((len(tokens), max(0, window - T), V)), one_hot], axis=1)
    flat = lambda a: a.reshape(len(tokens), -1)  # noqa: E731
    mistakes = {
        "the window holds the newest token first (order it oldest first)":
            lambda: flat(padded[:, -window:][:, ::-1]),
        "the window holds the FIRST `window` tokens instead of the last ones":
            lambda: flat(padded[:, :window]),
        "the window stops one token early (the newest token is missing)":
            lambda: flat(np.concatenate([np.zeros_like(padded[:, :1]), padded], 1)[:, -window - 1:-1]),
        "the features are flattened time-major per vocabulary entry (transposed before reshape)":
            lambda: flat(padded[:, -window:].transpose(0, 2, 1)),
    }
    check_array_function(
        window_features, "window_features", args, expected=expected,
        output="window features", axes=("sequence", "feature"),
        reference="one_hot of the last `window` tokens, oldest first, flattened",
        mistakes=mistakes,
        shape_hint="the result has shape (num_sequences, window * vocab_size): the one-hot "
                   "vector of each of the last `window` tokens, oldest first, side by side; "
                   "positions before the start of the sequence are all-zero vectors.")
    passed("window_features", seed, {"N": len(tokens), "T": T, "V": V, "window": window})


def _count_sizes(seed, names, given):
    rng = np.random.default_rng(seed)
    ranges = {"vocab_size": (5, 5000), "window": (2, 12), "hidden_size": (3, 600),
              "num_classes": (2, 50)}
    return {n: int(given.get(n) or rng.integers(*ranges[n])) for n in names}


def _check_count(fn, name, args, expected, mistakes, module_desc):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = require_int(call_student(fn, name, args), f"The count returned by `{name}`")
    if got == expected:
        return
    lines = [f"`{name}({', '.join(f'{k}={v}' for k, v in args.items())})` returned {got}, "
             f"but {module_desc} has {expected} parameters (difference {got - expected:+d})."]
    hits = [desc for desc, value in mistakes.items() if value == got]
    if hits:
        lines.append(f"Hint: that is the count you get when {hits[0]}.")
    else:
        lines.append("Count every weight matrix AND every bias vector of every layer.")
    raise AssertionError("\n".join(lines))


def check_window_mlp_param_count(window_mlp_param_count, seed: int = 0, **sizes) -> None:
    """Parameters of Linear(window*V -> H) + Linear(H -> C), counted by PyTorch."""
    a = _count_sizes(seed, ("vocab_size", "window", "hidden_size", "num_classes"), sizes)
    V, w, H, C = a["vocab_size"], a["window"], a["hidden_size"], a["num_classes"]
    expected = ref.window_mlp_param_count(**a)
    mistakes = {
        "the biases are left out": w * V * H + H * C,
        "the window is forgotten (the first layer sees one token, V inputs, not window*V)":
            V * H + H + H * C + C,
        "the output layer is left out": w * V * H + H,
        "the bias of the output layer is left out": w * V * H + H + H * C,
    }
    _check_count(window_mlp_param_count, "window_mlp_param_count", a, expected, mistakes,
                 f"nn.Sequential(nn.Linear({w}*{V}, {H}), nn.Tanh(), nn.Linear({H}, {C}))")
    passed("window_mlp_param_count", seed, a)


def check_rnn_param_count(rnn_param_count, seed: int = 0, **sizes) -> None:
    """Parameters of nn.RNN(V -> H) + nn.Linear(H -> C), counted by PyTorch."""
    a = _count_sizes(seed, ("vocab_size", "hidden_size", "num_classes"), sizes)
    V, H, C = a["vocab_size"], a["hidden_size"], a["num_classes"]
    expected = ref.rnn_param_count(**a)
    mistakes = {
        "only one recurrent bias is counted (PyTorch's nn.RNN keeps two: b_ih and b_hh)":
            V * H + H * H + H + H * C + C,
        "the recurrent weights W_hh (H x H) are left out": V * H + 2 * H + H * C + C,
        "the biases are left out": V * H + H * H + H * C,
        "the output layer is left out": V * H + H * H + 2 * H,
    }
    _check_count(rnn_param_count, "rnn_param_count", a, expected, mistakes,
                 f"nn.RNN({V}, {H}) followed by nn.Linear({H}, {C})")
    passed("rnn_param_count", seed, a)
