"""The one path every check takes: call the student, demand the type, compare.

Checks are deterministic in their seed: the visible test in a notebook is one
call with a fixed seed, and the hidden tests are the same call with other
seeds, sizes and edge cases, so showing them in feedback reveals nothing.
"""
from __future__ import annotations

import warnings
from typing import Callable, Mapping, Sequence

import numpy as np

from ..comparing import assert_matches, call_student, require_array


def check_array_function(fn: Callable, name: str, args: Mapping[str, object], *,
                         expected: np.ndarray, output: str, axes: Sequence[str],
                         reference: str, mistakes: Mapping[str, Callable[[], np.ndarray]] = (),
                         time_axis: int | None = None, shape_hint: str = "") -> np.ndarray:
    """Run one array-valued exercise function against its reference.

    ``mistakes`` maps the description of a common mistake to a function that
    computes what that mistake would return (evaluated only on failure).
    """
    with warnings.catch_warnings():
        # A warning would reach stderr, which nbgrader scores as a failure.
        warnings.simplefilter("ignore")
        got = call_student(fn, name, args, shape_hint=shape_hint)
        label = f"the {output} returned by `{name}`"
        require_array(got, label[0].upper() + label[1:], expected.shape)
        try:
            assert_matches(got, expected, label,
                           axes=axes, reference=reference, time_axis=time_axis)
        except AssertionError:
            alternatives = {desc: make() for desc, make in dict(mistakes).items()}
            assert_matches(got, expected, label, axes=axes, reference=reference,
                           time_axis=time_axis, mistakes=alternatives)
    return got


def passed(name: str, seed: int, sizes: Mapping[str, int]) -> None:
    """One line on stdout (never stderr) saying what was checked."""
    desc = ", ".join(f"{k}={v}" for k, v in sizes.items())
    print(f"{name}: correct (seed {seed}; {desc})")
