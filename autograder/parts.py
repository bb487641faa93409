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
from dataclasses import dataclass

import numpy as np

from . import calling, judging
from .judging import Output

__all__ = [
    "Output",
    "Case",
    "Part",
    "NUMPY",
    "NUMPY_TORCH",
    "parts_for",
    "part_for",
    "recurrent_sizes",
    "COURSE_DIR",
]

#: What graded code may call: NumPy only (build it yourself) ...
NUMPY = ("numpy",)
#: ... or NumPy and PyTorch (parts about PyTorch itself: training steps, clipping tensors).
NUMPY_TORCH = ("numpy", "torch")

COURSE_DIR = os.path.dirname(os.path.abspath(__file__))

_LIBRARY_NAMES = {"numpy": "NumPy", "torch": "PyTorch"}


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
    # Design parts: (args, values) -> None, or the message naming the first declared input
    # that breaks the property and what the answer did there. Values are then not compared
    # with the reference's (which still gives the shapes and dtypes, and the solution).
    property_check: Callable[[dict, tuple], str | None] | None = None
    uses: tuple[Part, ...] = ()  # earlier parts whose functions an answer may call

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
    @property
    def judged_by_property(self) -> bool:
        """Design parts: the values are judged by what they do, not by equality."""
        return self.property_check is not None

    def judge(
        self, args: dict, expected, outcome: calling.Outcome, failing_earlier=()
    ) -> str | None:
        """None when ``outcome`` is right for these inputs, else the message that teaches
        (:func:`autograder.judging.judge`, the same in the kernel and in the grader)."""
        return judging.judge(self, args, expected, outcome, failing_earlier)

    def failing_earlier(self, outcome: calling.Outcome, fails: Callable[[Part], bool]) -> list:
        """The earlier parts (``uses``) whose functions this answer calls and that fail their
        own checks, as ``fails(earlier)`` says: the kernel runs the student's earlier function
        on its cases, the grader reads that part's verdict."""
        return [p for p in self.uses if p.name in outcome.uses and fails(p)]

    def passes(self, fn) -> bool:
        """Does ``fn`` pass every case of this part (quietly)?"""
        for case in self.cases():
            args, expected = self.build(case)
            if self.judge(args, expected, self.call(fn, args)):
                return False
        return True

    def call(self, fn, args: dict) -> calling.Outcome:
        """``fn`` called on ``args`` under this part's rules (the kernel's way)."""
        return calling.call(
            fn,
            args,
            allowed=self.allowed,
            forbidden=self.forbidden,
            course_dirs=(COURSE_DIR,),
            count_lines=self.line_budget is not None,
        )

    # ------------------------------------------------------------------ the notebook's check
    def check_case(self, fn, case: Case) -> None:
        """Run one case in this process (the notebook's kernel); raise AssertionError on failure."""
        with warnings.catch_warnings():
            # A warning would reach stderr, which nbgrader scores as a failure.
            warnings.simplefilter("ignore")
            args, expected = self.build(case)
            outcome = self.call(fn, args)
            message = self.judge(args, expected, outcome)
            if message and self.uses:
                namespace = getattr(fn, "__globals__", {})
                earlier = self.failing_earlier(
                    outcome, lambda p: p.name in namespace and not p.passes(namespace[p.name])
                )
                if earlier:
                    message = self.judge(args, expected, outcome, earlier)
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
        check.part = self
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
