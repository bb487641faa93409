"""One declaration per graded part: everything else derives from it.

A :class:`Part` says, once, everything about one graded exercise: its grade
id and points, the function's signature, how inputs are built from a seed
(sizes drawn, edge cases forced), the reference that computes the right
answer (``torch.nn`` on the reference device), the named outputs with their
kind, dtype and axis names, the known mistakes (each a function of the
inputs that computes what that mistake returns), the visible cases and the
hidden cases, and what the graded code may call.

From it follow:

* the notebook's test cell (``check_x(x)`` visible, ``check_x(x, hidden=True)``
  hidden) and the imports cell (:mod:`tools.assignments` writes them);
* the in-kernel check, :meth:`Part.check`;
* the isolated grader (:mod:`autograder.grading`), which runs exactly
  :meth:`Part.cases` through the same :mod:`autograder.calling` runtime and
  judges the answers with the same :meth:`Part.judge`, so the two give the
  same verdict and the same message;
* the tests of the checks (``tests/test_parts.py`` walks every part).

Chapters declare their parts in ``autograder/checks/chNN_<slug>.py`` as
``PARTS``; :func:`parts_for` finds them through :mod:`autograder.chapters`.
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from . import calling
from .comparing import (
    assert_matches,
    describe_args,
    digits_apart,
    require_array,
    require_float,
    require_int,
)

__all__ = ["Output", "Case", "Part", "NUMPY", "NUMPY_TORCH", "parts_for", "part_for", "COURSE_DIR"]

#: What graded code may call: NumPy only (build it yourself) ...
NUMPY = ("numpy",)
#: ... or NumPy and PyTorch (parts about PyTorch itself: training steps, clipping tensors).
NUMPY_TORCH = ("numpy", "torch")

COURSE_DIR = os.path.dirname(os.path.abspath(__file__))

_LIBRARY_NAMES = {"numpy": "NumPy", "torch": "PyTorch"}


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

    @property
    def label(self) -> str:
        return self.what or self.name


class Case:
    """One call of a graded function: a seed and size overrides for its input builder."""

    def __init__(self, seed: int, **sizes):
        self.seed = int(seed)
        self.sizes = dict(sizes)

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.sizes.items())
        return f"Case({self.seed}{extra})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Case) and (self.seed, self.sizes) == (other.seed, other.sizes)

    def __hash__(self) -> int:
        return hash((self.seed, tuple(sorted(self.sizes.items()))))

    def call_text(self, check_name: str, function: str) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.sizes.items())
        return f"{check_name}({function}, seed={self.seed}{extra})"


@dataclass(frozen=True)
class Part:
    """Everything about one graded exercise (see the module docstring)."""

    grade_id: str
    points: int
    signature: tuple[str, ...]
    inputs: Callable[..., dict]  # (seed, **sizes) -> {argument: value}
    reference: Callable[..., object]  # (**args) -> output (or tuple of outputs)
    reference_name: str  # what the reference is, for messages
    outputs: tuple[Output, ...]
    visible: tuple[Case, ...]
    hidden: tuple[Case, ...]
    allowed: tuple[str, ...] = NUMPY
    forbidden: tuple[str, ...] = ()  # dotted names the exercise asks you to build
    mistakes: Callable[[dict], Mapping[str, Callable[[], object]]] | None = None
    hint: str = ""  # shown with crashes and shape errors
    sizes: Callable[[dict], dict] | None = None  # args -> {"B": 3, ...} for the "correct" line
    function: str = ""  # defaults to grade_id
    call_seconds: float = 20.0  # per call, in the isolated grader
    line_budget: Callable[[dict], int] | None = None  # most lines of own code a call may run
    budget_hint: str = ""  # what the budget asks for, in words
    notes: dict = field(default_factory=dict)  # free-form (for chapter tooling)

    # ------------------------------------------------------------------ naming
    @property
    def name(self) -> str:
        return self.function or self.grade_id

    @property
    def test_id(self) -> str:
        """The grade id of the notebook's locked test cell."""
        return f"test_{self.grade_id}"

    @property
    def check_name(self) -> str:
        return f"check_{self.name}"

    def cases(self) -> tuple[Case, ...]:
        """Every case graded: the visible ones, then the hidden ones."""
        return tuple(self.visible) + tuple(self.hidden)

    def rule_text(self) -> str:
        """The import rule in words, for the notebook and for messages."""
        names = [_LIBRARY_NAMES.get(p, p) for p in self.allowed]
        text = " and ".join(names) + (" only" if len(names) == 1 else "")
        # Forbidden modules of a library that is not allowed anyway go without saying.
        banned = [f for f in self.forbidden if f.split(".")[0] in self.allowed]
        if banned:
            text += " (not " + ", ".join(f"`{f}`" for f in banned) + ")"
        return text

    # ------------------------------------------------------------------ cases
    def build(self, case: Case) -> tuple[dict, object]:
        """The inputs of ``case`` (ordered as the signature) and the reference's answer."""
        args = self.inputs(case.seed, **case.sizes)
        missing = [a for a in self.signature if a not in args]
        if missing or len(args) != len(self.signature):
            raise RuntimeError(
                f"{self.grade_id}: input builder gave {sorted(args)}, signature is {self.signature}"
            )
        args = {name: args[name] for name in self.signature}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = self.reference(**args)
        return args, expected

    def size_text(self, args: dict, case: Case, seed: bool = True) -> str:
        sizes = (
            self.sizes(args)
            if self.sizes
            else {k: v.shape for k, v in args.items() if isinstance(v, np.ndarray)}
        )
        text = ", ".join(f"{k}={v}" for k, v in sizes.items())
        return f"seed {case.seed}; {text}" if seed else text

    # ------------------------------------------------------------------ judging
    def _expected_tuple(self, expected) -> tuple:
        return (expected,) if len(self.outputs) == 1 else tuple(expected)

    def judge(self, args: dict, expected, outcome: calling.Outcome) -> str | None:
        """None when ``outcome`` is right for these inputs, else the message that teaches.

        Used unchanged by the in-kernel check and by the isolated grader.
        """
        fn = f"`{self.name}`"
        if outcome.violation:
            return self.violation_message(outcome.violation)
        if outcome.stopped:
            return f"{fn} could not finish: {outcome.stopped}."
        if outcome.error == calling.NOT_IMPLEMENTED:
            return (
                f"{fn} is not implemented yet: replace `raise NotImplementedError()` in its "
                f"cell with your code, run that cell, then run this test again."
            )
        if outcome.error is not None:
            hint = f"\nHint: {self.hint}" if self.hint else ""
            return f"{fn} raised {outcome.error}\nIt was called with {describe_args(args)}.{hint}"
        if outcome.mutated:
            return (
                f"{fn} changed its input `{outcome.mutated}` in place. Compute a new array "
                f"instead of writing into the ones you are given."
            )
        got = outcome.value
        want = self._expected_tuple(expected)
        if len(self.outputs) == 1:
            values = (got,)
        else:
            names = ", ".join(o.name for o in self.outputs)
            if type(got) is not tuple:
                return (
                    f"{fn} should return a tuple of {len(self.outputs)} values ({names}), "
                    f"but {calling.describe_value(got)} arrived."
                )
            if len(got) != len(self.outputs):
                return (
                    f"{fn} should return {len(self.outputs)} values ({names}), "
                    f"but it returned {len(got)}."
                )
            values = got
        alternatives = None
        for index, (out, value, right) in enumerate(zip(self.outputs, values, want)):
            label = f"the {out.label} returned by {fn}"
            try:
                self._compare(out, value, right, label, alternatives=None)
            except AssertionError:
                if alternatives is None:
                    alternatives = self._mistake_values(args)
                mine = {desc: alt[index] for desc, alt in alternatives.items() if alt is not None}
                try:
                    self._compare(
                        out, value, right, label, alternatives=mine, all_mistakes=list(alternatives)
                    )
                except AssertionError as err:
                    return str(err)
                raise RuntimeError("a comparison failed once and passed the second time") from None
        if self.line_budget is not None:
            budget = int(self.line_budget(args))
            if outcome.lines is None:
                return f"{fn} could not be graded: its lines were not counted."
            if outcome.lines > budget:
                return (
                    f"{fn} returns the right values, but it executed {outcome.lines} lines "
                    f"of your own Python for these sizes ({describe_args(args)}), more "
                    f"than the {budget} this part allows. {self.budget_hint}"
                )
        return None

    def violation_message(self, violation: str) -> str:
        fn = f"`{self.name}`"
        for dotted in self.forbidden:
            if violation == f"it calls {dotted}":
                return (
                    f"{fn} must not call {dotted}: that is the very thing this exercise asks "
                    f"you to build ({violation}). This part scores 0 when it does, here and "
                    f"in grading. Write the computation yourself with {self.rule_text()}."
                )
        return (
            f"{fn} may use {self.rule_text()} (and Python's standard library), but {violation}. "
            f"This part is about building it yourself, so an answer that relies on another "
            f"library scores 0 here and in grading. Use other libraries freely outside your "
            f"graded functions, for example to check your work."
        )

    def _mistake_values(self, args: dict) -> dict[str, tuple | None]:
        if self.mistakes is None:
            return {}
        out = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for desc, make in self.mistakes(args).items():
                try:
                    value = make()
                    out[desc] = self._expected_tuple(value)
                except Exception:  # a mistake that cannot be expressed at these sizes
                    out[desc] = None
        return out

    def _compare(
        self, out: Output, got, expected, label: str, *, alternatives, all_mistakes=None
    ) -> None:
        title = label[0].upper() + label[1:]
        if out.kind == "arrays":
            expected = tuple(expected)
            if type(got) is not tuple:
                raise AssertionError(
                    f"{title} should be a tuple of {len(expected)} arrays, but "
                    f"{calling.describe_value(got)} arrived."
                )
            if len(got) != len(expected):
                raise AssertionError(
                    f"{title} should hold {len(expected)} arrays, one per "
                    f"input, but it holds {len(got)}."
                )
            single = Output(
                out.name,
                out.what,
                "array",
                out.axes,
                out.dtype,
                out.time_axis,
                out.nonfinite,
                out.backward,
            )
            for i, (g, e) in enumerate(zip(got, expected)):
                alts = None
                if alternatives is not None:
                    alts = {
                        d: (a[i] if isinstance(a, (tuple, list)) and len(a) > i else None)
                        for d, a in alternatives.items()
                    }
                self._compare(
                    single,
                    g,
                    e,
                    f"{label} (item {i})",
                    alternatives=alts,
                    all_mistakes=all_mistakes,
                )
            return
        if out.kind == "array":
            expected = np.asarray(expected)
            require_array(
                got,
                title,
                expected.shape,
                dtype=out.dtype,
                hint=self.hint,
                finite=not out.nonfinite,
            )
            if out.nonfinite:
                same = (np.isnan(got) & np.isnan(expected)) | (got == expected)
                if not same[~np.isfinite(expected) | ~np.isfinite(got)].all():
                    bad = tuple(
                        int(i)
                        for i in np.argwhere(~same & (~np.isfinite(expected) | ~np.isfinite(got)))[
                            0
                        ]
                    )
                    hits = [
                        d
                        for d, alt in (alternatives or {}).items()
                        if alt is not None
                        and np.shape(alt) == got.shape
                        and np.allclose(got, alt, rtol=1e-6, atol=1e-8, equal_nan=True)
                    ]
                    hint = (
                        (
                            "\nHint: your output is exactly what you get when "
                            + "; or ".join(hits)
                            + "."
                        )
                        if hits
                        else ""
                    )
                    raise AssertionError(
                        f"{title} at index {bad}: expected {expected[bad]}, "
                        f"got {got[bad]} (see what {self.reference_name} does "
                        f"with non-finite values).{hint}"
                    )
                finite = np.isfinite(expected) & np.isfinite(got)
                got, expected = np.where(finite, got, 0.0), np.where(finite, expected, 0.0)
            if np.dtype(out.dtype).kind in "biu":
                if not np.array_equal(got, expected):
                    raise AssertionError(
                        self._exact_array_message(
                            title, got, expected, out, alternatives, all_mistakes
                        )
                    )
                return
            mistakes = None
            if alternatives is not None:
                mistakes = {d: a for d, a in alternatives.items()}
                for desc in all_mistakes or ():
                    mistakes.setdefault(desc, None)
            assert_matches(
                got,
                expected,
                label,
                axes=out.axes,
                reference=self.reference_name,
                mistakes=mistakes,
                time_axis=out.time_axis,
                backward=out.backward,
            )
        elif out.kind == "int":
            require_int(got, title)
            if got != expected:
                raise AssertionError(
                    self._scalar_message(
                        label, got, expected, alternatives, all_mistakes, exact=True
                    )
                )
        elif out.kind == "float":
            require_float(got, title)
            if out.nonfinite and not (np.isfinite(got) and np.isfinite(expected)):
                if not (got == expected or (np.isnan(got) and np.isnan(expected))):
                    raise AssertionError(
                        self._scalar_message(
                            label, got, expected, alternatives, all_mistakes, exact=False
                        )
                    )
                return
            if not np.isfinite(got) or abs(got - expected) > 1e-8 + 1e-6 * abs(expected):
                raise AssertionError(
                    self._scalar_message(
                        label, got, expected, alternatives, all_mistakes, exact=False
                    )
                )
        elif out.kind == "bool":
            if type(got) is not bool:
                raise AssertionError(
                    f"{title} should be a Python bool (True or False), but "
                    f"{calling.describe_value(got)} arrived."
                )
            if got != expected:
                raise AssertionError(f"{title} is {got}, but it should be {expected}.")
        else:
            raise ValueError(f"unknown output kind {out.kind!r}")

    def _scalar_message(self, label, got, expected, alternatives, all_mistakes, exact) -> str:
        if exact:
            head = (
                f"{label[0].upper() + label[1:]} is {got}, but {self.reference_name} gives "
                f"{expected} (difference {got - expected:+d})."
            )
        else:
            e, g = digits_apart(float(expected), float(got))
            head = f"{label[0].upper() + label[1:]} is {g}, but {self.reference_name} gives {e}."
        hits = [
            d
            for d, v in (alternatives or {}).items()
            if v is not None and (v == got if exact else abs(v - got) <= 1e-8 + 1e-6 * abs(v))
        ]
        if len(hits) == 1:
            return head + f"\nHint: that is what you get when {hits[0]}."
        if hits:
            return head + (
                "\nHint: that is what you get under each of these mistakes (at these "
                "sizes they give the same number): " + "; or ".join(hits) + "."
            )
        if all_mistakes:
            return head + "\nCommon causes: " + "; ".join(all_mistakes) + "."
        return head

    def _exact_array_message(self, title, got, expected, out, alternatives, all_mistakes) -> str:
        bad = tuple(int(i) for i in np.argwhere(got != expected)[0])
        where = ", ".join(f"{a} {i}" for a, i in zip(out.axes, bad))
        lines = [
            f"{title} differs from {self.reference_name}: at index {bad} ({where}) "
            f"expected {expected[bad]!r}, got {got[bad]!r}."
        ]
        hits = [
            d
            for d, v in (alternatives or {}).items()
            if v is not None and np.shape(v) == got.shape and np.array_equal(v, got)
        ]
        if hits:
            lines.append("Hint: that is what you get when " + "; or ".join(hits) + ".")
        elif all_mistakes:
            lines.append("Common causes: " + "; ".join(all_mistakes) + ".")
        return "\n".join(lines)

    # ------------------------------------------------------------------ the notebook's check
    def check_case(self, fn, case: Case) -> None:
        """Run one case in this process (the notebook's kernel); raise AssertionError on failure."""
        with warnings.catch_warnings():
            # A warning would reach stderr, which nbgrader scores as a failure.
            warnings.simplefilter("ignore")
            args, expected = self.build(case)
            outcome = calling.call(
                fn,
                args,
                allowed=self.allowed,
                forbidden=self.forbidden,
                course_dirs=(COURSE_DIR,),
                count_lines=self.line_budget is not None,
            )
            message = self.judge(args, expected, outcome)
        if message:
            rerun = case.call_text(self.check_name, self.name)
            raise AssertionError(
                f"{message}\n(This was the case `{rerun}`: "
                f"{self.size_text(args, case, seed=False)}.)"
            )
        print(f"{self.name}: correct ({self.size_text(args, case)})")

    def check(self, fn, seed: int | None = None, *, hidden: bool = False, **sizes) -> None:
        """The notebook's test: ``check(fn)`` runs the visible cases, ``hidden=True`` the
        hidden ones, and ``check(fn, seed=7, batch=1)`` one case of your choosing."""
        if seed is not None or sizes:
            cases = (Case(0 if seed is None else seed, **sizes),)
        else:
            cases = self.hidden if hidden else self.visible
        for case in cases:
            self.check_case(fn, case)

    def make_check(self) -> Callable:
        """A named function for the notebook's imports (``check_rnn_step``)."""

        def check(fn, seed=None, *, hidden=False, **sizes):
            return self.check(fn, seed, hidden=hidden, **sizes)

        check.__name__ = check.__qualname__ = self.check_name
        check.__doc__ = (
            f"Check your `{self.name}` against {self.reference_name}.\n\n"
            f"check_{self.name}({self.name}) runs the visible cases; "
            f"check_{self.name}({self.name}, seed=7, ...) one case of your choosing."
        )
        return check


#: Which axis of which usual argument is which size letter (PyTorch's layout, batch first).
RECURRENT_AXES = (
    ("x", "BTD"),
    ("x_t", "BD"),
    ("hs", "BTH"),
    ("h_prev", "BH"),
    ("h0", "BH"),
    ("W_hy", "OH"),
    ("W_hh", "H"),
)


def recurrent_sizes(args: dict, extra: tuple[str, ...] = ()) -> dict:
    """B, T, D, H, O read off whichever usual arguments a part has (for the "correct" line),
    followed by the scalar arguments named in ``extra``."""
    out: dict = {}
    for name, letters in RECURRENT_AXES:
        value = args.get(name)
        if isinstance(value, np.ndarray):
            for letter, size in zip(letters, value.shape):
                out.setdefault(letter, int(size))
    sizes = {k: out[k] for k in "BTDHO" if k in out}
    sizes.update({k: args[k] for k in extra if k in args})
    return sizes


def parts_for(assignment: str) -> tuple[Part, ...]:
    """The graded parts of an assignment (``"02-elman"``), in notebook order."""
    from .chapters import chapter

    module = importlib.import_module(f"autograder.checks.{chapter(assignment).module}")
    return tuple(module.PARTS)


def part_for(assignment: str, grade_id: str) -> Part:
    for part in parts_for(assignment):
        if part.grade_id == grade_id:
            return part
    raise KeyError(f"{assignment} has no graded part {grade_id!r}")
