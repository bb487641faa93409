"""The cue-to-blank language: a long-range dependency whose length is a knob.

Chapter 4 (vanishing and exploding gradients) measures how far back an Elman
network can reach with it; chapter 5 (gated cells) runs the same experiment
again. Everything is generated from a seed: nothing is downloaded, and every
run of the book sees the same sentences.

Every sentence has the same shape::

    i'm <cue> <filler> ... <filler> i want to go ___      answer: <answer>
    i'm hungry the news was late and ... i want to go ___  answer: eat

* ``<cue>`` is one of the first ``n_cues`` words of :data:`CUES` (hungry,
  tired, bored, thirsty) and the answer is the word of :data:`ANSWERS` at the
  same index (eat, sleep, play, drink). The label is that index, a class in
  ``range(n_cues)``; ``CueTask.answer_ids`` gives the answer's word id.
* The fillers are drawn uniformly and independently from :data:`FILLERS`,
  whatever the cue. So *nothing but the cue predicts the answer*: the
  fillers, the prefix ``i'm`` and the suffix ``i want to go ___`` are the same
  in distribution for every label, and a model that does not carry the cue
  from position 2 to the blank cannot beat chance, ``1 / n_cues``.
* ``distance`` is the number of time steps from the cue to the blank:
  ``blank position - cue position``. The network reads the blank token
  ``___`` as its last input and answers from that last state, so the answer
  must travel exactly ``distance`` recurrent steps, h_cue -> h_blank. The
  shortest sentence has no filler: distance :data:`MIN_DISTANCE` = 5
  ("i'm hungry i want to go ___"); every further step is one filler word.

The classes are balanced: each cue appears ``n // n_cues`` or one more times
(exactly ``n / n_cues`` when ``n_cues`` divides ``n``), in a random order, so
always guessing one answer scores chance too. The labels drawn for a given
``(n, n_cues, seed)`` do not depend on the distance (the cues are drawn first),
so data sets of different distances hold the same cues in the same order and
differ only in how much filler sits between cue and blank.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

__all__ = [
    "PAD",
    "PREFIX",
    "CUES",
    "ANSWERS",
    "SUFFIX",
    "BLANK",
    "FILLERS",
    "VOCAB",
    "WORD_TO_ID",
    "MIN_DISTANCE",
    "CUE_POSITION",
    "CueTask",
    "cue_task",
    "decode",
    "encode",
    "CueExperiment",
    "CUE_EXPERIMENT",
]

PAD = "<pad>"  # id 0; never produced by cue_task, kept for batches of mixed lengths
PREFIX = "i'm"
CUES = ("hungry", "tired", "bored", "thirsty")
ANSWERS = ("eat", "sleep", "play", "drink")
SUFFIX = ("i", "want", "to", "go")
BLANK = "___"
FILLERS = (
    "the",
    "news",
    "was",
    "late",
    "and",
    "my",
    "friend",
    "called",
    "about",
    "school",
    "it",
    "rained",
    "all",
    "day",
    "so",
    "we",
    "talked",
    "music",
    "then",
    "weather",
)

VOCAB: tuple[str, ...] = (PAD, PREFIX, *CUES, *ANSWERS, *SUFFIX, BLANK, *FILLERS)
WORD_TO_ID = MappingProxyType({w: i for i, w in enumerate(VOCAB)})
assert len(WORD_TO_ID) == len(VOCAB), "a word appears twice in the vocabulary"

CUE_POSITION = 2  # 1-based: "i'm" is position 1, the cue position 2
MIN_DISTANCE = len(SUFFIX) + 1  # "i want to go ___" after the cue
_CUE_IDS = np.array([WORD_TO_ID[w] for w in CUES], dtype=np.int64)
_ANSWER_IDS = np.array([WORD_TO_ID[w] for w in ANSWERS], dtype=np.int64)
_FILLER_IDS = np.array([WORD_TO_ID[w] for w in FILLERS], dtype=np.int64)
_TAIL_IDS = np.array([WORD_TO_ID[w] for w in (*SUFFIX, BLANK)], dtype=np.int64)


def _check_int(name: str, value, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if value < low or (high is not None and value > high):
        where = f"at least {low}" if high is None else f"between {low} and {high}"
        raise ValueError(f"{name} must be {where}, got {value}")
    return value


def encode(words) -> np.ndarray:
    """Word ids (int64) of a sentence given as a string ("i'm hungry ...") or a list of words."""
    if isinstance(words, str):
        words = words.split()
    unknown = [w for w in words if w not in WORD_TO_ID]
    if unknown:
        raise ValueError(f"words not in the vocabulary: {unknown}; it holds {list(VOCAB)}")
    return np.array([WORD_TO_ID[w] for w in words], dtype=np.int64)


def decode(ids) -> str:
    """The sentence of a sequence of word ids, words joined by spaces (padding left out)."""
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"decode takes one sequence of ids (1-D), got shape {ids.shape}")
    if ids.size and (
        not np.issubdtype(ids.dtype, np.integer) or ids.min() < 0 or ids.max() >= len(VOCAB)
    ):
        raise ValueError(f"ids must be integers in [0, {len(VOCAB)}), got {ids.tolist()}")
    return " ".join(VOCAB[i] for i in ids.tolist() if i != WORD_TO_ID[PAD])


@dataclass(frozen=True)
class CueTask:
    """One draw of the cue-to-blank task.

    ``tokens`` (N, T) int64 word ids, T = distance + 2; ``labels`` (N,) int64, the
    index of the cue (and of its answer) in ``range(n_cues)``.
    """

    tokens: np.ndarray
    labels: np.ndarray
    distance: int
    n_cues: int

    @property
    def seq_len(self) -> int:
        return self.tokens.shape[1]

    @property
    def cue_position(self) -> int:
        """1-based position of the cue (always 2)."""
        return CUE_POSITION

    @property
    def blank_position(self) -> int:
        """1-based position of the blank token, the last one: cue_position + distance."""
        return self.seq_len

    @property
    def num_classes(self) -> int:
        return self.n_cues

    @property
    def chance(self) -> float:
        """The accuracy of guessing without the cue: 1 / n_cues (the classes are balanced)."""
        return 1.0 / self.n_cues

    @property
    def cue_ids(self) -> np.ndarray:
        """Word id of each sequence's cue, (N,)."""
        return _CUE_IDS[self.labels]

    @property
    def answer_ids(self) -> np.ndarray:
        """Word id of each sequence's answer, (N,): ``VOCAB[answer_ids[i]]`` fills the blank."""
        return _ANSWER_IDS[self.labels]

    def sentence(self, i: int, *, with_answer: bool = False) -> str:
        """Sequence i as words; with ``with_answer`` the blank is followed by ``-> answer``."""
        text = decode(self.tokens[i])
        return f"{text} -> {ANSWERS[self.labels[i]]}" if with_answer else text


def cue_task(n: int, distance: int, *, n_cues: int = 4, seed: int = 0) -> CueTask:
    """Draw ``n`` sentences whose cue sits ``distance`` steps before the blank.

    The cues (the first ``n_cues`` of :data:`CUES`) are balanced and shuffled, and
    drawn first, so the labels do not depend on the distance; every filler is uniform
    over :data:`FILLERS`, independent of the cue and of the other fillers.
    """
    n = _check_int("n", n, 1)
    distance = _check_int("distance", distance, MIN_DISTANCE)
    n_cues = _check_int("n_cues", n_cues, 2, len(CUES))
    seed = _check_int("seed", seed, 0)
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n, dtype=np.int64) % n_cues)  # balanced classes
    n_fill = distance - MIN_DISTANCE
    fillers = _FILLER_IDS[rng.integers(0, len(FILLERS), size=(n, n_fill))]
    tokens = np.concatenate(
        [
            np.full((n, 1), WORD_TO_ID[PREFIX], dtype=np.int64),
            _CUE_IDS[labels][:, None],
            fillers,
            np.broadcast_to(_TAIL_IDS, (n, len(_TAIL_IDS))),
        ],
        axis=1,
    )
    return CueTask(
        tokens=np.ascontiguousarray(tokens), labels=labels, distance=distance, n_cues=n_cues
    )


@dataclass(frozen=True)
class CueExperiment:
    """The cue-to-blank experiment of chapter 4, repeated with gated cells in chapter 5.

    Kept here, once, so that "trained the same way at every distance" and
    "the same experiment as chapter 4" stay true: both chapters read the data,
    the model sizes and the training budget from this object. Chapter 4 trains,
    at every distance in ``distances`` and for every seed in ``seeds``, an
    embedding of size ``embed_dim``, a tanh recurrent layer of ``hidden_size``
    units and a linear read-out of the state at the blank, with ``steps`` Adam
    steps of learning rate ``lr`` on batches of ``batch_size`` training sentences
    (mean cross-entropy), and reports the test accuracy. Chapter 4 glues the
    results distance by distance: changing ``distances`` means editing its prose.
    """

    n_cues: int = 3  # hungry, tired, bored: chance = 1/3
    distances: tuple[int, ...] = (5, 10, 15, 20, 30, 40)
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7)  # one network per seed (its initialisation)
    embed_dim: int = 8
    hidden_size: int = 32
    num_train: int = 2400
    num_test: int = 1200  # divisible by 3 and 4: exactly balanced classes
    steps: int = 400  # Adam steps, the same at every distance
    batch_size: int = 32
    lr: float = 1e-2
    train_seed: int = 0  # data seeds
    test_seed: int = 1

    @property
    def vocab_size(self) -> int:
        return len(VOCAB)

    @property
    def num_classes(self) -> int:
        return self.n_cues

    @property
    def chance(self) -> float:
        return 1.0 / self.n_cues

    def splits(self, distance: int) -> tuple[CueTask, CueTask]:
        """The training and test sets at ``distance``, always the same draws."""
        return (
            cue_task(self.num_train, distance, n_cues=self.n_cues, seed=self.train_seed),
            cue_task(self.num_test, distance, n_cues=self.n_cues, seed=self.test_seed),
        )


CUE_EXPERIMENT = CueExperiment()
