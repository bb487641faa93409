"""The cue-to-blank language does what chapters 4 and 5 say it does."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from autograder.experiments.cue_task import (
    ANSWERS,
    BLANK,
    CUE_EXPERIMENT,
    CUE_POSITION,
    CUES,
    FILLERS,
    MIN_DISTANCE,
    PAD,
    PREFIX,
    SUFFIX,
    VOCAB,
    WORD_TO_ID,
    CueTask,
    cue_task,
    decode,
    encode,
)

CUE_IDS = [WORD_TO_ID[w] for w in CUES]
ANSWER_IDS = [WORD_TO_ID[w] for w in ANSWERS]
FILLER_IDS = [WORD_TO_ID[w] for w in FILLERS]


def test_the_same_seed_gives_the_same_data_and_another_seed_does_not():
    a, b = cue_task(50, 12, seed=3), cue_task(50, 12, seed=3)
    np.testing.assert_array_equal(a.tokens, b.tokens)
    np.testing.assert_array_equal(a.labels, b.labels)
    c = cue_task(50, 12, seed=4)
    assert not np.array_equal(a.tokens, c.tokens)
    train, test = CUE_EXPERIMENT.splits(20)
    again = CUE_EXPERIMENT.splits(20)
    np.testing.assert_array_equal(train.tokens, again[0].tokens)
    assert not np.array_equal(train.tokens[:100], test.tokens[:100])


@pytest.mark.parametrize("distance", [MIN_DISTANCE, MIN_DISTANCE + 1, 12, 40])
def test_the_distance_is_exactly_what_was_asked(distance):
    task = cue_task(30, distance, seed=1)
    assert task.distance == distance
    assert task.seq_len == distance + CUE_POSITION
    assert task.blank_position - task.cue_position == distance
    assert (task.tokens[:, CUE_POSITION - 1] == task.cue_ids).all()  # the cue
    assert (task.tokens[:, -1] == WORD_TO_ID[BLANK]).all()  # the blank, last
    assert np.isin(task.tokens[:, CUE_POSITION - 1], CUE_IDS).all()
    rest = np.delete(task.tokens, CUE_POSITION - 1, axis=1)
    assert not np.isin(rest, CUE_IDS + ANSWER_IDS).any(), "a cue or answer outside position 2"


@pytest.mark.parametrize("n_cues", [2, 3, 4])
def test_the_answer_depends_only_on_the_cue(n_cues):
    task = cue_task(400, 15, n_cues=n_cues, seed=2)
    cue_index = [CUES.index(VOCAB[i]) for i in task.tokens[:, CUE_POSITION - 1]]
    np.testing.assert_array_equal(task.labels, cue_index)
    assert [VOCAB[i] for i in task.answer_ids] == [ANSWERS[c] for c in cue_index]
    assert set(task.labels.tolist()) == set(range(n_cues))
    assert task.chance == task.num_classes**-1 == 1 / n_cues
    # Everything but the cue is the same for every label: prefix, suffix, and fillers only.
    assert (task.tokens[:, 0] == WORD_TO_ID[PREFIX]).all()
    np.testing.assert_array_equal(
        task.tokens[:, -len(SUFFIX) - 1 :], np.tile(encode([*SUFFIX, BLANK]), (len(task.labels), 1))
    )
    assert np.isin(task.tokens[:, CUE_POSITION : -len(SUFFIX) - 1], FILLER_IDS).all()


def test_fillers_carry_no_information_about_the_answer():
    task = cue_task(30000, 25, n_cues=3, seed=7)
    fillers = task.tokens[:, CUE_POSITION : -len(SUFFIX) - 1]
    counts = np.stack([(fillers == f).sum(1) for f in FILLER_IDS], axis=1)  # (N, fillers)
    per_label = np.stack([counts[task.labels == c].mean(0) for c in range(3)])
    # Each count is Binomial(20, 1/20): mean 1, sd about 1; 10000 sentences per label.
    assert np.abs(per_label - per_label.mean(0)).max() < 0.06
    assert np.abs(per_label - fillers.shape[1] / len(FILLERS)).max() < 0.06


def test_classes_are_balanced_and_do_not_depend_on_the_distance():
    a, b = cue_task(1200, 5, n_cues=4, seed=11), cue_task(1200, 33, n_cues=4, seed=11)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert (np.bincount(a.labels) == 300).all()
    train, test = CUE_EXPERIMENT.splits(10)
    for split in (train, test):
        counts = np.bincount(split.labels, minlength=CUE_EXPERIMENT.n_cues)
        assert counts.max() - counts.min() <= 1
    assert CUE_EXPERIMENT.chance == 1 / CUE_EXPERIMENT.n_cues


def test_the_vocabulary_round_trips():
    assert len(set(VOCAB)) == len(VOCAB) and VOCAB[0] == PAD
    assert all(WORD_TO_ID[w] == i for i, w in enumerate(VOCAB))
    task = cue_task(20, 9, seed=5)
    for row in task.tokens:
        np.testing.assert_array_equal(encode(decode(row)), row)
    sentence = "i'm hungry the news was late i want to go ___"
    assert decode(encode(sentence)) == sentence
    assert decode(encode(sentence.split())) == sentence
    assert decode(np.array([WORD_TO_ID[PAD], *encode("i'm bored")])) == "i'm bored"  # padding
    assert task.sentence(0, with_answer=True).endswith(f"___ -> {ANSWERS[task.labels[0]]}")
    assert CUE_EXPERIMENT.vocab_size == len(VOCAB)


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        CUE_EXPERIMENT.steps = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        cue_task(2, 6).distance = 7
    assert isinstance(cue_task(2, 6), CueTask)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"n": 10, "distance": MIN_DISTANCE - 1}, "distance must be at least"),
        ({"n": 10, "distance": 0}, "distance"),
        ({"n": 10, "distance": 10.0}, "distance must be an integer"),
        ({"n": 10, "distance": True}, "distance must be an integer"),
        ({"n": 0, "distance": 10}, "n must be at least 1"),
        ({"n": 10, "distance": 10, "n_cues": 1}, "n_cues must be between 2 and"),
        ({"n": 10, "distance": 10, "n_cues": len(CUES) + 1}, "n_cues must be between 2 and"),
        ({"n": 10, "distance": 10, "seed": -1}, "seed must be at least 0"),
    ],
)
def test_bad_arguments_are_refused_clearly(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cue_task(**kwargs)


def test_numpy_integers_are_accepted():
    task = cue_task(np.int64(4), np.int32(8), n_cues=np.int64(2), seed=np.uint8(1))
    assert task.tokens.shape == (4, 10) and task.tokens.dtype == np.int64


def test_bad_words_and_ids_are_refused_clearly():
    with pytest.raises(ValueError, match="not in the vocabulary"):
        encode("i'm hangry")
    with pytest.raises(ValueError, match="must be integers in"):
        decode([0, len(VOCAB)])
    with pytest.raises(ValueError, match="must be integers in"):
        decode([-1])
    with pytest.raises(ValueError, match="one sequence"):
        decode(np.zeros((2, 3), dtype=np.int64))
