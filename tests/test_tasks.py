"""The synthetic order task does what chapters 1 and 2 say it does."""

from __future__ import annotations

import numpy as np
import pytest

from autograder.experiments.tasks import MARKER_A, MARKER_B, ORDER_EXPERIMENT, order_task


def test_every_sequence_has_one_A_and_one_B_early_and_the_label_says_which_came_first():
    train, test = ORDER_EXPERIMENT.splits()
    for split, n in ((train, ORDER_EXPERIMENT.num_train), (test, ORDER_EXPERIMENT.num_test)):
        assert split.tokens.shape == (n, ORDER_EXPERIMENT.seq_len) and split.labels.shape == (n,)
        span = ORDER_EXPERIMENT.marker_span
        assert ((split.tokens == MARKER_A).sum(1) == 1).all()
        assert ((split.tokens == MARKER_B).sum(1) == 1).all()
        assert not np.isin(split.tokens[:, span:], [MARKER_A, MARKER_B]).any()
        pos_a = (split.tokens == MARKER_A).argmax(1)
        pos_b = (split.tokens == MARKER_B).argmax(1)
        np.testing.assert_array_equal(split.labels, (pos_a < pos_b).astype(np.int64))
        assert 0.45 < split.labels.mean() < 0.55


def test_the_splits_are_fixed_and_distinct():
    a, b = ORDER_EXPERIMENT.splits(), ORDER_EXPERIMENT.splits()
    np.testing.assert_array_equal(a[0].tokens, b[0].tokens)
    assert not np.array_equal(a[0].tokens[:100], a[1].tokens[:100])


def test_bag_of_words_counts_carry_no_label_information():
    task = order_task(20000, seed=5)
    counts = np.stack([np.bincount(r, minlength=task.vocab_size) for r in task.tokens])
    gap = np.abs(counts[task.labels == 1].mean(0) - counts[task.labels == 0].mean(0))
    assert gap.max() < 0.05


@pytest.mark.parametrize(
    "kwargs,message", [({"marker_span": 1}, "marker_span"), ({"vocab_size": 2}, "vocab_size")]
)
def test_bad_settings_are_refused_clearly(kwargs, message):
    with pytest.raises(ValueError, match=message):
        order_task(10, **kwargs)
