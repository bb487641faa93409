"""Chapter 1 checks: correct implementations pass, wrong ones are rejected with the right hint.

The parts are declared in autograder/checks/ch01_fnn_amnesia.py; registry-wide
properties (solutions pass every case, stubs fail, declared mistakes are caught
by the visible cases) are in tests/test_parts.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import assert_passes, assert_rejected, solution_namespace

from autograder.checks import ch01_fnn_amnesia as checks

SOL = solution_namespace("01-fnn-amnesia")
SEEDS = (0, 1, 5, 99)


def bow_bincount(tokens, vocab_size):
    return np.stack([np.bincount(row, minlength=vocab_size) for row in tokens]).astype(np.float64)


def window_by_padding(tokens, vocab_size, window):
    padded = np.concatenate([np.full((tokens.shape[0], window), -1), tokens], axis=1)[:, -window:]
    return (padded[..., None] == np.arange(vocab_size)).reshape(len(tokens), -1).astype(np.float64)


def window_count_by_torch(vocab_size, window, hidden_size, num_classes):
    # Builds the module the part asks to count by a formula: refused (NumPy only).
    layers = [
        torch.nn.Linear(window * vocab_size, hidden_size, device="meta"),
        torch.nn.Linear(hidden_size, num_classes, device="meta"),
    ]
    return int(sum(p.numel() for layer in layers for p in layer.parameters()))


HONEST = [
    (checks.check_bag_of_words, SOL["bag_of_words"]),
    (checks.check_bag_of_words, bow_bincount),
    (checks.check_window_features, SOL["window_features"]),
    (checks.check_window_features, window_by_padding),
    (checks.check_window_mlp_param_count, SOL["window_mlp_param_count"]),
    (checks.check_rnn_param_count, SOL["rnn_param_count"]),
    (
        checks.check_rnn_param_count,
        lambda vocab_size, hidden_size, num_classes: (
            vocab_size * hidden_size
            + hidden_size**2
            + 2 * hidden_size
            + hidden_size * num_classes
            + num_classes
        ),
    ),
    (  # a NumPy integer is a count too (issue 16)
        checks.check_rnn_param_count,
        lambda vocab_size, hidden_size, num_classes: (
            np.int64(vocab_size + hidden_size + 2) * hidden_size
            + np.int64(num_classes) * (hidden_size + 1)
        ),
    ),
]


@pytest.mark.parametrize("check,fn", HONEST, ids=lambda v: getattr(v, "__name__", str(v)))
@pytest.mark.parametrize("seed", SEEDS)
def test_honest_implementations_pass(check, fn, seed, capfd):
    assert_passes(check, fn, capfd, seed=seed)


def test_edge_cases_pass():
    checks.check_bag_of_words(SOL["bag_of_words"], seed=3, num_sequences=1, seq_len=1)
    checks.check_window_features(SOL["window_features"], seed=3, seq_len=2, window=5)
    checks.check_window_features(window_by_padding, seed=4, window=1)


def _bow(tokens, V):
    return np.eye(V)[tokens].sum(axis=1)


def _win(tokens, V, w):
    return window_by_padding(tokens, V, w).reshape(len(tokens), w, V)


MUTANTS = [
    (
        checks.check_bag_of_words,
        "presence only",
        lambda tokens, vocab_size: (_bow(tokens, vocab_size) > 0).astype(np.float64),
        "only presence",
    ),
    (
        checks.check_bag_of_words,
        "frequencies",
        lambda tokens, vocab_size: _bow(tokens, vocab_size) / tokens.shape[1],
        "divided by the sequence length",
    ),
    (
        checks.check_bag_of_words,
        "ids shifted",
        lambda tokens, vocab_size: np.roll(_bow(tokens, vocab_size), 1, axis=1),
        "shifted by one",
    ),
    (
        checks.check_bag_of_words,
        "vocabulary one too small",
        lambda tokens, vocab_size: np.eye(vocab_size - 1)[np.minimum(tokens, vocab_size - 2)].sum(
            1
        ),
        "should have shape",
    ),
    (
        checks.check_bag_of_words,
        "int counts",
        lambda tokens, vocab_size: _bow(tokens, vocab_size).astype(np.int64),
        "dtype float64",
    ),
    (
        checks.check_bag_of_words,
        "transposed",
        lambda tokens, vocab_size: _bow(tokens, vocab_size).T.copy(),
        "should have shape",
    ),
    (
        checks.check_window_features,
        "newest first",
        lambda tokens, vocab_size, window: _win(tokens, vocab_size, window)[:, ::-1].reshape(
            len(tokens), -1
        ),
        "newest token first",
    ),
    (
        checks.check_window_features,
        "first tokens",
        lambda tokens, vocab_size, window: window_by_padding(
            tokens[:, :window], vocab_size, window
        ),
        "FIRST `window` tokens",
    ),
    (
        checks.check_window_features,
        "off by one",
        lambda tokens, vocab_size, window: window_by_padding(tokens[:, :-1], vocab_size, window),
        "stops one token early",
    ),
    (
        checks.check_window_features,
        "vocab-major flattening",
        lambda tokens, vocab_size, window: (
            _win(tokens, vocab_size, window).transpose(0, 2, 1).reshape(len(tokens), -1)
        ),
        "flattened vocabulary-major",
    ),
    # Issue 8: the naive window passed the visible test and failed the hidden window > T case.
    (
        checks.check_window_features,
        "no padding when window > T",
        lambda tokens, vocab_size, window: np.eye(vocab_size)[tokens[:, -window:]].reshape(
            len(tokens), -1
        ),
        "pad on the left",
    ),
    (
        checks.check_window_mlp_param_count,
        "built with torch",
        window_count_by_torch,
        "may use NumPy only",
    ),
    (
        checks.check_window_mlp_param_count,
        "no biases",
        lambda vocab_size, window, hidden_size, num_classes: (
            window * vocab_size * hidden_size + hidden_size * num_classes
        ),
        "biases are left out",
    ),
    (
        checks.check_window_mlp_param_count,
        "window forgotten",
        lambda vocab_size, window, hidden_size, num_classes: (
            (vocab_size + 1) * hidden_size + (hidden_size + 1) * num_classes
        ),
        "window is forgotten",
    ),
    (
        checks.check_window_mlp_param_count,
        "float result",
        lambda vocab_size, window, hidden_size, num_classes: float(
            (window * vocab_size + 1) * hidden_size + (hidden_size + 1) * num_classes
        ),
        "Python int",
    ),
    (
        checks.check_rnn_param_count,
        "one bias",
        lambda vocab_size, hidden_size, num_classes: (
            hidden_size * (vocab_size + hidden_size + 1) + num_classes * (hidden_size + 1)
        ),
        "only one recurrent bias",
    ),
    (
        checks.check_rnn_param_count,
        "no W_hh",
        lambda vocab_size, hidden_size, num_classes: (
            hidden_size * (vocab_size + 2) + num_classes * (hidden_size + 1)
        ),
        "W_hh (H x H) are left out",
    ),
    (
        checks.check_rnn_param_count,
        "a float count",
        lambda vocab_size, hidden_size, num_classes: float(
            hidden_size * (vocab_size + hidden_size + 2) + num_classes * (hidden_size + 1)
        ),
        "integer arithmetic",
    ),
]


@pytest.mark.parametrize(
    "check,name,fn,hint", MUTANTS, ids=[f"{c.__name__}-{n}" for c, n, _, _ in MUTANTS]
)
def test_mutants_are_rejected_with_a_pointed_message(check, name, fn, hint):
    assert_rejected(check, fn, hint, name)


@pytest.mark.parametrize(
    "check",
    [
        checks.check_bag_of_words,
        checks.check_window_features,
        checks.check_window_mlp_param_count,
        checks.check_rnn_param_count,
    ],
)
def test_the_student_stub_fails_with_a_clear_message(check):
    def stub(*args, **kwargs):
        raise NotImplementedError()

    with pytest.raises(AssertionError, match="not implemented yet"):
        check(stub)


def test_bool_is_not_an_int():
    with pytest.raises(AssertionError, match="Python int"):
        checks.check_rnn_param_count(lambda *args: True)


def test_coinciding_mistakes_are_all_named():
    """Issue 8: with H = 1, "one bias" and "W_hh left out" give the same count."""

    def one_bias(vocab_size, hidden_size, num_classes):
        return hidden_size * (vocab_size + hidden_size + 1) + num_classes * (hidden_size + 1)

    with pytest.raises(AssertionError) as info:
        checks.check_rnn_param_count(one_bias, seed=44, hidden_size=1, num_classes=2)
    msg = str(info.value)
    assert "only one recurrent bias" in msg and "W_hh (H x H) are left out" in msg
    with pytest.raises(AssertionError) as info:
        checks.check_rnn_param_count(one_bias)  # the visible case: H > 1, one name
    assert "only one recurrent bias" in str(info.value)
    assert "W_hh (H x H) are left out" not in str(info.value)
