"""Write nbgrader source notebooks from a compact Python description.

Authoring notebook JSON by hand invites broken nbgrader metadata, so
``tools/make_solution_notebooks.py`` describes each assignment with these
helpers and writes ``solutions/<assignment>/<name>.ipynb``. (The descriptions
cannot live in ``solutions/<assignment>/``: nbgrader copies every file there
into the students' release.) Run ``make release`` afterwards.
"""
from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

KERNEL = {"display_name": "Python 3 (rnn-course)", "language": "python", "name": "python3"}


def _meta(grade_id, *, grade=False, solution=False, locked=False, points=None):
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked,
            "schema_version": 3, "solution": solution, "task": False}
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


def test(grade_id, code, points):
    """A locked, graded test cell (hidden tests between BEGIN/END HIDDEN TESTS)."""
    return new_code_cell(code.strip("\n"),
                         metadata=_meta(grade_id, grade=True, locked=True, points=points))


def write(path, cells):
    nb = new_notebook(cells=cells, metadata={"kernelspec": KERNEL,
                                             "language_info": {"name": "python"}})
    nbformat.validate(nb)
    nbformat.write(nb, str(path))
