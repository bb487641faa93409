"""Where the references run, and the numerical policy they run under.

The references compute on CUDA when a GPU is present and on the CPU otherwise.
Set ``RNN_COURSE_DEVICE=cpu`` to force the CPU (useful on a shared GPU server,
or to compare the two paths).

Tolerance policy (stated once, used by every check)
---------------------------------------------------
* Students receive float64 NumPy arrays and must return float64 NumPy arrays.
* References run in float64 on the chosen device. TF32 is switched off on CUDA
  so that no matrix product silently drops to a 10-bit mantissa.
* A value passes when ``|got - expected| <= ATOL + RTOL * |expected|``
  elementwise, with ``RTOL = 1e-6`` and ``ATOL = 1e-8``. Float64 round-off of
  a different but correct summation order is around 1e-15, so these bounds
  accept any correct float64 implementation (loops or matrix products) and
  reject every real mistake, whose errors are of order 1e-2 or more. They are
  deliberately tighter than float32 round-off (about 1e-7 relative): a
  computation that drops to float32 internally is told to stay in float64.
"""

from __future__ import annotations

import os

import torch

RTOL = 1e-6
ATOL = 1e-8
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


def to_device(array, device: torch.device | None = None) -> torch.Tensor:
    """A float64 (or integer) tensor on the reference device from a NumPy array."""
    device = device or reference_device()
    tensor = torch.as_tensor(array)
    if tensor.is_floating_point():
        tensor = tensor.to(REFERENCE_DTYPE)
    return tensor.to(device)


def to_numpy(tensor: torch.Tensor):
    """A NumPy copy of a (possibly CUDA) tensor, detached from autograd."""
    return tensor.detach().to("cpu").numpy().copy()
