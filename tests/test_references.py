"""References agree with torch.nn and with the textbook formulas (the CUDA comparisons of
every part's reference are in tests/test_parts.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autograder import device as dev
from autograder.checks.ch01_fnn_amnesia import make_tokens
from autograder.checks.ch02_elman import make_case
from autograder.references import ch01_fnn_amnesia as ref1
from autograder.references import ch02_elman as ref2

CPU = torch.device("cpu")


def formula_forward(c):
    """h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), by hand in NumPy."""
    h, out = c.h0, []
    for t in range(c.x.shape[1]):
        h = np.tanh(c.x[:, t] @ c.W_ih.T + c.b_ih + h @ c.W_hh.T + c.b_hh)
        out.append(h)
    return np.stack(out, axis=1)


@pytest.mark.parametrize("seed", range(5))
def test_elman_references_match_the_formulas_on_cpu(seed):
    c = make_case(seed)
    hs = ref2.rnn_forward(c.x, c.h0, c.W_ih, c.W_hh, c.b_ih, c.b_hh, device=CPU)
    assert hs.dtype == np.float64 and hs.shape == c.x.shape[:2] + (c.W_hh.shape[0],)
    np.testing.assert_allclose(hs, formula_forward(c), rtol=1e-12, atol=1e-12)
    step = ref2.rnn_step(c.x[:, 0], c.h0, c.W_ih, c.W_hh, c.b_ih, c.b_hh, device=CPU)
    np.testing.assert_allclose(step, hs[:, 0], rtol=1e-12, atol=1e-12)
    ys = ref2.rnn_output(hs, c.W_hy, c.b_y, device=CPU)
    np.testing.assert_allclose(ys, hs @ c.W_hy.T + c.b_y, rtol=1e-12, atol=1e-12)
    logits = ref2.many_to_one_logits(
        c.x, c.h0, c.W_ih, c.W_hh, c.b_ih, c.b_hh, c.W_hy, c.b_y, device=CPU
    )
    np.testing.assert_allclose(logits, ys[:, -1], rtol=1e-12, atol=1e-12)


def test_relu_reference_really_uses_relu():
    c = make_case(3)
    hs = ref2.rnn_forward(
        c.x, c.h0, c.W_ih, c.W_hh, c.b_ih, c.b_hh, nonlinearity="relu", device=CPU
    )
    assert (hs >= 0).all() and (hs == 0).any()


@pytest.mark.parametrize("seed", range(5))
def test_fnn_references_match_plain_numpy(seed):
    tokens, V = make_tokens(seed)
    bow = ref1.bag_of_words(tokens, V, device=CPU)
    np.testing.assert_array_equal(bow, [np.bincount(r, minlength=V) for r in tokens])
    for w in (1, 3, tokens.shape[1], tokens.shape[1] + 2):
        feats = ref1.window_features(tokens, V, w, device=CPU).reshape(len(tokens), w, V)
        for k in range(w):
            t = tokens.shape[1] - w + k
            expected = np.eye(V)[tokens[:, t]] if t >= 0 else np.zeros((len(tokens), V))
            np.testing.assert_array_equal(feats[:, k], expected)


def test_parameter_counts_are_read_off_real_modules():
    assert ref1.rnn_param_count(10, 4, 3) == 10 * 4 + 4 * 4 + 2 * 4 + 4 * 3 + 3
    assert ref1.window_mlp_param_count(10, 3, 4, 2) == 30 * 4 + 4 + 4 * 2 + 2
    names = {n for n, _ in ref1.RNNClassifier(5, 4, 2).named_parameters()}
    assert {"rnn.bias_ih_l0", "rnn.bias_hh_l0"} <= names


def test_device_can_be_forced_to_the_cpu(monkeypatch):
    monkeypatch.setenv("RNN_COURSE_DEVICE", "cpu")
    assert dev.reference_device() == CPU
    monkeypatch.setenv("RNN_COURSE_DEVICE", "tpu")
    with pytest.raises(ValueError, match="RNN_COURSE_DEVICE"):
        dev.reference_device()


def test_default_device_follows_cuda_availability(monkeypatch):
    monkeypatch.delenv("RNN_COURSE_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert dev.reference_device().type == expected
