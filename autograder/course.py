"""The nbgrader course: where things live, and the instructors' commands.

Layout (relative to the course root, the repository's top folder):

* ``solutions/<assignment>/``  nbgrader's *source* folder (solutions, hidden tests);
* ``exercises/<assignment>/``  nbgrader's *release* folder (student notebooks);
* ``instructor/``              every piece of instructor state, git-ignored:
  ``submitted/``, ``autograded/``, ``feedback/``, ``gradebook.db``, ``grades.csv``.

Assignments are named so that they sort in chapter order: ``01-fnn-amnesia``,
``02-elman``, ...
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = "solutions"
RELEASE = "exercises"
STATE = "instructor"

#: Per-cell execution timeout (seconds) when nbgrader runs a notebook.
CELL_TIMEOUT = 120


def assignments(root: Path = ROOT) -> list[str]:
    """Assignment names in chapter order (folders of ``solutions/``)."""
    return sorted(
        p.name for p in (Path(root) / SOURCE).iterdir() if p.is_dir() and p.name[:2].isdigit()
    )


def configure_nbgrader(c, root: Path | str = ROOT) -> None:
    """Fill an nbgrader config object ``c`` with this course's settings."""
    root = Path(root).resolve()
    (root / STATE).mkdir(exist_ok=True)  # sqlite cannot create the folder itself
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = "rnn-course"
    c.CourseDirectory.source_directory = SOURCE
    c.CourseDirectory.release_directory = RELEASE
    c.CourseDirectory.submitted_directory = f"{STATE}/submitted"
    c.CourseDirectory.autograded_directory = f"{STATE}/autograded"
    c.CourseDirectory.feedback_directory = f"{STATE}/feedback"
    c.CourseDirectory.db_url = f"sqlite:///{root / STATE / 'gradebook.db'}"
    c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]
    # The student's stub: a clear message instead of a bare NotImplementedError.
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
    c.Execute.timeout = CELL_TIMEOUT
    c.Execute.interrupt_on_timeout = True
    # A student who deletes a graded cell gets it back, so the part is still graded.
    c.OverwriteCells.add_missing_cells = True
    c.OverwriteCells.missing_cell_notification = (
        "This cell (graded cell) was missing from the submission and was restored."
    )
    c.ExportApp.plugin_class = "nbgrader.plugins.export.CsvExportPlugin"


def nbgrader_env() -> dict[str, str]:
    """Environment for nbgrader subprocesses: the venv's bin first on PATH."""
    import sys

    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env.setdefault("MPLBACKEND", "Agg")
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    return env
