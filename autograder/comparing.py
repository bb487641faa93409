"""Exact-type checks and tolerance comparisons whose failures teach.

Every graded part ends here, in the notebook and in the isolated grader alike.
A failure raises ``AssertionError`` with a message that says which output is
wrong, where (the earliest wrong time step first, every index named by axis),
expected against got with enough digits to see the difference, how many
times the allowed error the worst value is, whether the differences are only
float32 round-off, and every known mistake whose output equals the answer.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence

import numpy as np

from .calling import Foreign, describe_value
from .device import ATOL, RTOL

__all__ = [
    "require_array",
    "require_int",
    "require_float",
    "assert_matches",
    "describe_args",
    "digits_apart",
    "ROUNDOFF_HINT",
]

ROUNDOFF_HINT = (
    "These differences are at float32 round-off scale (about 1e-7 of the values), not a "
    "logic error: somewhere your code computes in float32 (a float32 array, np.float32, or "
    "a torch tensor's default dtype). Keep float64 throughout, intermediate results included."
)


def describe_args(args: Mapping[str, object]) -> str:
    """``x_t: float64 array of shape (3, 4), window=2`` for error messages."""
    parts = []
    for key, value in args.items():
        if isinstance(value, np.ndarray):
            parts.append(f"{key}: {value.dtype} array of shape {value.shape}")
        else:
            parts.append(f"{key}={value!r}")
    return ", ".join(parts)


def _type_text(got) -> str:
    if isinstance(got, Foreign):
        return got.type_name
    return f"{type(got).__module__}.{type(got).__qualname__}"


def require_array(
    got, name: str, shape: Sequence[int], dtype=np.float64, hint: str = "", finite: bool = True
) -> np.ndarray:
    """Demand exactly a ``numpy.ndarray`` of the given shape and dtype.

    Exactly means ``type(got) is numpy.ndarray``: a subclass or an object that
    merely claims to be equal is refused. ``hint`` is added to shape errors.
    """
    shape = tuple(int(s) for s in shape)
    dtype = np.dtype(dtype)
    if type(got) is not np.ndarray:
        extra = ""
        note = got.note if isinstance(got, Foreign) else ""
        if note.startswith("a torch") or (hasattr(got, "detach") and hasattr(got, "numpy")):
            extra = " It looks like a torch tensor: compute with NumPy and return a NumPy array."
        elif note.startswith(("a list", "a tuple")) or isinstance(got, (list, tuple)):
            extra = " Wrap it with `np.array(...)` or, better, compute with NumPy throughout."
        elif note.startswith("a subclass"):
            extra = " Return a plain numpy.ndarray, not a subclass of it."
        elif got is None:
            extra = " Did you forget the `return` statement?"
        raise AssertionError(
            f"{name} should be a numpy.ndarray of shape {shape} and dtype {dtype}, "
            f"but a {_type_text(got)} arrived.{extra}"
        )
    if got.shape != shape:
        why = ""
        if len(got.shape) == len(shape) and sorted(got.shape) == sorted(shape):
            why = " The sizes are right but in another order: check for a transpose."
        elif got.ndim != len(shape):
            why = f" Expected {len(shape)} dimensions, got {got.ndim}."
        more = f"\nHint: {hint}" if hint else ""
        raise AssertionError(
            f"{name} should have shape {shape}, but it has shape {got.shape}.{why}{more}"
        )
    if got.dtype != dtype:
        raise AssertionError(
            f"{name} should have dtype {dtype}, but it has dtype {got.dtype}. "
            f"Create it as {dtype} (for example `np.zeros(shape, dtype=np.{dtype})`) and keep "
            f"that precision throughout (no float32 arrays or tensors)."
        )
    if finite and dtype.kind == "f" and not np.all(np.isfinite(got)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(got))[0])
        raise AssertionError(
            f"{name} contains {got[bad]} at index {bad}: every value must be finite. (nan "
            f"usually comes from 0/0 or inf - inf: for example a softmax over a row whose "
            f"entries are all -inf, which happens when it is taken over the wrong axis or "
            f"over a fully masked row; inf from exp or a product that overflows.)"
        )
    return got


def require_int(got, name: str) -> int:
    """Demand exactly a Python ``int`` (``bool`` and NumPy integers refused)."""
    if type(got) is not int:
        hint = ""
        if isinstance(got, Foreign) and got.module == "numpy":
            hint = " Convert it with `int(...)`."
        elif isinstance(got, numbers.Integral) and not isinstance(got, bool):
            hint = " Convert it with `int(...)`."
        elif isinstance(got, float) and float(got).is_integer():
            hint = " Use integer arithmetic (`//`, not `/`) or convert with `int(...)`."
        raise AssertionError(
            f"{name} should be a Python int, but {describe_value(got)} arrived.{hint}"
        )
    return got


def require_float(got, name: str) -> float:
    """Demand exactly a Python ``float`` (a NumPy scalar is refused with a hint)."""
    if type(got) is not float:
        hint = ""
        if isinstance(got, Foreign) and got.module == "numpy":
            hint = " Convert it with `float(...)`."
        elif type(got) is int:
            hint = " Return it as a float (`float(...)`)."
        raise AssertionError(
            f"{name} should be a Python float, but {describe_value(got)} arrived.{hint}"
        )
    return got


def _close(got: np.ndarray, expected: np.ndarray) -> np.ndarray:
    return np.abs(got - expected) <= ATOL + RTOL * np.abs(expected)


def digits_apart(expected: float, got: float) -> tuple[str, str]:
    """Both numbers with the fewest significant digits (at least 6) that tell them apart."""
    for digits in range(6, 18):
        a, b = f"{expected:+.{digits}g}", f"{got:+.{digits}g}"
        if a != b:
            return a, b
    return f"{expected!r}", f"{got!r}"


def _first_wrong(ok: np.ndarray, time_axis: int | None, backward: bool = False) -> tuple[int, ...]:
    """The first wrong index; with a time axis, the first one in the earliest wrong step
    (the latest, for gradients, which flow backwards in time)."""
    if time_axis is None or ok.ndim <= time_axis:
        return tuple(int(i) for i in np.argwhere(~ok)[0])
    moved = np.moveaxis(~ok, time_axis, 0)
    wrong_steps = np.flatnonzero(moved.reshape(moved.shape[0], -1).any(axis=1))
    step = int(wrong_steps[-1] if backward else wrong_steps[0])
    inner = tuple(int(i) for i in np.argwhere(moved[step])[0])
    index = list(inner)
    index.insert(time_axis, step)
    return tuple(index)


def is_roundoff(got: np.ndarray, expected: np.ndarray) -> bool:
    """Differences no larger than float32 round-off of numbers of this size."""
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    return 0.0 < float(np.max(np.abs(got - expected))) <= 2e-5 * scale


def assert_matches(
    got: np.ndarray,
    expected: np.ndarray,
    name: str,
    *,
    axes: Sequence[str],
    reference: str,
    mistakes: Mapping[str, object] | None = None,
    time_axis: int | None = None,
    backward: bool = False,
) -> None:
    """Compare ``got`` with ``expected`` elementwise under the course tolerance.

    ``axes`` names every axis (``"batch row"``, ``"time step"``, ...).
    ``mistakes`` maps a description of a common mistake to the output that
    mistake produces; every one that ``got`` matches is named.
    ``time_axis`` marks the axis along which the earliest wrong step is reported
    (the latest with ``backward``: a gradient's error enters at the end and flows back).
    """
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    ok = _close(got, expected)
    if ok.all():
        return
    bad = _first_wrong(ok, time_axis, backward)
    where = ", ".join(f"{axis} {i}" for axis, i in zip(axes, bad))
    where = f"{where}; indices start at 0" if where else "indices start at 0"
    allowed = ATOL + RTOL * np.abs(expected)
    ratio = float(np.max(np.abs(got - expected) / allowed))
    exp_text, got_text = digits_apart(float(expected[bad]), float(got[bad]))
    lines = [f"Wrong values in {name} (compared with {reference})."]
    if time_axis is not None and got.ndim > time_axis and backward:
        step, last = bad[time_axis], got.shape[time_axis] - 1
        if step < last:
            lines.append(
                f"  Time steps {step + 1}..{last} are right (gradients flow backwards in time); "
                f"the last wrong time step is {step}."
            )
        else:
            lines.append(f"  Already the last time step (index {last}) is wrong.")
    elif time_axis is not None and got.ndim > time_axis:
        step = bad[time_axis]
        if step > 0:
            lines.append(
                f"  Time steps 0..{step - 1} are right; the first wrong time step is {step}."
            )
        else:
            lines.append("  Already the first time step (index 0) is wrong.")
    lines += [
        f"  First wrong value at index {bad} ({where}):",
        f"    expected {exp_text}, got {got_text}",
        f"  {int((~ok).sum())} of {ok.size} values are wrong; the worst is {ratio:.3g} times "
        f"the allowed error |got - expected| <= {ATOL:g} + {RTOL:g} * |expected|.",
    ]
    roundoff = is_roundoff(got, expected)
    if roundoff:
        lines.append("  " + ROUNDOFF_HINT)
    matched = [
        desc
        for desc, alt in (mistakes or {}).items()
        if alt is not None
        and np.shape(alt) == got.shape
        and _close(got, np.asarray(alt, dtype=np.float64)).all()
    ]
    if len(matched) == 1:
        lines.append(f"  Hint: your output is exactly what you get when {matched[0]}.")
    elif matched:
        lines.append(
            "  Hint: your output is exactly what you get under each of these mistakes "
            "(at these sizes they give the same numbers): " + "; or ".join(matched) + "."
        )
    elif mistakes and not roundoff:
        causes = list(mistakes)
        more = f"; and {len(causes) - 6} more" if len(causes) > 6 else ""
        lines.append("  Common causes: " + "; ".join(causes[:6]) + more + ".")
    raise AssertionError("\n".join(lines))
