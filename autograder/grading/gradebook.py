"""The course side of grading: build the bundle for workers, merge their results.

Workers grade into private SQLite gradebooks (a copy of :func:`template_db`);
the parent is the only writer of the course's gradebook (``db_url``, SQLite by
default, PostgreSQL works the same through nbgrader's ``Gradebook``): it merges
each result as it arrives (:func:`merge_result`) and copies the autograded and
feedback files into ``instructor/autograded`` and ``instructor/feedback``, so
``nbgrader export`` and the formgrader see a normal nbgrader course.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from pathlib import Path

from ..course import RELEASE, SOURCE, STATE
from . import integrity
from .job import CourseBundle, Result, isoparse


def db_url(root: Path) -> str:
    from traitlets.config import Config

    from ..course import configure_nbgrader

    c = Config()
    configure_nbgrader(c, root)
    return c.CourseDirectory.db_url


def notebook_name(root: Path, assignment: str) -> str:
    names = sorted(p.name for p in (root / SOURCE / assignment).glob("*.ipynb"))
    if len(names) != 1:
        raise SystemExit(f"expected one notebook in {SOURCE}/{assignment}/, found {names}")
    return names[0]


def ensure_registered(root: Path, assignment: str, url: str) -> None:
    """Make sure the gradebook knows ``assignment`` (on a fresh clone it does not).

    nbgrader learns an assignment's notebooks and graded cells when it generates
    the release; here it generates into a throw-away folder, so ``exercises/`` is
    left as committed.
    """
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(url) as gb:
        try:
            gb.find_assignment(assignment)
            return
        except MissingEntry:
            pass
    import subprocess
    import sys

    from ..course import nbgrader_env

    with tempfile.TemporaryDirectory(prefix="rnn-grade-release-") as tmp:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "nbgrader",
                "generate_assignment",
                assignment,
                "--force",
                f"--CourseDirectory.release_directory={tmp}",
                f"--CourseDirectory.db_url={url}",
                f"--CourseDirectory.root={root}",
            ],
            cwd=root,
            env=nbgrader_env(),
            capture_output=True,
            text=True,
        )
    if proc.returncode:
        raise SystemExit(
            f"grade: could not register {assignment} in the gradebook:\n"
            f"{(proc.stdout + proc.stderr)[-3000:]}"
        )


def template_db(url: str, assignment: str) -> bytes:
    """The course's gradebook reduced to the assignment's definition (no submissions)."""
    from nbgrader.api import Gradebook

    if not url.startswith("sqlite:///"):
        # A server database: build a fresh SQLite copy of the assignment's definition.
        raise NotImplementedError(
            "template from a non-SQLite gradebook: run `python -m "
            "autograder release` against a local SQLite copy first"
        )
    src = Path(url[len("sqlite:///") :])
    with tempfile.TemporaryDirectory() as tmp:
        dst = Path(tmp) / "template.db"
        with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
            a.backup(b)
        with Gradebook(f"sqlite:///{dst}") as gb:
            gb.find_assignment(assignment)
            for sub in list(gb.assignment_submissions(assignment)):
                gb.remove_submission(assignment, sub.student.id)
        return dst.read_bytes()


def make_bundle(
    root: Path, assignment: str, url: str | None = None, references: bool = True
) -> CourseBundle:
    """What every job of ``assignment`` needs; with ``references``, the references of record
    for every declared case are computed here, once (on the reference device)."""
    root = Path(root)
    url = url or db_url(root)
    name = notebook_name(root, assignment)
    source_dir = root / SOURCE / assignment
    source_files = {
        str(p.relative_to(source_dir)): p.read_bytes()
        for p in sorted(source_dir.rglob("*"))
        if p.is_file() and ".ipynb_checkpoints" not in p.parts and "__pycache__" not in p.parts
    }
    source_nb = json.loads(source_files[name])
    release_path = root / RELEASE / assignment / name
    if not release_path.exists():
        raise SystemExit(
            f"{release_path} is missing: run `make notebooks` (or "
            f"`python -m autograder release {assignment}`)"
        )
    ensure_registered(root, assignment, url)
    answer_ids, test_to_part, points = [], {}, {}
    current = None
    for cell in source_nb["cells"]:
        meta = integrity.nbgrader_meta(cell)
        gid = meta.get("grade_id")
        if meta.get("solution") and cell.get("cell_type") == "code":
            answer_ids.append(gid)
            current = gid
        elif meta.get("grade") and cell.get("cell_type") == "code" and current:
            test_to_part[gid] = current
            points[current] = points.get(current, 0.0) + float(meta.get("points", 0))
    cases, where = None, ""
    if references:
        from ..device import describe_device
        from ..parts import parts_for
        from .sandbox import build_cases

        cases, where = build_cases(list(parts_for(assignment))), describe_device()
    return CourseBundle(
        cases=cases,
        references=where,
        assignment=assignment,
        notebook=name,
        source_files=source_files,
        release_notebook=release_path.read_bytes(),
        template_db=template_db(url, assignment),
        answer_ids=answer_ids,
        test_to_part=test_to_part,
        points=points,
    )


def read_submissions(folder: Path, assignment: str) -> dict[str, dict[str, bytes]]:
    """student -> {relative path: bytes} of ``folder/<student>/<assignment>/`` (read only)."""
    out = {}
    for student_dir in sorted(p for p in Path(folder).iterdir() if p.is_dir()):
        sub = student_dir / assignment
        files = {}
        if sub.is_dir():
            for path in sorted(sub.rglob("*")):
                if (
                    path.is_file()
                    and not path.is_symlink()
                    and ".ipynb_checkpoints" not in path.parts
                ):
                    files[str(path.relative_to(sub))] = path.read_bytes()
        out[student_dir.name] = files
    return out


def merge_result(gb, root: Path, assignment: str, result: Result) -> None:
    """Write one worker's result into the course gradebook and instructor folders."""
    from nbgrader.api import MissingEntry

    gb.update_or_create_student(result.student)
    try:
        gb.remove_submission(assignment, result.student)
    except MissingEntry:
        pass
    for kind in ("autograded", "feedback"):
        folder = root / STATE / kind / result.student / assignment
        shutil.rmtree(folder, ignore_errors=True)
    if result.status != "graded" or not result.grades:
        return
    kwargs = {}
    if result.timestamp:
        kwargs["timestamp"] = isoparse(result.timestamp)
    gb.add_submission(assignment, result.student, **kwargs)
    for g in result.grades:
        grade = gb.find_grade(g["cell"], g["notebook"], assignment, result.student)
        grade.auto_score = g["auto_score"]
        grade.needs_manual_grade = False
    for c in result.comments:
        try:
            comment = gb.find_comment(c["cell"], c["notebook"], assignment, result.student)
        except MissingEntry:
            continue
        comment.auto_comment = c["auto_comment"]
    if result.flags:
        for nb in gb.find_submission(assignment, result.student).notebooks:
            nb.flagged = True
    gb.db.commit()
    for rel, data in result.files.items():
        kind, _, name = rel.partition("/")
        path = root / STATE / kind / result.student / assignment / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
