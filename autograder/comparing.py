"""Exact-type checks and tolerance comparisons whose failures teach.

Every check in :mod:`autograder.checks` ends here. A failure raises
``AssertionError`` with a message that says which output is wrong, where (the
first wrong index, named by axis: batch row, time step, ...), expected versus
got, the largest absolute and relative errors, and, when the wrong answer
matches a known mistake exactly, which mistake it was.
"""
from __future__ import annotations

import numbers
from typing import Callable, Mapping, Sequence

import numpy as np

from .device import ATOL, RTOL

__all__ = ["call_student", "require_array", "require_int", "assert_matches",
           "describe_args"]


def describe_args(args: Mapping[str, object]) -> str:
    """``x_t: float64 array (3, 4), h_prev: ...`` for error messages."""
    parts = []
    for key, value in args.items():
        if isinstance(value, np.ndarray):
            parts.append(f"{key}: {value.dtype} array of shape {value.shape}")
        else:
            parts.append(f"{key}={value!r}")
    return ", ".join(parts)


def call_student(fn: Callable, name: str, args: Mapping[str, object], *,
                 shape_hint: str = ""):
    """Call the student's ``fn(**args)`` on private copies of the inputs.

    Turns a missing implementation or a crash into an ``AssertionError`` that
    names the function and the shapes it was given, and refuses a function
    that modifies its inputs in place.
    """
    if not callable(fn):
        raise AssertionError(f"`{name}` should be a function, but it is a {type(fn).__name__}.")
    copies = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in args.items()}
    try:
        result = fn(**copies)
    except NotImplementedError:
        raise AssertionError(
            f"`{name}` is not implemented yet: replace `raise NotImplementedError()` "
            f"in its cell with your code, run that cell, then run this test again."
        ) from None
    except Exception as err:  # the student's crash, reported with its inputs
        hint = f"\nHint: {shape_hint}" if shape_hint else ""
        raise AssertionError(
            f"`{name}` raised {type(err).__name__}: {err}\n"
            f"It was called with {describe_args(args)}.{hint}"
        ) from None
    for key, value in args.items():
        if isinstance(value, np.ndarray) and not np.array_equal(copies[key], value):
            raise AssertionError(
                f"`{name}` changed its input `{key}` in place. Compute a new array "
                f"instead of writing into the ones you are given."
            )
    return result


def require_array(got, name: str, shape: Sequence[int], dtype=np.float64) -> np.ndarray:
    """Demand exactly a ``numpy.ndarray`` of the given shape and dtype.

    Exactly means ``type(got) is numpy.ndarray``: a subclass or an object that
    merely claims to be equal is refused.
    """
    shape = tuple(int(s) for s in shape)
    dtype = np.dtype(dtype)
    if type(got) is not np.ndarray:
        extra = ""
        if hasattr(got, "detach") and hasattr(got, "numpy"):
            extra = " It looks like a torch tensor: return `tensor.detach().numpy()`."
        elif isinstance(got, (list, tuple)):
            extra = " Wrap it with `np.array(...)` or, better, compute with NumPy throughout."
        raise AssertionError(
            f"{name} should be a numpy.ndarray of shape {shape} and dtype {dtype}, "
            f"but a {type(got).__module__}.{type(got).__qualname__} arrived.{extra}"
        )
    if got.shape != shape:
        hint = ""
        if len(got.shape) == len(shape) and sorted(got.shape) == sorted(shape):
            hint = " The sizes are right but in another order: check for a transpose."
        elif got.ndim != len(shape):
            hint = f" Expected {len(shape)} dimensions, got {got.ndim}."
        raise AssertionError(
            f"{name} should have shape {shape}, but it has shape {got.shape}.{hint}")
    if got.dtype != dtype:
        raise AssertionError(
            f"{name} should have dtype {dtype}, but it has dtype {got.dtype}. "
            f"Create it as {dtype} (for example `np.zeros(shape, dtype=np.{dtype})`) and keep "
            f"that precision throughout (no float32 arrays or tensors)."
        )
    if dtype.kind == "f" and not np.all(np.isfinite(got)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(got))[0])
        raise AssertionError(f"{name} contains {got[bad]} at index {bad}: every value must be finite.")
    return got


def require_int(got, name: str) -> int:
    """Demand exactly a Python ``int`` (``bool`` and NumPy integers refused)."""
    if type(got) is not int:
        hint = ""
        if isinstance(got, numbers.Integral) and not isinstance(got, bool):
            hint = " Convert it with `int(...)`."
        elif isinstance(got, float) and float(got).is_integer():
            hint = " Use integer arithmetic (`//`, not `/`) or convert with `int(...)`."
        raise AssertionError(
            f"{name} should be a Python int, but a {type(got).__name__} ({got!r}) arrived.{hint}")
    return got


def _close(got: np.ndarray, expected: np.ndarray) -> np.ndarray:
    return np.abs(got - expected) <= ATOL + RTOL * np.abs(expected)


def assert_matches(got: np.ndarray, expected: np.ndarray, name: str, *,
                   axes: Sequence[str], reference: str,
                   mistakes: Mapping[str, np.ndarray] | None = None,
                   time_axis: int | None = None) -> None:
    """Compare ``got`` with ``expected`` elementwise under the course tolerance.

    ``axes`` names every axis (``"batch row"``, ``"time step"``, ...).
    ``mistakes`` maps a description of a common mistake to the output that
    mistake produces; when ``got`` matches one, the message names it.
    ``time_axis`` marks the axis along which the first wrong step is reported.
    """
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    ok = _close(got, expected)
    if ok.all():
        return
    bad = tuple(int(i) for i in np.argwhere(~ok)[0])
    where = ", ".join(f"{axis} {i}" for axis, i in zip(axes, bad))
    abs_err = np.abs(got - expected)
    # CS231n's relative error: bounded by 1, defined where the reference is 0.
    rel_err = abs_err / np.maximum(np.abs(got) + np.abs(expected), 1e-8)
    lines = [
        f"Wrong values in {name} (compared with {reference}).",
        f"  first wrong value at index {bad} ({where}; indices start at 0):",
        f"    expected {expected[bad]:+.6f}, got {got[bad]:+.6f}",
        f"  {int((~ok).sum())} of {ok.size} values are wrong; "
        f"max abs error {abs_err.max():.2e}, max rel error {rel_err.max():.2e} "
        f"(allowed: {ATOL:g} + {RTOL:g} * |expected|)",
    ]
    if time_axis is not None and got.ndim > time_axis:
        other = tuple(a for a in range(got.ndim) if a != time_axis)
        step_ok = ok.all(axis=other) if other else ok
        first = int(np.argmin(step_ok))
        if first > 0:
            lines.append(f"  time steps 0..{first - 1} are right; the first wrong time step is {first}.")
        else:
            lines.append("  already the first time step (index 0) is wrong.")
    matched = [desc for desc, alt in (mistakes or {}).items()
               if np.shape(alt) == got.shape and _close(got, np.asarray(alt, dtype=np.float64)).all()]
    if matched:
        lines.append(f"  Hint: your output is exactly what you get when {matched[0]}.")
    elif mistakes:
        lines.append("  Common causes: " + "; ".join(mistakes) + ".")
    raise AssertionError("\n".join(lines))
