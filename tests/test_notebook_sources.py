"""solutions/ is exactly what the notebook sources (tools/assignments/) produce, deterministically."""

from __future__ import annotations

import sys

import nbformat
import pytest
from conftest import ROOT

from autograder.chapters import CHAPTERS
from autograder.parts import parts_for

sys.path.insert(0, str(ROOT / "tools"))
from notebook_builder import build, solution_path  # noqa: E402


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.name)
def test_solutions_are_what_the_sources_make(chapter):
    text = build(chapter)
    assert text == build(chapter), "building twice must give the same bytes"
    assert solution_path(chapter).read_text() == text, (
        f"{solution_path(chapter).relative_to(ROOT)} is stale: run `make notebooks`"
    )


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.name)
def test_cell_ids_come_from_grade_ids_and_test_cells_from_the_parts(chapter):
    nb = nbformat.reads(build(chapter), as_version=4)
    by_id = {c.id: c for c in nb.cells}
    for part in parts_for(chapter.name):
        assert part.grade_id in by_id and part.test_id in by_id
        test = by_id[part.test_id]
        assert test.metadata["nbgrader"]["points"] == part.points
        assert test.source.splitlines()[0] == f"{part.check_name}({part.name})"
        assert (
            f"Allowed in `{part.name}`: {part.rule_text()}" in by_id[f"{part.grade_id}_text"].source
        )
    imports = by_id["imports"].source
    assert all(p.check_name in imports for p in parts_for(chapter.name))
