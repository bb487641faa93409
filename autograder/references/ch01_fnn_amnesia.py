"""Chapter 1 references: bag of words, fixed windows, parameter counts, a pair detector.

Encodings are built with ``torch.nn.functional.one_hot``; parameter counts are
read off real ``torch.nn`` modules (``sum(p.numel())``), never from a formula,
so that the checks test the student's formula against PyTorch itself. The pair
detector (a design part) is run as ``nn.Sequential(nn.Linear, nn.ReLU, nn.Linear)``
on the windows that ``window_features`` builds.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..device import REFERENCE_DTYPE, reference_device, to_device, to_numpy

#: The pair detector of Part 5 (a design part) must give at least +PAIR_MARGIN on (a, b) and at
#: most -PAIR_MARGIN on every other window, with at most PAIR_MAX_HIDDEN hidden units. The
#: chapter reads these too (from here, not from the checks, so editing a check does not
#: re-execute the book).
PAIR_MARGIN = 0.5
PAIR_MAX_HIDDEN = 8


def _one_hot(tokens, vocab_size, device):
    return F.one_hot(to_device(tokens, device).long(), vocab_size).to(REFERENCE_DTYPE)


def bag_of_words(tokens, vocab_size, *, device=None):
    """Counts (N, V): entry [n, v] is how often token v occurs in sequence n."""
    device = device or reference_device()
    return to_numpy(_one_hot(tokens, vocab_size, device).sum(dim=1))


def window_features(tokens, vocab_size, window, *, device=None):
    """One-hot codes of the last ``window`` tokens, oldest first, flattened to (N, window*V).

    Positions before the start of a short sequence are all-zero vectors.
    """
    device = device or reference_device()
    codes = _one_hot(tokens, vocab_size, device)  # (N, T, V)
    pad = max(0, window - codes.shape[1])
    codes = F.pad(codes, (0, 0, pad, 0))  # zeros before the start
    return to_numpy(codes[:, codes.shape[1] - window :].reshape(codes.shape[0], -1))


def count_parameters(module: torch.nn.Module) -> int:
    return int(sum(p.numel() for p in module.parameters()))


def window_mlp(vocab_size, window, hidden_size, num_classes) -> torch.nn.Module:
    """The fixed-window classifier: Linear(window*V -> H), tanh, Linear(H -> C)."""
    return torch.nn.Sequential(
        torch.nn.Linear(window * vocab_size, hidden_size),
        torch.nn.Tanh(),
        torch.nn.Linear(hidden_size, num_classes),
    )


class RNNClassifier(torch.nn.Module):
    """The recurrent classifier: nn.RNN(V -> H) then Linear(H -> C) on h_T."""

    def __init__(self, vocab_size, hidden_size, num_classes):
        super().__init__()
        self.rnn = torch.nn.RNN(vocab_size, hidden_size, batch_first=True)
        self.head = torch.nn.Linear(hidden_size, num_classes)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


# Counting needs the modules' shapes, not their values: built on the "meta" device, a module
# with a vocabulary of thousands allocates and initialises nothing (milliseconds, not seconds).


def window_mlp_param_count(vocab_size, window, hidden_size, num_classes) -> int:
    with torch.device("meta"):
        return count_parameters(window_mlp(vocab_size, window, hidden_size, num_classes))


def rnn_param_count(vocab_size, hidden_size, num_classes) -> int:
    with torch.device("meta"):
        return count_parameters(RNNClassifier(vocab_size, hidden_size, num_classes))


# ---------------------------------------------------------------- a detector of "a then b"


def pair_windows(vocab_size):
    """Every window of two tokens, (V*V, 2) int64: row ``i * V + j`` is token i, then token j."""
    first, second = torch.meshgrid(
        torch.arange(vocab_size), torch.arange(vocab_size), indexing="ij"
    )
    return to_numpy(torch.stack([first.reshape(-1), second.reshape(-1)], dim=1))


def pair_detector_module(W1, b1, W2, b2, *, device=None) -> torch.nn.Module:
    """``nn.Sequential(nn.Linear(2V, H), nn.ReLU(), nn.Linear(H, 1))`` holding these weights
    (``nn.Linear``'s layout: W1 (H, 2V), b1 (H,), W2 (1, H), b2 (1,)), float64."""
    device = device or reference_device()
    hidden, inputs = W1.shape
    net = torch.nn.Sequential(
        torch.nn.Linear(inputs, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1)
    ).to(device=device, dtype=REFERENCE_DTYPE)
    with torch.no_grad():
        for param, value in zip(net.parameters(), (W1, b1, W2, b2)):
            param.copy_(to_device(value, device))
    return net


def pair_detector_logits(W1, b1, W2, b2, features, *, device=None):
    """The detector's output (one logit per row of ``features``, (n,) float64)."""
    device = device or reference_device()
    net = pair_detector_module(W1, b1, W2, b2, device=device)
    with torch.no_grad():
        return to_numpy(net(to_device(features, device))[:, 0])


def adjacent_pair_detector(vocab_size, a, b, *, device=None):
    """One working answer: a single hidden unit that adds "a in the first slot" and "b in the
    second slot" and turns on only when both hold; the output maps it to +1 / -1."""
    device = device or reference_device()
    net = pair_detector_module(
        torch.zeros(1, 2 * vocab_size),
        torch.zeros(1),
        torch.zeros(1, 1),
        torch.zeros(1),
        device=device,
    )
    first, second = net[0], net[2]
    with torch.no_grad():
        first.weight[0, a] = 1.0  # the first (older) token is a
        first.weight[0, vocab_size + b] = 1.0  # the second token is b
        first.bias.fill_(-1.0)  # 1 when both hold, 0 otherwise
        second.weight.fill_(2.0)
        second.bias.fill_(-1.0)  # +1 on (a, b), -1 on every other window
    return tuple(to_numpy(p) for p in net.parameters())
