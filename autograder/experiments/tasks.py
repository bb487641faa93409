"""Synthetic sequence tasks shared by the chapters and the exercises.

Everything is generated from a seed, so nothing is downloaded and every run of
the book sees the same data.

The *order task* (chapter 1, solved again in chapter 2) is built so that word
order is the only signal:

* the vocabulary holds two marker tokens, ``A`` (id 0) and ``B`` (id 1), and
  ``vocab_size - 2`` distractor tokens;
* every sequence contains exactly one ``A`` and one ``B``, both placed in the
  first ``marker_span`` positions; every other position holds a random
  distractor;
* the label is 1 when ``A`` comes before ``B`` and 0 otherwise.

A bag of words sees the same counts for both labels (one A, one B, and
distractors drawn independently of the label), so it cannot beat chance.  A
window over the last ``seq_len - marker_span`` tokens or fewer only ever sees
distractors, so it cannot beat chance either.  A recurrent network, which
carries a state from the first token to the last, can.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MARKER_A = 0
MARKER_B = 1


@dataclass(frozen=True)
class OrderTask:
    """One draw of the order task: ``tokens`` (N, T) int64 and ``labels`` (N,) int64."""

    tokens: np.ndarray
    labels: np.ndarray
    vocab_size: int
    marker_span: int

    @property
    def seq_len(self) -> int:
        return self.tokens.shape[1]


def order_task(
    n: int, *, seq_len: int = 12, marker_span: int = 6, vocab_size: int = 8, seed: int = 0
) -> OrderTask:
    """Draw ``n`` sequences of the order task (see the module docstring)."""
    if not 2 <= marker_span <= seq_len:
        raise ValueError(f"marker_span must lie in [2, seq_len={seq_len}], got {marker_span}")
    if vocab_size < 3:
        raise ValueError(f"vocab_size must be at least 3 (A, B and a distractor), got {vocab_size}")
    rng = np.random.default_rng(seed)
    tokens = rng.integers(2, vocab_size, size=(n, seq_len), dtype=np.int64)
    # Two distinct positions among the first marker_span, in random order.
    pos = np.argsort(rng.random((n, marker_span)), axis=1)[:, :2]
    rows = np.arange(n)
    tokens[rows, pos[:, 0]] = MARKER_A
    tokens[rows, pos[:, 1]] = MARKER_B
    labels = (pos[:, 0] < pos[:, 1]).astype(np.int64)
    return OrderTask(tokens=tokens, labels=labels, vocab_size=vocab_size, marker_span=marker_span)


@dataclass(frozen=True)
class OrderExperiment:
    """The order-task experiment that chapter 1 runs and chapter 2 repeats.

    Kept here, once, so that "chapter 2 solves chapter 1's task" stays true:
    both chapters read their sizes, data and training budget from this object.
    """

    vocab_size: int = 8  # A, B and six distractor tokens
    seq_len: int = 12  # tokens per sequence
    marker_span: int = 6  # A and B always sit in the first marker_span positions
    hidden_size: int = 16  # hidden units of every model in the experiment
    num_train: int = 4000
    num_test: int = 1000
    steps: int = 600  # Adam steps
    batch_size: int = 128
    lr: float = 1e-2
    train_seed: int = 0
    test_seed: int = 1

    def splits(self) -> tuple[OrderTask, OrderTask]:
        """The training and test sets, always the same draws."""
        common = dict(
            seq_len=self.seq_len, marker_span=self.marker_span, vocab_size=self.vocab_size
        )
        return (
            order_task(self.num_train, seed=self.train_seed, **common),
            order_task(self.num_test, seed=self.test_seed, **common),
        )


ORDER_EXPERIMENT = OrderExperiment()
