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


# Part 5 (a design part): detectors built differently from the solution's single AND unit.


def detector_and_at_output(vocab_size, a, b):
    """Two units, "a is first" and "b is second"; the output layer demands both."""
    W1 = np.zeros((2, 2 * vocab_size))
    W1[0, a] = W1[1, vocab_size + b] = 1.0
    return W1, np.zeros(2), np.array([[2.0, 2.0]]), np.array([-3.0])


def detector_penalising_the_rest(vocab_size, a, b):
    """One unit: +1 for the wanted token in each slot, -1 for any other, no bias."""
    first = np.where(np.arange(vocab_size) == a, 1.0, -1.0)
    second = np.where(np.arange(vocab_size) == b, 1.0, -1.0)
    W1 = np.concatenate([first, second]).reshape(1, -1)
    return W1, np.zeros(1), np.ones((1, 1)), -np.ones(1)


def detector_from_identity_rows(vocab_size, a, b):
    """Rows of the identity picked as in window_features, several redundant units, big margin."""
    pick = np.eye(2 * vocab_size)[[a, vocab_size + b]].sum(axis=0)
    W1 = np.tile(pick, (3, 1)) * np.array([[1.0], [2.0], [3.0]])
    b1 = -np.array([1.0, 2.0, 3.0])
    return W1, b1, np.full((1, 3), 10.0), np.array([-5.0])


HONEST = [
    (checks.check_adjacent_pair_detector, SOL["adjacent_pair_detector"]),
    (checks.check_adjacent_pair_detector, detector_and_at_output),
    (checks.check_adjacent_pair_detector, detector_penalising_the_rest),
    (checks.check_adjacent_pair_detector, detector_from_identity_rows),
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
    for fn in (detector_and_at_output, detector_penalising_the_rest):
        checks.check_adjacent_pair_detector(fn, seed=3, vocab_size=2, a=0, b=1)
        checks.check_adjacent_pair_detector(fn, seed=3, vocab_size=12, a=11, b=0)


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


# Part 5: students' own wrong designs, written differently from the declared mistakes' makers,
# and answers whose sizes or types are wrong.


def _one_unit(vocab_size, first, second, bias, out=(2.0, -1.0)):
    W1 = np.zeros((1, 2 * vocab_size))
    for token in first:
        W1[0, token] += 1.0
    for token in second:
        W1[0, vocab_size + token] += 1.0
    return W1, np.array([float(bias)]), np.array([[out[0]]]), np.array([out[1]])


def bag_detector(vocab_size, a, b):
    """Counts of a and b (the same weights in both slots), one unit each, summed."""
    counts = np.concatenate([np.eye(vocab_size)[[a, b]]] * 2, axis=1)  # (2, 2V)
    return counts, np.zeros(2), np.array([[1.0, 1.0]]), np.array([-1.5])


def detector_weights_by_table(vocab_size, a, b):
    table = np.zeros((vocab_size, 2))  # (token, slot), flattened row by row: vocabulary-major
    table[a, 0], table[b, 1] = 1.0, 1.0
    return table.reshape(1, -1), np.array([-1.0]), np.array([[2.0]]), np.array([-1.0])


DETECTOR_MUTANTS = [
    ("bag of two counts", bag_detector, checks.ORDER_IGNORED),
    ("slots swapped", lambda V, a, b: _one_unit(V, [b], [a], -1), checks.SWAPPED),
    ("vocabulary-major table", detector_weights_by_table, checks.VOCAB_MAJOR),
    ("only a, first slot", lambda V, a, b: _one_unit(V, [a], [], 0, (3.0, -1.0)), "second pos"),
    ("only b, second slot", lambda V, a, b: _one_unit(V, [], [b], 0, (3.0, -1.0)), "first pos"),
    ("OR, not AND", lambda V, a, b: _one_unit(V, [a], [b], -0.5, (4.0, -1.0)), "either position"),
    ("threshold of 2", lambda V, a, b: _one_unit(V, [a], [b], -2), "it never fires"),
    ("sign flipped", lambda V, a, b: _one_unit(V, [a], [b], -1, (-4.0, 2.0)), "inverted"),
    ("margin 0.1", lambda V, a, b: _one_unit(V, [a], [b], -1, (0.2, -0.1)), "not by the margin"),
    (
        "second slot off by one",
        lambda V, a, b: _one_unit(V, [a], [(b - 1) % V], -1),
        "it detects 5 then 0 instead of 5 then 1",
    ),
    (
        "a lookup table of every window",
        lambda V, a, b: (
            np.concatenate([np.repeat(np.eye(V), V, 0), np.tile(np.eye(V), (V, 1))], 1),
            -np.ones(V * V),
            np.where(np.arange(V * V) == a * V + b, 2.0, -2.0)[None],
            np.array([-1.0]),
        ),
        "use between 1 and 8",
    ),
    (
        "hidden sizes disagree",
        lambda V, a, b: (np.zeros((2, 2 * V)), np.zeros(1), np.zeros((1, 2)), np.zeros(1)),
        "The hidden sizes disagree",
    ),
    (
        "W1 transposed",
        lambda V, a, b: tuple(
            w.T.copy() if i == 0 else w for i, w in enumerate(_one_unit(V, [a], [b], -1))
        ),
        "nn.Linear's layout",
    ),
    (
        "float32 weights",
        lambda V, a, b: tuple(w.astype(np.float32) for w in _one_unit(V, [a], [b], -1)),
        "dtype float64",
    ),
    ("b2 a number", lambda V, a, b: _one_unit(V, [a], [b], -1)[:3] + (-1.0,), "numpy.ndarray"),
    ("a list", lambda V, a, b: list(_one_unit(V, [a], [b], -1)), "should return a tuple"),
    (
        "weights that overflow",
        lambda V, a, b: (_one_unit(V, [a], [b], -1)[0] * 1e308,) + _one_unit(V, [a], [b], -1)[1:],
        "finite number",
    ),
    (
        "built with torch",
        lambda V, a, b: tuple(
            p.detach().double().numpy().copy()
            for p in torch.nn.Sequential(
                torch.nn.Linear(2 * V, 1), torch.nn.ReLU(), torch.nn.Linear(1, 1)
            ).parameters()
        ),
        "may use NumPy only",
    ),
]


@pytest.mark.parametrize(
    "name,fn,hint", DETECTOR_MUTANTS, ids=[name for name, _, _ in DETECTOR_MUTANTS]
)
def test_wrong_detectors_are_rejected_with_a_pointed_message(name, fn, hint):
    assert_rejected(checks.check_adjacent_pair_detector, fn, hint, name)


def test_a_wrong_detector_is_told_the_first_window_it_gets_wrong_and_its_output_there():
    # The first visible case is V = 8, a = 5, b = 1; the bag of counts outputs +0.5 on (1, 5).
    message = assert_rejected(
        checks.check_adjacent_pair_detector, bag_detector, "ignores the order"
    )
    assert "on the window (1, 5), b = 1 then a = 5: it outputs +0.5" in message
    assert (
        "fires (outputs more than 0) on 4 of the 64 windows: (1, 1), (1, 5), (5, 1), (5, 5)"
        in message
    )


def test_too_many_hidden_units_is_refused_without_giving_the_answer_away():
    """Issue 19 (walk-through): the message said "(one is enough to detect one pair)"."""
    table = next(fn for name, fn, _ in DETECTOR_MUTANTS if name == "a lookup table of every window")
    message = assert_rejected(checks.check_adjacent_pair_detector, table, "use between 1 and 8")
    assert "one is enough" not in message and "Your network has 64 hidden units" in message


@pytest.mark.parametrize(
    "check,name,fn,hint", MUTANTS, ids=[f"{c.__name__}-{n}" for c, n, _, _ in MUTANTS]
)
def test_mutants_are_rejected_with_a_pointed_message(check, name, fn, hint):
    assert_rejected(check, fn, hint, name)


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
