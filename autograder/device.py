"""Where the references run, and the numerical policy they run under.

The references compute on CUDA when a GPU is present and on the CPU otherwise.
Set ``RNN_COURSE_DEVICE=cpu`` to force the CPU (useful on a shared GPU server,
or to compare the two paths).

Numerical policy
----------------
* Students receive float64 NumPy arrays and must return float64 NumPy arrays.
* References run in float64 on the chosen device. TF32 is switched off on CUDA
  so that no matrix product silently drops to a 10-bit mantissa.
* The tolerance an answer must meet is stated once, in :mod:`autograder.judging`.

During class-scale grading the references of record are computed once per class, in the
grader's own process, on this device (:mod:`autograder.grading`); graded kernels are told
``RNN_COURSE_DEVICE=cpu`` (a process forked after CUDA started cannot use it, and CUDA does
not start under the kernels' address-space limit).
"""

from __future__ import annotations

import os

import numpy as np
import torch

REFERENCE_DTYPE = torch.float64

_ENV = "RNN_COURSE_DEVICE"


def reference_device() -> torch.device:
    """CUDA when available (unless ``RNN_COURSE_DEVICE=cpu``), else the CPU."""
    wanted = os.environ.get(_ENV, "").strip().lower()
    if wanted not in ("", "cpu", "cuda"):
        raise ValueError(f"{_ENV} must be 'cpu', 'cuda' or unset, got {wanted!r}")
    if wanted == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        return torch.device("cuda")
    if wanted == "cuda":
        raise RuntimeError(f"{_ENV}=cuda was asked for, but torch sees no CUDA device")
    return torch.device("cpu")


def describe_device(device: torch.device | None = None) -> str:
    """``cpu``, or ``cuda (NVIDIA H200)``: where references ran, for reports."""
    device = device or reference_device()
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def to_device(array, device: torch.device | None = None) -> torch.Tensor:
    """A float64 (or integer) tensor on the reference device from a NumPy array."""
    device = device or reference_device()
    if isinstance(array, np.ndarray) and any(step < 0 for step in array.strides):
        array = array.copy()  # torch refuses negative strides (np.flip, a[::-1]); NumPy does not
    tensor = torch.as_tensor(array)
    if tensor.is_floating_point():
        tensor = tensor.to(REFERENCE_DTYPE)
    return tensor.to(device)


def to_numpy(tensor: torch.Tensor):
    """A NumPy copy of a (possibly CUDA) tensor, detached from autograd."""
    return tensor.detach().to("cpu").numpy().copy()
