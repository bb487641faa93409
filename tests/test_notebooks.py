"""The assignment notebooks: solutions pass everything, released stubs fail every test,
and exercises/ is exactly what nbgrader makes from solutions/ (with nothing secret in it)."""

from __future__ import annotations

import json

import nbformat
import pytest
from classroom import make_course
from conftest import (
    ASSIGNMENTS,
    HIDDEN_BLOCK,
    ROOT,
    nbgrader_meta,
    notebook_path,
    read_notebook,
    secret_lines,
)
from nbclient import NotebookClient

pytestmark = pytest.mark.slow


def execute(path, allow_errors):
    nb = read_notebook(path)
    NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    return nb


def graded_cells(nb):
    return [c for c in nb.cells if nbgrader_meta(c).get("grade") and c.cell_type == "code"]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solutions_run_top_to_bottom_with_every_test_passing(assignment):
    nb = execute(notebook_path("solutions", assignment), allow_errors=False)
    cells = graded_cells(nb)
    assert len(cells) >= 4, "every chapter has at least four graded parts"
    for cell in cells:
        assert HIDDEN_BLOCK.search(cell.source), (
            f"{nbgrader_meta(cell)['grade_id']} has no hidden tests"
        )
        streams = [o for o in cell.outputs if o.output_type == "stream"]
        assert all(o.name == "stdout" for o in streams), "test cells must not write to stderr"
        # one line per check: the visible one plus every hidden one ran
        assert sum(o.text.count(": correct") for o in streams) >= 4


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_released_stubs_fail_every_graded_test(assignment):
    nb = execute(notebook_path("exercises", assignment), allow_errors=True)
    for cell in graded_cells(nb):
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert errors, f"{nbgrader_meta(cell)['grade_id']} passes on the unanswered notebook"
        assert "not implemented yet" in errors[0].evalue


def _comparable(nb):
    return [
        (c.cell_type, c.source, json.dumps(c.metadata.get("nbgrader", {}), sort_keys=True))
        for c in nb.cells
    ]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_exercises_are_what_nbgrader_generates(assignment, tmp_path):
    root = make_course(tmp_path, assignment)
    fresh = read_notebook(root / "exercises" / assignment / f"{ASSIGNMENTS[assignment]}.ipynb")
    committed = read_notebook(notebook_path("exercises", assignment))
    assert _comparable(committed) == _comparable(fresh), "exercises/ is stale: run `make release`"
    files = sorted(p.name for p in (ROOT / "exercises" / assignment).iterdir())
    assert files == [f"{ASSIGNMENTS[assignment]}.ipynb"]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_exercises_hold_no_solution_and_no_hidden_test(assignment):
    text = notebook_path("exercises", assignment).read_text()
    secrets = secret_lines(assignment)
    assert len(secrets) >= 4, "too few distinctive solution lines to test for leaks"
    leaked = [line for line in secrets if json.dumps(line)[1:-1] in text]
    assert not leaked, f"solution or hidden-test lines in exercises/: {leaked}"
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text
    nb = nbformat.reads(text, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
