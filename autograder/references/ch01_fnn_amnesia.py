"""Chapter 1 references: bag of words, fixed windows and parameter counts.

Encodings are built with ``torch.nn.functional.one_hot``; parameter counts are
read off real ``torch.nn`` modules (``sum(p.numel())``), never from a formula,
so that the checks test the student's formula against PyTorch itself.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..device import REFERENCE_DTYPE, reference_device, to_device, to_numpy


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
