"""Submissions for the grader's tests: hostile ones that try to beat it (:mod:`.hostile`,
chapter 2) and honest ones written unlike the solutions (:mod:`.honest`, every chapter).

Expectations (which parts a submission earns, its points) are derived from the chapter
registry, the part declarations and the solutions' call graph (:func:`earned_parts`), never
written out, so a new graded part changes no test file.
"""

from __future__ import annotations

import copy

import nbformat

from autograder.calling import referenced_functions
from autograder.chapters import chapter
from autograder.parts import parts_for


def grade_ids(assignment: str) -> list[str]:
    return [p.grade_id for p in parts_for(assignment)]


def total_points(assignment: str) -> float:
    return float(sum(p.points for p in parts_for(assignment)))


def notebook_file(assignment: str) -> str:
    return chapter(assignment).notebook_file


def solution_calls(assignment: str) -> dict[str, set[str]]:
    """grade_id -> the grade ids of the other parts whose functions its solution calls."""
    from conftest import solution_namespace  # the solutions notebook, run as the grader runs it

    namespace = solution_namespace(assignment)
    parts = parts_for(assignment)
    names = {p.name: p.grade_id for p in parts}
    calls = {}
    for part in parts:
        used = referenced_functions(namespace[part.name])
        calls[part.grade_id] = {names[n] for n in used if n in names and n != part.name}
    return calls


def earned_parts(assignment: str, answered, broken=()) -> list[str]:
    """The parts that earn their points when the parts in ``answered`` hold the solution and
    those in ``broken`` do not work: a part earns when it is answered, not broken, and every
    part its solution calls earns too."""
    calls = solution_calls(assignment)
    answered, broken = set(answered), set(broken)
    earned: list[str] = []
    for gid in grade_ids(assignment):  # notebook order: callees come first
        if gid in answered and gid not in broken and calls[gid] <= set(earned):
            earned.append(gid)
    return earned


def points_of(assignment: str, parts) -> float:
    points = {p.grade_id: p.points for p in parts_for(assignment)}
    return float(sum(points[g] for g in parts))


# ------------------------------------------------------------------ editing notebooks


def set_cells(nb, answers=None, **cells):
    """A copy of ``nb`` with answer cells replaced (by grade_id); others from ``answers``."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in cells:
            cell.source = cells[gid]
        elif answers and gid in answers:
            cell.source = answers[gid]
    return nb


def edit_cell(nb, gid, source=None, delete=False, new_id=None):
    nb = copy.deepcopy(nb)
    for i, cell in enumerate(nb.cells):
        if cell.metadata.get("nbgrader", {}).get("grade_id") == gid:
            if delete:
                del nb.cells[i]
            else:
                if source is not None:
                    cell.source = source
                if new_id is not None:
                    cell.metadata["nbgrader"]["grade_id"] = new_id
            break
    return nb


def cell_index(nb, gid):
    return next(
        i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == gid
    )


def insert_before(nb, gid, cell):
    nb = copy.deepcopy(nb)
    nb.cells.insert(cell_index(nb, gid), cell)
    return nb


def code(source):
    return nbformat.v4.new_code_cell(source)
