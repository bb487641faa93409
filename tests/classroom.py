"""A throw-away nbgrader course with simulated student submissions.

Used by the class-simulation test and the benchmarks: it copies ``solutions/``
into a temporary course root, releases the assignment with real nbgrader and
fills ``instructor/submitted/<student>/<assignment>/`` with notebooks made
from the release the way students make them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from autograder.chapters import CHAPTERS
from autograder.course import STATE, nbgrader_env

ROOT = Path(__file__).resolve().parent.parent
#: assignment -> notebook name, from the chapter registry
NOTEBOOKS = {c.name: c.notebook for c in CHAPTERS}
MARKERS = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*\n", re.M)


def nbgrader(args, root: Path, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=root,
        env=nbgrader_env(),
        capture_output=True,
        text=True,
    )
    if check and proc.returncode:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def make_course(tmp: Path, assignment: str) -> Path:
    """A course root in ``tmp`` with ``assignment`` released (exercises/ made by nbgrader)."""
    root = tmp / "course"
    (root / "solutions").mkdir(parents=True)
    shutil.copytree(ROOT / "solutions" / assignment, root / "solutions" / assignment)
    (root / "nbgrader_config.py").write_text(
        "from autograder.course import configure_nbgrader\n"
        f"configure_nbgrader(get_config(), root={str(root)!r})\n"
    )
    nbgrader(["generate_assignment", assignment, "--force"], root)
    return root


def solved_sources(root: Path, assignment: str) -> dict[str, str]:
    """grade_id -> the instructor's answer, markers removed, for every answer cell."""
    nb = nbformat.read(str(root / "solutions" / assignment / f"{NOTEBOOKS[assignment]}.ipynb"), 4)
    return {
        c.metadata["nbgrader"]["grade_id"]: MARKERS.sub("", c.source)
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }


def student_notebook(root: Path, assignment: str, answered: set[str] | None):
    """The released notebook with the answer cells in ``answered`` filled in (None: all)."""
    nb = nbformat.read(str(root / "exercises" / assignment / f"{NOTEBOOKS[assignment]}.ipynb"), 4)
    answers = solved_sources(root, assignment)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers and (answered is None or gid in answered):
            cell.source = answers[gid]
    return nb


def submit(root: Path, assignment: str, student: str, nb=None, raw: str | None = None) -> Path:
    """Place a submission; ``raw`` writes text as is (for broken files)."""
    folder = root / STATE / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{NOTEBOOKS[assignment]}.ipynb"
    if raw is not None:
        path.write_text(raw)
    else:
        nbformat.write(nb, str(path))
    (folder / "timestamp.txt").write_text("2026-11-23 12:00:00.000000 UTC")
    return path


def answer_ids(root: Path, assignment: str) -> list[str]:
    return list(solved_sources(root, assignment))
