"""Build nbgrader source notebooks from a compact description, deterministically.

Each chapter's notebook source is ``tools/assignments/chNN_<slug>.py`` (it
cannot live in ``solutions/<assignment>/``, which nbgrader copies into the
students' release, nor in the ``autograder`` package, which students install).
It lists cells made with the helpers below; :func:`graded_part` turns one
:class:`autograder.parts.Part` declaration plus its solution into the three
cells of a graded part (instructions, answer, locked test), so the points,
the test cell and the import rule come from the declaration, never retyped.

Cell ids are derived from grade ids (and, for ungraded cells, from the
graded cell before them), so regenerating a notebook changes nothing:
``tests/test_notebook_sources.py`` checks that ``solutions/`` is exactly what
the sources produce. ``make notebooks`` regenerates ``solutions/`` and then
``exercises/`` (``nbgrader generate_assignment``).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder import judging

ROOT = Path(__file__).resolve().parent.parent
KERNEL = {"display_name": "Python 3 (rnn-course)", "language": "python", "name": "python3"}


def _meta(grade_id, *, grade=False, solution=False, locked=False, points=None):
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def markdown(grade_id, text):
    """A read-only instruction cell."""
    return new_markdown_cell(text.strip("\n"), metadata=_meta(grade_id, locked=True))


def setup(grade_id, code):
    """A read-only code cell (imports, data)."""
    return new_code_cell(code.strip("\n"), metadata=_meta(grade_id, locked=True))


def free(code):
    """An ordinary cell the student may change (not graded)."""
    return new_code_cell(code.strip("\n"))


def answer(grade_id, code):
    """A solution cell: the part between BEGIN/END SOLUTION becomes a stub."""
    return new_code_cell(code.strip("\n"), metadata=_meta(grade_id, solution=True))


def test_cell(part):
    """The locked test cell of ``part``: its visible cases, then (hidden) the hidden ones."""
    source = (
        f"{part.check_name}({part.name})\n"
        "### BEGIN HIDDEN TESTS\n"
        f"{part.check_name}({part.name}, hidden=True)\n"
        "### END HIDDEN TESTS"
    )
    return new_code_cell(
        source, metadata=_meta(part.test_id, grade=True, locked=True, points=part.points)
    )


def imports_cell(chapter, parts, extra: str = ""):
    """The locked setup cell: NumPy and the chapter's checks, one per graded part."""
    names = ", ".join(p.check_name for p in parts)
    lines = [
        "import numpy as np",
        extra.strip("\n"),
        f"from autograder.checks.{chapter.module} import ({names})",
    ]
    return setup("imports", "\n".join(line for line in lines if line))


def graded_part(number, part, title, text, solution):
    """Instructions, answer cell and test cell of one graded part, from its declaration."""
    rule = (
        f"*Allowed in `{part.name}`: {part.rule_text()} (and Python's standard library). "
        f"{part.points} points.*"
    )
    header = f"## Part {number} ({part.points} points): {title}\n\n"
    return [
        markdown(f"{part.grade_id}_text", header + text.strip("\n") + "\n\n" + rule),
        answer(part.grade_id, solution),
        test_cell(part),
    ]


def how_to(parts) -> str:
    """The grading rules, in words that fit this notebook's parts."""
    kinds = {o.kind for p in parts for o in p.outputs}
    returns = []
    if "array" in kinds:
        returns.append(
            "exactly a `numpy.ndarray` (not a list, not a torch tensor) of the "
            "stated shape and dtype"
        )
    if "int" in kinds:
        returns.append("a Python `int` where a count is asked for")
    if "float" in kinds:
        returns.append("a Python `float` where a number is asked for")
    if any(len(p.outputs) > 1 for p in parts):
        returns.append("a tuple, in the stated order, where several values are asked for")
    libraries = sorted({p.rule_text() for p in parts}, key=len)
    if len(libraries) > 1:
        libraries = [", or ".join(libraries[:-1]) + f", or {libraries[-1]}"]
        rule = "each part says which"
    else:
        rule = "in every part"
    examples = []
    if any("torch" not in p.allowed for p in parts):
        examples.append("`torch` in a NumPy part")
    if any(f.split(".")[0] in p.allowed for p in parts for f in p.forbidden):
        examples.append("the very PyTorch function the part asks you to build")
    designs = [p for p in parts if p.judged_by_property]
    design = (
        " Design parts return weights instead: they are run through the course's own "
        "model on declared inputs and judged by what they do, so many answers are right."
        if designs
        else ""
    )
    floats = any(
        o.kind == "float" or (o.kind in ("array", "arrays") and o.dtype.startswith("float"))
        for p in parts
        for o in p.outputs
    )
    tolerance = (
        f" Floating-point values pass when `{judging.TOLERANCE_TEXT}`; float64 meets this "
        "easily and float32 arithmetic does not, so compute in float64 throughout (a float32 "
        "array is refused for its dtype even where its values happen to be exact)."
        if floats
        else ""
    )
    return f"""
**How this notebook is graded.** Write your code where it says `YOUR CODE HERE`
(delete the `raise NotImplementedError()` line). Each test cell calls a check
from the course's `autograder` package with your function: it builds inputs
from a seed, calls your function with them (in the order of the stub's
parameters, which you may rename) and compares the result with PyTorch's own
modules.{design} Return {"; ".join(returns)} (where a number is asked, a NumPy
scalar of the right kind counts as one; where an array is asked, return an array).{tolerance}
When a check fails, read its message: it says which output is wrong, where,
expected against got, and often which mistake produces exactly your answer.

Each graded function may use {libraries[0]} ({rule}), plus Python's
standard library; a graded function that calls anything else
({" or ".join(examples) or "another numerical library"}) scores 0 for that
part, and its check tells you so at once. Outside your graded functions, use
whatever you like to explore.

Grading runs your whole notebook again, from the top, in a fresh process with
no network: helper functions and imports in extra cells work, printing is
fine, and a cell that fails does not stop the others. Then it calls your
functions on the visible cases and on hidden cases like them (other seeds,
sizes and edge cases). A solution that passes the
visible test loses points only when a hidden case finds a real bug in it.
Restart the kernel and run all cells before you submit.
"""


def write(path: Path, cells) -> str:
    """Write the notebook with ids derived from grade ids; returns the JSON text."""
    text = render(cells)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text)
    return text


def render(cells) -> str:
    """The notebook's JSON text (deterministic: same cells, same bytes)."""
    last, count, seen = "top", 0, set()
    for cell in cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid:
            last, count = gid, 0
            cell_id = gid
        else:
            count += 1
            cell_id = f"{last}-free-{count}"
        cell_id = re.sub(r"[^A-Za-z0-9_-]", "-", cell_id)[:64]
        if cell_id in seen:
            raise ValueError(f"two cells would get the id {cell_id!r}")
        seen.add(cell_id)
        cell["id"] = cell_id
    nb = new_notebook(
        cells=cells, metadata={"kernelspec": KERNEL, "language_info": {"name": "python"}}
    )
    nb["nbformat_minor"] = 5
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def load_source(chapter):
    """The notebook source module of ``chapter`` (``tools/assignments/<module>.py``)."""
    path = ROOT / "tools" / "assignments" / f"{chapter.module}.py"
    spec = importlib.util.spec_from_file_location(f"assignment_{chapter.module}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def solution_path(chapter) -> Path:
    return ROOT / "solutions" / chapter.name / chapter.notebook_file


def build(chapter) -> str:
    """The solutions notebook of ``chapter`` as JSON text, from its source."""
    return render(load_source(chapter).cells())
