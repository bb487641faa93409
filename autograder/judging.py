"""How an answer is judged: one module, used unchanged by the notebook's check and the grader.

A graded part (:class:`autograder.parts.Part`) says *what* is asked; this module says whether
an :class:`~autograder.calling.Outcome` answers it, and if not, what to tell the student:

1. the call itself: a broken rule (another library, the very module the part asks you to
   build), a stop by the grader, a stub still in place, an exception, a signature that does not
   fit the stub's, an input written in place;
2. the returned values, one :class:`Output` at a time, through one comparator per kind:
   arrays (exact type, shape, dtype, finiteness, then values under the tolerance), tuples of
   arrays, and scalars (``int``, ``float``, ``bool``; NumPy scalars of the right kind count);
3. for a wrong value, every declared mistake whose output equals the answer is named;
4. parts judged by a *property* (design parts: many weight sets are right) hand the values
   to the part's own property check, which names the first declared input that breaks it;
5. a line budget (a scan must not loop over time).

The tolerance is stated once, here: a float passes when
``|got - expected| <= ATOL + RTOL * |expected|`` (see :data:`TOLERANCE_TEXT`). Float64 round-off
of a different but correct summation order is around 1e-15 relative, so these bounds accept
every correct float64 implementation and reject real mistakes, whose errors are of order 1e-2
or more; they are deliberately tighter than float32 round-off (about 1e-7 relative), so an
answer that drops to float32 internally is told to stay in float64.

Nothing here imports :mod:`autograder.parts` (a part is passed in), so there is no cycle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from . import calling
from .calling import Foreign, describe_value

__all__ = [
    "ATOL",
    "RTOL",
    "TOLERANCE_TEXT",
    "ROUNDOFF_HINT",
    "Output",
    "close",
    "describe_args",
    "digits_apart",
    "require_array",
    "as_int",
    "as_float",
    "as_bool",
    "assert_matches",
    "judge",
    "mistake_values",
    "violation_message",
]

RTOL = 1e-6
ATOL = 1e-8
TOLERANCE_TEXT = f"|got - expected| <= {ATOL:g} + {RTOL:g} * |expected|"

ROUNDOFF_HINT = (
    "These differences are at float32 round-off scale (about 1e-7 of the values), not a "
    "logic error: somewhere your code computes in float32 (a float32 array, np.float32, or "
    "a torch tensor's default dtype). Keep float64 throughout, intermediate results included."
)


@dataclass(frozen=True)
class Output:
    """One named output of a graded function."""

    name: str  # "h_t"
    what: str = ""  # "hidden state h_t" (defaults to name)
    kind: str = "array"  # "array" | "arrays" (a tuple of arrays) | "int" | "float" | "bool"
    axes: tuple[str, ...] = ()  # one name per array axis ("arrays": per item, same rank)
    dtype: str = "float64"  # arrays only
    time_axis: int | None = None  # arrays with a time axis: earliest wrong step reported
    nonfinite: bool = False  # inf / nan are right answers here (compared as values)
    backward: bool = False  # a gradient over time: errors reported from the last step back
    # Axes whose size the answer chooses (a design part's hidden size): any size is accepted
    # here, and the part's property check says which sizes are allowed and must agree.
    free: tuple[int, ...] = ()

    @property
    def label(self) -> str:
        return self.what or self.name


# ----------------------------------------------------------------------------- small helpers


def close(got, expected) -> np.ndarray:
    """Elementwise: within the course's tolerance of ``expected``."""
    return np.abs(got - expected) <= ATOL + RTOL * np.abs(expected)


def _scalar_close(got: float, expected: float) -> bool:
    return abs(got - expected) <= ATOL + RTOL * abs(expected)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def describe_args(args: Mapping[str, object]) -> str:
    """``x_t: float64 array of shape (3, 4), window=2`` for error messages."""
    parts = []
    for key, value in args.items():
        if isinstance(value, np.ndarray):
            parts.append(f"{key}: {value.dtype} array of shape {value.shape}")
        elif type(value) is tuple:
            parts.append(f"{key}: {describe_value(value)}")
        else:
            parts.append(f"{key}={value!r}")
    return ", ".join(parts)


def _type_text(got) -> str:
    if isinstance(got, Foreign):
        return got.type_name
    if type(got) is calling.ListOf:
        return "builtins.list"
    return f"{type(got).__module__}.{type(got).__qualname__}"


def digits_apart(expected: float, got: float) -> tuple[str, str]:
    """Both numbers with the fewest significant digits (at least 6) that tell them apart."""
    for digits in range(6, 18):
        a, b = f"{expected:+.{digits}g}", f"{got:+.{digits}g}"
        if a != b:
            return a, b
    return f"{expected!r}", f"{got!r}"


def is_roundoff(got: np.ndarray, expected: np.ndarray) -> bool:
    """Differences no larger than float32 round-off of numbers of this size."""
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    return 0.0 < float(np.max(np.abs(got - expected))) <= 2e-5 * scale


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


def _named(hits: list[str], head: str = "your output is exactly what you get when") -> str:
    if len(hits) == 1:
        return f"Hint: {head} {hits[0]}."
    return (
        f"Hint: {head.replace('when', 'under each of these mistakes')} (at these sizes they "
        "give the same result): " + "; or ".join(hits) + "."
    )


def _causes(all_mistakes: Sequence[str] | None) -> str:
    causes = list(all_mistakes or ())
    if not causes:
        return ""
    more = f"; and {len(causes) - 6} more" if len(causes) > 6 else ""
    return "Common causes: " + "; ".join(causes[:6]) + more + "."


# ----------------------------------------------------------------------------- kinds of output


def require_array(
    got,
    name: str,
    shape: Sequence[int],
    dtype=np.float64,
    hint: str = "",
    finite: bool = True,
    shape_text: str | None = None,
) -> np.ndarray:
    """Demand exactly a ``numpy.ndarray`` of the given shape and dtype.

    Exactly means ``type(got) is numpy.ndarray``: a subclass or an object that
    merely claims to be equal is refused. ``hint`` is added to shape errors;
    ``shape_text`` is how the shape is written in messages (``(H, 16)`` where the
    answer chooses H).
    """
    shape = tuple(int(s) for s in shape)
    shown = shape_text or str(shape)
    dtype = np.dtype(dtype)
    if type(got) is not np.ndarray:
        extra = ""
        note = got.note if isinstance(got, Foreign) else ""
        if note.startswith("a torch") or (hasattr(got, "detach") and hasattr(got, "numpy")):
            extra = (
                " It looks like a torch tensor: return a NumPy array "
                "(`tensor.detach().numpy()` where PyTorch is allowed)."
            )
        elif type(got) is calling.ListOf or note.startswith(("a list", "a tuple")):
            extra = " Wrap it with `np.array(...)` or, better, compute with NumPy throughout."
        elif isinstance(got, (list, tuple)):
            extra = " Wrap it with `np.array(...)` or, better, compute with NumPy throughout."
        elif note.startswith("a subclass"):
            extra = " Return a plain numpy.ndarray, not a subclass of it."
        elif got is None:
            extra = " Did you forget the `return` statement?"
        what = (
            f"a list of {len(got)} items" if type(got) is calling.ListOf else f"a {_type_text(got)}"
        )
        raise AssertionError(
            f"{name} should be a numpy.ndarray of shape {shown} and dtype {dtype}, "
            f"but {what} arrived.{extra}"
        )
    if got.shape != shape:
        why = ""
        if got.ndim == 0:
            why = " A single number (a NumPy scalar) arrived where an array is asked."
        elif len(got.shape) == len(shape) and sorted(got.shape) == sorted(shape):
            why = " The sizes are right but in another order: check for a transpose."
        elif got.ndim != len(shape):
            why = f" Expected {len(shape)} dimensions, got {got.ndim}."
        more = f"\nHint: {hint}" if hint else ""
        raise AssertionError(
            f"{name} should have shape {shown}, but it has shape {got.shape}.{why}{more}"
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


def _scalar_array(got) -> np.ndarray | None:
    """A NumPy scalar (it crosses the wire as a 0-d array) or a 0-d array; else None."""
    return got if type(got) is np.ndarray and got.ndim == 0 else None


def as_int(got, name: str) -> int:
    """A count: a Python ``int`` or a NumPy integer scalar (``bool`` and floats refused)."""
    if type(got) is int:
        return got
    scalar = _scalar_array(got)
    if scalar is not None and scalar.dtype.kind in "iu":
        return int(scalar)
    hint = ""
    if scalar is not None and scalar.dtype.kind == "f" and float(scalar).is_integer():
        hint = " Use integer arithmetic (`//`, not `/`) or convert with `int(...)`."
    elif isinstance(got, float) and float(got).is_integer():
        hint = " Use integer arithmetic (`//`, not `/`) or convert with `int(...)`."
    elif isinstance(got, Foreign) and got.note.startswith("a torch"):
        hint = " Convert it with `.item()`."
    elif type(got) is np.ndarray and got.size == 1:
        hint = " An array arrived where a single number is asked: take its element."
    raise AssertionError(f"{name} should be a Python int, but {describe_value(got)} arrived.{hint}")


def as_float(got, name: str) -> float:
    """A number: a Python ``float`` (or ``int``), or a NumPy float64 (or integer) scalar.

    Refused: ``bool``, a float32 scalar (the answer was computed in float32), an array of
    one element where a scalar is asked, a torch tensor (``.item()`` converts it).
    """
    if type(got) is float:
        return got
    if type(got) is int:
        return float(got)
    scalar = _scalar_array(got)
    if scalar is not None:
        if scalar.dtype == np.float64 or scalar.dtype.kind in "iu":
            return float(scalar)
        if scalar.dtype.kind == "f":
            raise AssertionError(
                f"{name} should be a float64 number, but a {scalar.dtype} scalar arrived. "
                f"Keep float64 throughout (no float32 arrays or tensors), then return it "
                f"with `float(...)`."
            )
    hint = ""
    if isinstance(got, Foreign) and got.note.startswith("a torch"):
        hint = " Convert it with `.item()`."
    elif type(got) is np.ndarray and got.size == 1:
        hint = (
            " An array arrived where a single number is asked: take its element with `float(...)`."
        )
    raise AssertionError(
        f"{name} should be a Python float, but {describe_value(got)} arrived.{hint}"
    )


def as_bool(got, name: str) -> bool:
    """A Python ``bool`` or a NumPy ``bool_`` scalar."""
    if type(got) is bool:
        return got
    scalar = _scalar_array(got)
    if scalar is not None and scalar.dtype.kind == "b":
        return bool(scalar)
    raise AssertionError(
        f"{name} should be a Python bool (True or False), but {describe_value(got)} arrived."
    )


# ----------------------------------------------------------------------------- values


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
    mistake produces (None where it cannot be computed); every one that ``got`` matches is
    named, else all of them are listed as common causes.
    ``time_axis`` marks the axis along which the earliest wrong step is reported
    (the latest with ``backward``: a gradient's error enters at the end and flows back).
    """
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    ok = close(got, expected)
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
        f"the allowed error {TOLERANCE_TEXT}.",
    ]
    roundoff = is_roundoff(got, expected)
    if roundoff:
        lines.append("  " + ROUNDOFF_HINT)
    matched = [
        desc
        for desc, alt in (mistakes or {}).items()
        if alt is not None
        and np.shape(alt) == got.shape
        and close(got, np.asarray(alt, dtype=np.float64)).all()
    ]
    if matched:
        lines.append("  " + _named(matched))
    elif mistakes and not roundoff:
        lines.append("  " + _causes(list(mistakes)))
    raise AssertionError("\n".join(lines))


def _nonfinite_hits(got: np.ndarray, mistakes) -> list[str]:
    """The mistakes whose output equals ``got``, nan where nan (a nan answer can still be
    exactly a known mistake: an unshifted softmax)."""
    return [
        d
        for d, alt in (mistakes or {}).items()
        if alt is not None
        and np.shape(alt) == got.shape
        and np.allclose(got, alt, rtol=RTOL, atol=ATOL, equal_nan=True)
    ]


def _compare_nonfinite(part, title, got, expected, mistakes) -> tuple[np.ndarray, np.ndarray]:
    """Where inf or nan is the right answer: those entries must match exactly; the finite rest
    is returned (zeros in their place) for the tolerance comparison."""
    same = (np.isnan(got) & np.isnan(expected)) | (got == expected)
    special = ~np.isfinite(expected) | ~np.isfinite(got)
    if not same[special].all():
        bad = tuple(int(i) for i in np.argwhere(~same & special)[0])
        hits = _nonfinite_hits(got, mistakes)
        hint = "\n" + _named(hits) if hits else ""
        raise AssertionError(
            f"{title} at index {bad}: expected {expected[bad]}, got {got[bad]} (see what "
            f"{part.reference_name} does with non-finite values).{hint}"
        )
    finite = np.isfinite(expected) & np.isfinite(got)
    return np.where(finite, got, 0.0), np.where(finite, expected, 0.0)


def _compare_array(part, out: Output, got, expected, label: str, mistakes) -> None:
    title = _capital(label)
    expected = np.asarray(expected)
    shape, shown = expected.shape, None
    if out.free:  # sizes the answer chooses: named by their axis, any size accepted here
        axis = out.axes[out.free[0]] if out.free[0] < len(out.axes) else ""
        letter = "H" if "hidden" in axis else "n"
        sizes = [letter if i in out.free else str(n) for i, n in enumerate(shape)]
        shown = "(" + ", ".join(sizes) + ("," if len(sizes) == 1 else "") + ")"
        shown += f", with {letter} your choice"
        if type(got) is np.ndarray and got.ndim == len(shape):
            shape = tuple(got.shape[i] if i in out.free else n for i, n in enumerate(shape))
    try:
        require_array(
            got,
            title,
            shape,
            dtype=out.dtype,
            hint=part.hint,
            finite=not out.nonfinite,
            shape_text=shown,
        )
    except AssertionError as err:
        nonfinite = type(got) is np.ndarray and not np.all(np.isfinite(got))
        hits = _nonfinite_hits(got, mistakes) if nonfinite else []
        if hits:
            raise AssertionError(f"{err}\n{_named(hits)}") from None
        raise
    if part.judged_by_property:
        return  # the values are the property check's business
    if out.nonfinite:
        got, expected = _compare_nonfinite(part, title, got, expected, mistakes)
    if np.dtype(out.dtype).kind in "biu":
        if np.array_equal(got, expected):
            return
        bad = tuple(int(i) for i in np.argwhere(got != expected)[0])
        where = ", ".join(f"{a} {i}" for a, i in zip(out.axes, bad))
        lines = [
            f"{title} differs from {part.reference_name}: at index {bad} ({where}) "
            f"expected {expected[bad]!r}, got {got[bad]!r}."
        ]
        hits = [
            d
            for d, v in (mistakes or {}).items()
            if v is not None and np.shape(v) == got.shape and np.array_equal(v, got)
        ]
        lines.append(_named(hits, "that is what you get when") if hits else _causes(mistakes))
        raise AssertionError("\n".join(line for line in lines if line))
    assert_matches(
        got,
        expected,
        label,
        axes=out.axes,
        reference=part.reference_name,
        mistakes=mistakes,
        time_axis=out.time_axis,
        backward=out.backward,
    )


def _compare_arrays(part, out: Output, got, expected, label: str, mistakes) -> None:
    expected = tuple(expected)
    if not isinstance(got, tuple):  # a tuple, or a list (calling.ListOf)
        raise AssertionError(
            f"{_capital(label)} should be a tuple of {len(expected)} arrays, but "
            f"{describe_value(got)} arrived."
        )
    if len(got) != len(expected):
        raise AssertionError(
            f"{_capital(label)} should hold {len(expected)} arrays, one per input, but it "
            f"holds {len(got)}."
        )
    single = replace(out, kind="array")
    for i, (g, e) in enumerate(zip(got, expected)):
        mine = {
            d: (a[i] if isinstance(a, (tuple, list)) and len(a) > i else None)
            for d, a in (mistakes or {}).items()
        }
        _compare_array(part, single, g, e, f"{label} (item {i})", mine)


def _compare_scalar(part, out: Output, got, expected, label: str, mistakes) -> None:
    title = _capital(label)
    if part.judged_by_property:  # the type is checked here, the value by the property
        {"bool": as_bool, "int": as_int, "float": as_float}[out.kind](got, title)
        return
    if out.kind == "bool":
        value = as_bool(got, title)
        if value != expected:
            raise AssertionError(f"{title} is {value}, but it should be {expected}.")
        return
    if out.kind == "int":
        value = as_int(got, title)
        if value == expected:
            return
        head = (
            f"{title} is {value}, but {part.reference_name} gives {expected} "
            f"(difference {value - expected:+d})."
        )
        hits = [d for d, v in (mistakes or {}).items() if v is not None and v == value]
    else:
        value = as_float(got, title)
        if out.nonfinite and not (np.isfinite(value) and np.isfinite(expected)):
            if value == expected or (np.isnan(value) and np.isnan(expected)):
                return
        elif np.isfinite(value) and _scalar_close(value, expected):
            return
        e, g = digits_apart(float(expected), float(value))
        head = f"{title} is {g}, but {part.reference_name} gives {e}."
        hits = [
            d
            for d, v in (mistakes or {}).items()
            if v is not None and np.isfinite(v) and _scalar_close(value, v)
        ]
    tail = _named(hits, "that is what you get when") if hits else _causes(mistakes)
    raise AssertionError(head + ("\n" + tail if tail else ""))


_COMPARATORS = {
    "array": _compare_array,
    "arrays": _compare_arrays,
    "int": _compare_scalar,
    "float": _compare_scalar,
    "bool": _compare_scalar,
}


def compare(part, out: Output, got, expected, label: str, mistakes=None) -> None:
    """Raise AssertionError (a message that teaches) unless ``got`` is right for ``out``.

    ``mistakes``: {description: what that mistake returns for this output, or None}.
    """
    try:
        comparator = _COMPARATORS[out.kind]
    except KeyError:
        raise ValueError(f"unknown output kind {out.kind!r}") from None
    comparator(part, out, got, expected, label, mistakes)


# ----------------------------------------------------------------------------- the verdict


def expected_tuple(part, expected) -> tuple:
    """A reference's answer as one value per declared output."""
    return (expected,) if len(part.outputs) == 1 else tuple(expected)


def mistake_values(part, args: dict) -> dict[str, tuple | None]:
    """{description: what that mistake returns, one value per output}; None where a mistake
    does not apply to these inputs (its maker returns None)."""
    if part.mistakes is None:
        return {}
    import warnings

    out = {}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for desc, make in part.mistakes(args).items():
            try:
                value = make()
            except Exception:  # noqa: BLE001 - see below
                # The contract (CONTRIBUTING.md, enforced on every declared case by
                # tests/test_parts.py) is that a maker returns None where its mistake does not
                # apply. A case of the student's own choosing (`check_x(x, seed=7, batch=1)`)
                # may still reach sizes nobody declared: it must not crash the check.
                value = None
            out[desc] = None if value is None else expected_tuple(part, value)
    return out


def violation_message(part, violation: str) -> str:
    fn = f"`{part.name}`"
    for dotted in part.forbidden:
        if violation == f"it calls {dotted}":
            return (
                f"{fn} must not call {dotted}: that is the very thing this exercise asks "
                f"you to build ({violation}). This part scores 0 when it does, here and "
                f"in grading. Write the computation yourself with {part.rule_text()}."
            )
    return (
        f"{fn} may use {part.rule_text()} (and Python's standard library), but {violation}. "
        f"This part is about building it yourself, so an answer that relies on another "
        f"library scores 0 here and in grading. Use other libraries freely outside your "
        f"graded functions, for example to check your work."
    )


def _call_message(part, args: dict, outcome: calling.Outcome) -> str | None:
    """What went wrong with the call itself, before any value is looked at."""
    fn = f"`{part.name}`"
    if outcome.violation:
        return violation_message(part, outcome.violation)
    if outcome.stopped:
        return f"{fn} could not finish: {outcome.stopped}."
    if outcome.error == calling.NOT_IMPLEMENTED:
        return (
            f"{fn} is not implemented yet: replace `raise NotImplementedError()` in its "
            f"cell with your code, run that cell, then run this test again."
        )
    if outcome.unbound is not None:
        stub = f"{part.name}({', '.join(part.signature)})"
        return (
            f"{fn} cannot be called the way its stub is: the grader passes the stub's "
            f"{len(part.signature)} arguments in this order, `{stub}`, but {outcome.unbound}. "
            f"You may rename the parameters; keep their number and their order."
        )
    if outcome.error is not None:
        hint = f"\nHint: {part.hint}" if part.hint else ""
        return f"{fn} raised {outcome.error}\nIt was called with {describe_args(args)}.{hint}"
    if outcome.mutated:
        return (
            f"{fn} changed its input `{outcome.mutated}` in place. Compute a new array "
            f"instead of writing into the ones you are given."
        )
    return None


def _returned_values(part, got) -> tuple | str:
    """The returned value as one value per output, or the message saying why it is not."""
    if len(part.outputs) == 1:
        return (got,)
    names = ", ".join(o.name for o in part.outputs)
    if type(got) is not tuple:
        return (
            f"`{part.name}` should return a tuple of {len(part.outputs)} values ({names}), "
            f"but {describe_value(got)} arrived."
        )
    if len(got) != len(part.outputs):
        return (
            f"`{part.name}` should return {len(part.outputs)} values ({names}), "
            f"but it returned {len(got)}."
        )
    return got


def _compare_all(part, args: dict, values: tuple, want: tuple) -> str | None:
    alternatives = None  # computed on the first wrong output only
    for index, (out, value, right) in enumerate(zip(part.outputs, values, want)):
        label = f"the {out.label} returned by `{part.name}`"
        try:
            compare(part, out, value, right, label)
        except AssertionError:
            if alternatives is None:
                alternatives = mistake_values(part, args)
            mine = {d: (alt[index] if alt is not None else None) for d, alt in alternatives.items()}
            try:
                compare(part, out, value, right, label, mine)
            except AssertionError as err:
                return str(err)
            raise RuntimeError("a comparison failed once and passed the second time") from None
    return None


def judge(
    part, args: dict, expected, outcome: calling.Outcome, failing_earlier: Sequence = ()
) -> str | None:
    """None when ``outcome`` answers ``part`` for these inputs, else the message that teaches.

    ``failing_earlier``: earlier parts whose functions this answer calls and that fail their
    own checks; the message then says to fix those first. Used unchanged by the in-kernel
    check and by the isolated grader.
    """
    message = _call_message(part, args, outcome)
    if message is None:
        values = _returned_values(part, outcome.value)
        if isinstance(values, str):
            message = values
        else:
            message = _compare_all(part, args, values, expected_tuple(part, expected))
            if message is None and part.judged_by_property:
                message = part.property_check(args, values)
    if message is None and part.line_budget is not None:
        message = _budget_message(part, args, outcome)
    if message and failing_earlier:
        first = failing_earlier[0]
        message = (
            f"Your `{part.name}` calls your `{first.name}`, which fails its own check "
            f"(`{first.check_name}`): fix it first, then run this test again. What this test "
            f"saw:\n{message}"
        )
    return message


def _budget_message(part, args: dict, outcome: calling.Outcome) -> str | None:
    budget = int(part.line_budget(args))
    if outcome.lines is None:
        return f"`{part.name}` could not be graded: its lines were not counted."
    if outcome.lines > budget:
        return (
            f"`{part.name}` returns the right values, but it executed {outcome.lines} lines "
            f"of your own Python for these sizes ({describe_args(args)}), more "
            f"than the {budget} this part allows. {part.budget_hint}"
        )
    return None
