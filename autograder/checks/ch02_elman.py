"""Checks for chapter 2's graded exercises (the Elman network).

Each ``check_*`` builds inputs from a seed (sizes randomised unless given),
calls the student's function, demands a float64 ``numpy.ndarray`` of the right
shape, and compares it with ``torch.nn.RNNCell`` / ``torch.nn.RNN`` /
``torch.nn.Linear`` run on the reference device. On failure the message names
the first wrong batch row and time step and, when the answer matches a common
mistake exactly, the mistake.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..references import ch02_elman as ref
from ._harness import check_array_function, passed

__all__ = ["check_rnn_step", "check_rnn_forward", "check_rnn_output",
           "check_many_to_one_logits", "make_case"]

LAYOUT_HINT = ("PyTorch's layout: W_ih has shape (hidden_size, input_size), W_hh "
               "(hidden_size, hidden_size) and W_hy (output_size, hidden_size). With a batch "
               "of row vectors x_t of shape (batch, input_size), the product is x_t @ W_ih.T.")


@dataclass
class ElmanCase:
    """Inputs of one check, all float64 in PyTorch's layout."""
    x: np.ndarray      # (B, T, D)
    h0: np.ndarray     # (B, H)
    W_ih: np.ndarray   # (H, D)
    W_hh: np.ndarray   # (H, H)
    b_ih: np.ndarray   # (H,)
    b_hh: np.ndarray   # (H,)
    W_hy: np.ndarray   # (O, H)
    b_y: np.ndarray    # (O,)

    @property
    def sizes(self):
        B, T, D = self.x.shape
        return {"B": B, "T": T, "D": D, "H": self.W_hh.shape[0], "O": self.W_hy.shape[0]}


def make_case(seed: int, *, batch=None, seq_len=None, input_size=None, hidden_size=None,
              output_size=None, zero_state=False) -> ElmanCase:
    """Random inputs from ``seed``; sizes are drawn unless given.

    Input, hidden and output sizes are drawn distinct so that a transposed
    weight fails loudly instead of passing by coincidence of shapes.
    """
    rng = np.random.default_rng(seed)
    B = batch or int(rng.integers(2, 6))
    T = seq_len or int(rng.integers(3, 8))
    D = input_size or int(rng.integers(2, 7))
    H = hidden_size or int(rng.choice([h for h in range(3, 9) if h != D]))
    O = output_size or int(rng.choice([o for o in range(2, 6) if o not in (D, H)]))
    scale = 1.0 / np.sqrt(H)
    return ElmanCase(
        x=rng.normal(0.0, 1.0, (B, T, D)),
        h0=np.zeros((B, H)) if zero_state else rng.normal(0.0, 0.5, (B, H)),
        W_ih=rng.normal(0.0, 1.5 * scale, (H, D)),
        W_hh=rng.normal(0.0, 1.5 * scale, (H, H)),
        b_ih=rng.normal(0.0, 0.5, H),
        b_hh=rng.normal(0.0, 0.5, H),
        W_hy=rng.normal(0.0, 1.5 * scale, (O, H)),
        b_y=rng.normal(0.0, 0.5, O),
    )


def _step_mistakes(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    """What rnn_step returns under each common mistake."""
    step = ref.rnn_step
    return {
        "W_hh is used transposed (h_prev @ W_hh instead of h_prev @ W_hh.T)":
            lambda: step(x_t, h_prev, W_ih, W_hh.T, b_ih, b_hh),
        "the bias b_hh is left out (PyTorch keeps two biases, b_ih and b_hh, and adds both)":
            lambda: step(x_t, h_prev, W_ih, W_hh, b_ih, 0 * b_hh),
        "the bias b_ih is left out (PyTorch keeps two biases, b_ih and b_hh, and adds both)":
            lambda: step(x_t, h_prev, W_ih, W_hh, 0 * b_ih, b_hh),
        "both biases are left out":
            lambda: step(x_t, h_prev, W_ih, W_hh, 0 * b_ih, 0 * b_hh),
        "ReLU is used instead of tanh":
            lambda: step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh, nonlinearity="relu"),
        "the activation is missing (tanh is never applied)":
            lambda: x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh,
        "the previous hidden state is ignored (the W_hh h_prev term is missing)":
            lambda: step(x_t, h_prev, W_ih, 0 * W_hh, b_ih, b_hh),
    }


def check_rnn_step(rnn_step, seed: int = 0, **sizes) -> None:
    """``rnn_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh)`` against ``torch.nn.RNNCell``."""
    sizes["seq_len"] = 1   # one step: the sequence length plays no part
    c = make_case(seed, **sizes)
    args = dict(x_t=c.x[:, 0], h_prev=c.h0, W_ih=c.W_ih, W_hh=c.W_hh, b_ih=c.b_ih, b_hh=c.b_hh)
    check_array_function(
        rnn_step, "rnn_step", args, expected=ref.rnn_step(**args), output="hidden state h_t",
        axes=("batch row", "hidden unit"), reference="torch.nn.RNNCell",
        mistakes=_step_mistakes(**args), shape_hint=LAYOUT_HINT)
    passed("rnn_step", seed, {k: v for k, v in c.sizes.items() if k != "T" and k != "O"})


def _loop(c: ElmanCase, *, reset_each_step=False, x=None, zero_h0=False):
    """The recurrence unrolled by hand, for mistakes nn.RNN cannot express."""
    x = c.x if x is None else x
    h = np.zeros_like(c.h0) if zero_h0 else c.h0
    out = []
    for t in range(x.shape[1]):
        prev = c.h0 if reset_each_step else h
        h = ref.rnn_step(x[:, t], prev, c.W_ih, c.W_hh, c.b_ih, c.b_hh)
        out.append(h)
    return np.stack(out, axis=1)


def _forward_mistakes(c: ElmanCase):
    args = dict(x=c.x, h0=c.h0, W_ih=c.W_ih, W_hh=c.W_hh, b_ih=c.b_ih, b_hh=c.b_hh)
    hs = lambda **kw: ref.rnn_forward(**{**args, **kw})  # noqa: E731
    return {
        "the states are shifted by one time step (h_0..h_{T-1} returned instead of h_1..h_T)":
            lambda: np.concatenate([c.h0[:, None], hs()[:, :-1]], axis=1),
        "the state is not carried forward (every step starts again from h0)":
            lambda: _loop(c, reset_each_step=True),
        "the initial state h0 is ignored (zeros used instead)":
            lambda: hs(h0=np.zeros_like(c.h0)),
        "the sequence is read backwards in time":
            lambda: hs(x=c.x[:, ::-1].copy()),
        "W_hh is used transposed (h_prev @ W_hh instead of h_prev @ W_hh.T)":
            lambda: hs(W_hh=c.W_hh.T.copy()),
        "the bias b_hh is left out (PyTorch keeps two biases, b_ih and b_hh, and adds both)":
            lambda: hs(b_hh=0 * c.b_hh),
        "the bias b_ih is left out (PyTorch keeps two biases, b_ih and b_hh, and adds both)":
            lambda: hs(b_ih=0 * c.b_ih),
        "ReLU is used instead of tanh":
            lambda: ref.rnn_forward(**args, nonlinearity="relu"),
    }


def check_rnn_forward(rnn_forward, seed: int = 0, **sizes) -> None:
    """``rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh)`` -> (B, T, H) against ``torch.nn.RNN``."""
    c = make_case(seed, **sizes)
    args = dict(x=c.x, h0=c.h0, W_ih=c.W_ih, W_hh=c.W_hh, b_ih=c.b_ih, b_hh=c.b_hh)
    check_array_function(
        rnn_forward, "rnn_forward", args, expected=ref.rnn_forward(**args),
        output="hidden states (h_1..h_T)", axes=("batch row", "time step", "hidden unit"),
        reference="torch.nn.RNN with batch_first=True", mistakes=_forward_mistakes(c),
        time_axis=1, shape_hint=LAYOUT_HINT + " x has shape (batch, time, input_size).")
    passed("rnn_forward", seed, {k: v for k, v in c.sizes.items() if k != "O"})


def check_rnn_output(rnn_output, seed: int = 0, **sizes) -> None:
    """``rnn_output(hs, W_hy, b_y)`` -> (B, T, O) against ``torch.nn.Linear``."""
    c = make_case(seed, **sizes)
    hs = ref.rnn_forward(c.x, c.h0, c.W_ih, c.W_hh, c.b_ih, c.b_hh)
    args = dict(hs=hs, W_hy=c.W_hy, b_y=c.b_y)
    expected = ref.rnn_output(**args)
    shifted = lambda a: np.exp(a - a.max(axis=-1, keepdims=True))  # noqa: E731
    check_array_function(
        rnn_output, "rnn_output", args, expected=expected, output="outputs y_1..y_T",
        axes=("batch row", "time step", "output unit"), reference="torch.nn.Linear",
        mistakes={
            "the bias b_y is left out": lambda: ref.rnn_output(hs, c.W_hy, 0 * c.b_y),
            "tanh is applied to the output (y_t = W_hy h_t + b_y has no activation)":
                lambda: np.tanh(expected),
            "softmax is applied to the output (return the raw scores, the logits)":
                lambda: shifted(expected) / shifted(expected).sum(axis=-1, keepdims=True),
        },
        time_axis=1, shape_hint=LAYOUT_HINT + " hs has shape (batch, time, hidden_size).")
    passed("rnn_output", seed, {k: v for k, v in c.sizes.items() if k != "D"})


def check_many_to_one_logits(many_to_one_logits, seed: int = 0, **sizes) -> None:
    """``many_to_one_logits(x, h0, ...)`` -> (B, C) from h_T, against nn.RNN + nn.Linear."""
    c = make_case(seed, **sizes)
    args = dict(x=c.x, h0=c.h0, W_ih=c.W_ih, W_hh=c.W_hh, b_ih=c.b_ih, b_hh=c.b_hh,
                W_hy=c.W_hy, b_y=c.b_y)
    hs = lambda: ref.rnn_forward(c.x, c.h0, c.W_ih, c.W_hh, c.b_ih, c.b_hh)  # noqa: E731
    head = lambda h: ref.rnn_output(h[:, None], c.W_hy, c.b_y)[:, 0]  # noqa: E731
    mistakes = {
        "the first hidden state h_1 is used instead of the last one h_T": lambda: head(hs()[:, 0]),
        "the mean of all hidden states is used instead of the last one h_T":
            lambda: head(hs().mean(axis=1)),
        "the initial state h0 is used instead of the last one h_T": lambda: head(c.h0),
        "the initial state h0 is ignored (zeros used instead)":
            lambda: head(ref.rnn_forward(c.x, 0 * c.h0, c.W_ih, c.W_hh, c.b_ih, c.b_hh)[:, -1]),
        "the bias b_y is left out":
            lambda: ref.rnn_output(hs()[:, -1:], c.W_hy, 0 * c.b_y)[:, 0],
        "tanh is applied to the logits": lambda: np.tanh(head(hs()[:, -1])),
    }
    if c.x.shape[1] >= 2:
        mistakes["h_{T-1} is used instead of h_T (off by one in time)"] = lambda: head(hs()[:, -2])
    check_array_function(
        many_to_one_logits, "many_to_one_logits", args, expected=ref.many_to_one_logits(**args),
        output="logits", axes=("batch row", "class"),
        reference="torch.nn.RNN then torch.nn.Linear on the last hidden state",
        mistakes=mistakes, shape_hint=LAYOUT_HINT)
    passed("many_to_one_logits", seed, {k: v for k, v in c.sizes.items()})
