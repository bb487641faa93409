"""solutions/ is exactly what the notebook sources (tools/assignments/) produce, deterministically."""

from __future__ import annotations

import nbformat
import pytest
from conftest import ROOT

from autograder.chapters import CHAPTERS
from autograder.parts import parts_for
from tools.notebook_builder import build, solution_path


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


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.name)
def test_the_introduction_promises_what_the_parts_return(chapter):
    """Issue 8: chapter 1's notebook once promised arrays and time steps for parts returning ints."""
    nb = nbformat.reads(build(chapter), as_version=4)
    intro = nb.cells[0].source
    kinds = {o.kind for p in parts_for(chapter.name) for o in p.outputs}
    assert ("Python `int`" in intro) == ("int" in kinds)
    assert ("numpy.ndarray" in intro) == bool(kinds & {"array", "arrays"})
    has_time = any(o.time_axis is not None for p in parts_for(chapter.name) for o in p.outputs)
    assert has_time or "time step" not in intro


def test_chapter_1_uses_the_books_vocabulary():
    """Issue 8: the notebook numbered dog=0, bites=1, man=2; the book bites=0, dog=1, man=2."""
    import re

    book = (ROOT / "book" / "01-fnn-amnesia.md").read_text()
    words = re.search(r"vocab = \[([^\]]*)\]", book).group(1)
    vocab = [w.strip().strip("\"'") for w in words.split(",")]
    text = build(CHAPTERS[0])
    pairs = ", ".join(f'\\"{w}\\": {i}' for i, w in enumerate(vocab))
    assert pairs in text, (vocab, pairs)


def exercises_list(chapter) -> list[str]:
    """The graded functions a chapter's "Exercises" section names, in order: its numbered
    items that open with a bold function name (``1. **`rnn_step(...)`**: ...``)."""
    import re

    text = (ROOT / chapter.book).read_text()
    section = re.split(r"^## Exercises\s*$", text, flags=re.M)[1]
    section = re.split(r"^## ", section, maxsplit=1, flags=re.M)[0]
    return re.findall(r"^\d+\. \*\*`(\w+)", section, flags=re.M)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.name)
def test_the_books_exercises_name_exactly_the_graded_parts(chapter):
    """Issue 17: a new graded part must appear in its chapter's Exercises list, in order."""
    assert exercises_list(chapter) == [p.name for p in parts_for(chapter.name)]
