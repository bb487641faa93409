"""Chapter 2 references: the Elman network, computed by ``torch.nn`` itself.

Each function takes NumPy float64 arrays in PyTorch's layout, copies them into
a ``torch.nn`` module in float64 on the reference device, runs the module and
returns NumPy float64 arrays. The course writes no arithmetic of its own here:
the reference *is* PyTorch.

Shapes (B batch, T time steps, D input size, H hidden size, O output size):
``x`` (B, T, D) batch first, ``h0``/``h_prev`` (B, H), ``W_ih`` (H, D),
``W_hh`` (H, H), ``b_ih``/``b_hh`` (H,), ``W_hy`` (O, H), ``b_y`` (O,).
"""

from __future__ import annotations

import numpy as np
import torch

from ..device import REFERENCE_DTYPE, reference_device, to_device, to_numpy

#: Part 6 (a design part): an Elman network of at most LATCH_MAX_HIDDEN units whose W_hh has
#: largest singular value at most LATCH_SIGMA_BOUND and every weight and bias at most
#: LATCH_WEIGHT_BOUND in absolute value, classifying every declared order-task sequence right by
#: a logit margin of LATCH_MARGIN, at lengths up to LATCH_LONGEST. The chapter reads these too
#: (from here, not from the checks, so editing a check does not re-execute it).
LATCH_MAX_HIDDEN = 4
LATCH_SIGMA_BOUND = 2.0
LATCH_WEIGHT_BOUND = 10.0
LATCH_MARGIN = 3.0
LATCH_LONGEST = 500


def elman_module(cls, W_ih, W_hh, b_ih, b_hh, nonlinearity, device, **kwargs):
    """A float64 ``nn.RNNCell`` or ``nn.RNN`` (``cls``) on ``device`` holding the given weights."""
    hidden, inputs = np.shape(W_ih)
    module = cls(
        inputs, hidden, nonlinearity=nonlinearity, dtype=REFERENCE_DTYPE, device=device, **kwargs
    )
    suffix = "_l0" if cls is torch.nn.RNN else ""
    with torch.no_grad():
        getattr(module, "weight_ih" + suffix).copy_(to_device(W_ih, device))
        getattr(module, "weight_hh" + suffix).copy_(to_device(W_hh, device))
        getattr(module, "bias_ih" + suffix).copy_(to_device(b_ih, device))
        getattr(module, "bias_hh" + suffix).copy_(to_device(b_hh, device))
    return module


def linear_module(W, b, device):
    """A float64 ``nn.Linear`` on ``device`` holding ``W`` (out, in) and ``b`` (out,)."""
    out_size, in_size = np.shape(W)
    linear = torch.nn.Linear(in_size, out_size, dtype=REFERENCE_DTYPE, device=device)
    with torch.no_grad():
        linear.weight.copy_(to_device(W, device))
        linear.bias.copy_(to_device(b, device))
    return linear


def rnn_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh, *, nonlinearity="tanh", device=None):
    """h_t = tanh(x_t W_ih^T + b_ih + h_prev W_hh^T + b_hh) via ``torch.nn.RNNCell``."""
    device = device or reference_device()
    cell = elman_module(torch.nn.RNNCell, W_ih, W_hh, b_ih, b_hh, nonlinearity, device)
    with torch.no_grad():
        return to_numpy(cell(to_device(x_t, device), to_device(h_prev, device)))


def rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh, *, nonlinearity="tanh", device=None):
    """All hidden states h_1..h_T, shape (B, T, H), via ``torch.nn.RNN(batch_first=True)``."""
    device = device or reference_device()
    rnn = elman_module(torch.nn.RNN, W_ih, W_hh, b_ih, b_hh, nonlinearity, device, batch_first=True)
    with torch.no_grad():
        out, _ = rnn(to_device(x, device), to_device(h0, device).unsqueeze(0))
    return to_numpy(out)


def rnn_output(hs, W_hy, b_y, *, device=None):
    """y_t = W_hy h_t + b_y for every step, shape (B, T, O), via ``torch.nn.Linear``."""
    device = device or reference_device()
    linear = linear_module(W_hy, b_y, device)
    with torch.no_grad():
        return to_numpy(linear(to_device(hs, device)))


def many_to_one_logits(x, h0, W_ih, W_hh, b_ih, b_hh, W_hy, b_y, *, device=None):
    """Logits (B, C) from the last hidden state h_T: ``nn.RNN`` then ``nn.Linear``."""
    hs = rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh, device=device)
    return rnn_output(hs[:, -1:], W_hy, b_y, device=device)[:, 0]


def last_states(hs, lengths, *, device=None):
    """Each sequence's last real state h_{L_b}, shape (B, H): ``h_n`` after
    ``pack_padded_sequence``.

    ``hs`` (B, T, H) holds the states of a padded run, ``lengths`` (B,) the real lengths. The
    packed batch is read by an ``nn.RNN`` that copies its input (no recurrence, no bias, ReLU of
    ``[h; -h]``, which is exact), so its ``h_n`` is what ``nn.RNN`` keeps for each sequence of a
    packed batch: its state at its own last step, in the batch's order.
    """
    device = device or reference_device()
    hidden = np.shape(hs)[2]
    eye = np.eye(hidden)
    copy = elman_module(
        torch.nn.RNN,
        np.concatenate([eye, -eye]),
        np.zeros((2 * hidden, 2 * hidden)),
        np.zeros(2 * hidden),
        np.zeros(2 * hidden),
        "relu",
        device,
        batch_first=True,
    )
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        to_device(hs, device),
        torch.as_tensor(np.asarray(lengths), dtype=torch.int64),  # lengths stay on the CPU
        batch_first=True,
        enforce_sorted=False,
    )
    with torch.no_grad():
        _, h_n = copy(packed)
    return to_numpy(h_n[0, :, :hidden] - h_n[0, :, hidden:])


def one_hot_run(tokens, W_ih, W_hh, b_ih, b_hh, W_hy, b_y, *, device=None):
    """An Elman network reading token ids: ``tokens`` (N, T) int64 as one-hot vectors through
    ``nn.RNN`` (tanh, h_0 = 0), and ``nn.Linear`` applied to every state.

    Returns ``(hs, logits)``: the states h_1..h_T, shape (N, T, H), and the logits of every
    step, shape (N, T, C); ``logits[:, -1]`` is the many-to-one answer (Part 4's pattern).
    """
    device = device or reference_device()
    vocab = np.shape(W_ih)[1]
    x = torch.nn.functional.one_hot(torch.as_tensor(tokens, device=device), vocab)
    rnn = elman_module(torch.nn.RNN, W_ih, W_hh, b_ih, b_hh, "tanh", device, batch_first=True)
    linear = linear_module(W_hy, b_y, device)
    with torch.no_grad():
        h0 = torch.zeros(1, x.shape[0], np.shape(W_hh)[0], dtype=REFERENCE_DTYPE, device=device)
        hs, _ = rnn(x.to(REFERENCE_DTYPE), h0)
        return to_numpy(hs), to_numpy(linear(hs))


def order_latch(vocab_size, marker_a, marker_b, sequences):
    """One working answer to the latch design part (the part is judged by a property, so
    this is only one of many): a single unit with recurrent weight 2, input +1 for A, -1 for B,
    0 for every distractor, no biases, and a read-out that answers with the sign of h."""
    W_ih = np.zeros((1, vocab_size))
    W_ih[0, marker_a], W_ih[0, marker_b] = 1.0, -1.0
    return (
        W_ih,
        np.array([[2.0]]),
        np.zeros(1),
        np.zeros(1),
        np.array([[-4.0], [4.0]]),
        np.zeros(2),
    )
