"""Grading one submission: what a worker (local pool or Dask) runs per student.

:func:`grade_submission` takes plain data (the submission's files as bytes and
a :class:`CourseBundle`), so it runs the same on this machine or on a Dask
worker without a shared filesystem, and returns plain data: the CSV row, the
per-part details, the grades to merge into the gradebook and the autograded /
feedback files as bytes.

Per submission:

1. parse the notebook (broken JSON, missing notebook -> ``status=error``);
2. static integrity checks against the released notebook (flags);
3. the score that counts: the answer cells run in the sandbox
   (:mod:`autograder.grading.sandbox`), the results compared here with the
   references on inputs seeded by the student's id;
4. nbgrader's own autograde in a private throw-away course (its own SQLite
   gradebook, a kernel with a memory limit and a wall-clock watchdog), giving
   the in-kernel score, the autograded notebook and, after the isolated scores
   are written into that gradebook, the feedback (hidden tests stripped);
5. rows where the two scores disagree are flagged.

This process never runs student code: the kernel and the sandbox are children.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..parts import parts_for
from . import integrity, zygote
from .isolation import detect as detect_isolation
from .sandbox import Limits, build_cases, notebook_cells, run_isolated, score_parts

HIDDEN = "### BEGIN HIDDEN TESTS"


@dataclass
class CourseBundle:
    """Everything a worker needs about the assignment, as plain data."""

    assignment: str
    notebook: str  # file name, e.g. "elman.ipynb"
    source_files: dict[str, bytes]  # relative path -> bytes (solutions/<assignment>/)
    release_notebook: bytes
    template_db: bytes  # gradebook with the assignment and no submissions
    answer_ids: list[str]
    test_to_part: dict[str, str]  # graded cell id -> answer cell id
    points: dict[str, float]  # answer cell id -> points of its graded cell
    # The references of record: grade_id -> [(args, expected)] for exactly the cases the
    # notebook's checks run, computed once per class in the grader's own process (on its GPU
    # where there is one, before any worker exists), and where they were computed. None:
    # each job computes them itself (live references, for comparison).
    cases: dict[str, list] | None = None
    references: str = ""


@dataclass
class Options:
    timeout: float = 300.0  # per submission (sandbox + nbgrader together)
    cell_timeout: float = 60.0  # nbgrader's per-cell timeout
    sandbox_seconds: float = 60.0
    sandbox_mem: int = 4 * 2**30
    kernel_mem: int = 6 * 2**30
    isolation: str | None = None  # "auto" | "bubblewrap" | "none" (RNN_GRADE_ISOLATION)
    hide: tuple = ()  # more folders the student's code must not see
    run_nbgrader: bool = True
    feedback: bool = True


@dataclass
class Result:
    student: str
    status: str = "graded"
    score: float = 0.0
    max_score: float = 0.0
    flags: list[str] = field(default_factory=list)
    parts: dict[str, dict] = field(default_factory=dict)
    kernel_score: float | None = None
    grades: list[dict] = field(default_factory=list)  # for the gradebook merge
    comments: list[dict] = field(default_factory=list)
    timestamp: str | None = None
    files: dict[str, bytes] = field(default_factory=dict)  # "autograded/..." / "feedback/..."
    timings: dict[str, float] = field(default_factory=dict)
    log: str = ""
    isolation: str = ""
    references: str = ""  # the device that computed the references of record


_KERNEL_DIR: str | None = None
KERNEL_ENV = {
    # The in-kernel check is a cross-check, not the score of record: its references run on the
    # CPU (a kernel forked from a zygote cannot start CUDA, nor can a process under RLIMIT_AS).
    "RNN_COURSE_DEVICE": "cpu",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MPLBACKEND": "Agg",
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
}


def _kernel_spec_dir(kernel_mem: int) -> str:
    """A JUPYTER_PATH folder whose python3 kernel runs under a memory limit."""
    global _KERNEL_DIR
    if _KERNEL_DIR is None or not os.path.isdir(_KERNEL_DIR):
        import sys

        folder = Path(tempfile.mkdtemp(prefix="rnn-grade-kernels-"))
        spec = folder / "kernels" / "python3"
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(
            json.dumps(
                {
                    "argv": [
                        sys.executable,
                        "-m",
                        "autograder.grading.kernel_launcher",
                        "-f",
                        "{connection_file}",
                        "--IPKernelApp.log_level=ERROR",
                    ],
                    "display_name": "Python 3 (graded, limited)",
                    "language": "python",
                    "env": dict(KERNEL_ENV),
                }
            )
        )
        _KERNEL_DIR = str(folder)
    os.environ["JUPYTER_PATH"] = _KERNEL_DIR
    os.environ["RNN_GRADE_KERNEL_MEM"] = str(int(kernel_mem))
    # Kernels are forked from this worker's zygote (torch etc. already imported) when it runs.
    zygote.configure(KERNEL_ENV)
    return _KERNEL_DIR


def quiet() -> None:
    """Keep nbgrader's and SQLAlchemy's warnings out of the grader's output."""
    import logging
    import warnings

    warnings.filterwarnings("ignore", module="nbgrader")
    warnings.filterwarnings("ignore", message=".*not in session.*")
    logging.getLogger("traitlets").setLevel(logging.ERROR)


def warm_up() -> None:
    """Import what every job needs once per worker (every chapter's parts and references)."""
    quiet()
    import nbgrader.apps.api  # noqa: F401
    import torch

    from ..chapters import CHAPTERS
    from ..parts import parts_for

    for chapter in CHAPTERS:
        parts_for(chapter.name)
    torch.set_num_threads(1)


def _isolated(result: Result, bundle: CourseBundle, nb: dict, options: Options) -> None:
    parts = list(parts_for(bundle.assignment))
    if bundle.cases is not None:
        cases, result.references = bundle.cases, bundle.references
    else:
        from ..device import describe_device

        cases, result.references = build_cases(parts), describe_device() + " (live, per job)"
    cells = notebook_cells(nb, parts)
    # One start of the sandbox may be stopped (a hang); more starts finish the other parts.
    per_run = min(options.sandbox_seconds, options.timeout / 4)
    limits = Limits(
        wall_seconds=per_run,
        total_seconds=min(options.timeout / 2, 3 * per_run),
        cell_seconds=min(20.0, per_run / 2),
        mem_bytes=options.sandbox_mem,
    )
    isolation = detect_isolation(options.isolation)
    run = run_isolated(cells, parts, cases, limits, isolation, hide=options.hide)
    result.isolation = isolation.kind
    verdict = score_parts(parts, cases, run)
    for part in parts:
        ok, message, broke = verdict[part.grade_id]
        points = bundle.points.get(part.grade_id, 0.0)
        result.parts[part.grade_id] = {
            "points": points,
            "isolated": points if ok else 0.0,
            "message": message,
        }
        if broke:
            result.flags.append(f"rule_broken:{part.grade_id}")
    result.score = sum(p["isolated"] for p in result.parts.values())
    if run.timed_out:
        result.flags.append("timeout:isolated")
    if run.violations:
        result.flags.append("sandbox_violation")
    if not run.finished and not run.timed_out:
        result.flags.append("isolated_run_ended_early")
    part_of = {c["label"]: c["calls"] for c in cells if c.get("calls")}
    for label in run.skipped:
        result.flags.append(f"stopped:{part_of.get(label, label)}")
    messages = list(run.cell_errors.items())
    messages += [
        (g, o.stopped or o.error)
        for g, outs in run.outcomes.items()
        for o in outs
        if o.stopped or o.error
    ]
    for gid, err in messages:
        if "out of memory" in err or "MemoryError" in err:
            result.flags.append(f"out_of_memory:{gid}")
        elif "longer than" in err or "took too long" in err:
            result.flags.append(f"timeout:{gid}")
    result.timings["isolated"] = run.seconds


def _write_course(root: Path, bundle: CourseBundle, student: str, files: dict[str, bytes]) -> None:
    for rel, data in bundle.source_files.items():
        path = root / "solutions" / bundle.assignment / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "instructor").mkdir(parents=True, exist_ok=True)
    (root / "instructor" / "gradebook.db").write_bytes(bundle.template_db)
    folder = root / "instructor" / "submitted" / student / bundle.assignment
    folder.mkdir(parents=True)
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _config(root: Path, options: Options, notes: dict[str, str]):
    from traitlets.config import Config

    from ..course import configure_nbgrader
    from .feedback import IsolatedFeedback

    c = Config()
    configure_nbgrader(c, root)
    c.Execute.timeout = int(max(1, min(options.cell_timeout, options.timeout)))
    c.Execute.kernel_name = "python3"
    c.Execute.startup_timeout = 120
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import GetGrades

    c.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor, IsolatedFeedback]
    c.IsolatedFeedback.notes = notes
    return c


def _kill_children(exclude: set[int]) -> None:
    import psutil

    for child in psutil.Process().children(recursive=True):
        if child.pid in exclude:
            continue
        try:
            child.kill()
        except psutil.Error:
            pass


def _nbgrader(
    result: Result,
    bundle: CourseBundle,
    files: dict[str, bytes],
    options: Options,
    remaining: float,
) -> None:
    import psutil
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    _kernel_spec_dir(options.kernel_mem)
    tmp = Path(tempfile.mkdtemp(prefix="rnn-grade-course-"))
    root = tmp / "course"
    try:
        _write_course(root, bundle, result.student, files)
        notes = {}
        config = _config(root, options, notes)
        api = NbGraderAPI(CourseDirectory(config=config), config=config)
        before = {p.pid for p in psutil.Process().children(recursive=True)}
        fired = threading.Event()

        def watchdog():
            fired.set()
            _kill_children(before)

        timer = threading.Timer(max(1.0, remaining), watchdog)
        timer.daemon = True
        start = time.perf_counter()
        timer.start()
        try:
            out = api.autograde(bundle.assignment, result.student, force=True, create=True)
        finally:
            timer.cancel()
        result.timings["nbgrader"] = time.perf_counter() - start
        if fired.is_set():
            result.flags.append("timeout:nbgrader")
        if not out.get("success"):
            log = (out.get("log") or "") + (out.get("error") or "")
            result.log = log[-4000:]
            if "DeadKernel" in log or "Kernel died" in log or "kernel died" in log.lower():
                result.flags.append("kernel_died")
            elif not fired.is_set():
                result.flags.append("nbgrader_error")
        db_url = config.CourseDirectory.db_url
        with Gradebook(db_url) as gb:
            try:
                sub = gb.find_submission(bundle.assignment, result.student)
            except MissingEntry:
                sub = gb.add_submission(bundle.assignment, result.student)
            kernel = 0.0
            nb_id = Path(bundle.notebook).stem
            for nbk in sub.notebooks:
                for grade in nbk.grades:
                    if grade.name in bundle.test_to_part:
                        kernel += float(grade.auto_score or 0.0) if out.get("success") else 0.0
            result.kernel_score = kernel if out.get("success") else None
            for part_id, info in result.parts.items():
                if out.get("success"):
                    for nbk in sub.notebooks:
                        for grade in nbk.grades:
                            if bundle.test_to_part.get(grade.name) == part_id:
                                info["kernel"] = float(grade.auto_score or 0.0)
            # The isolated scores are the ones that count: write them into the gradebook.
            for test_id, part_id in bundle.test_to_part.items():
                info = result.parts.get(part_id, {"isolated": 0.0, "message": ""})
                grade = gb.find_grade(test_id, nb_id, bundle.assignment, result.student)
                grade.auto_score = float(info["isolated"])
                grade.needs_manual_grade = False
                note = f"Isolated grading: {info['isolated']:g}/{info.get('points', 0):g}." + (
                    f"\n{info['message']}" if info.get("message") else ""
                )
                notes[test_id] = note
                result.grades.append(
                    {"notebook": nb_id, "cell": test_id, "auto_score": float(info["isolated"])}
                )
            for part_id in bundle.answer_ids:
                info = result.parts.get(part_id, {})
                comment_text = info.get("message") or None
                try:
                    comment = gb.find_comment(part_id, nb_id, bundle.assignment, result.student)
                    comment.auto_comment = comment_text
                except MissingEntry:
                    pass
                result.comments.append(
                    {"notebook": nb_id, "cell": part_id, "auto_comment": comment_text}
                )
            if sub.timestamp:
                result.timestamp = sub.timestamp.isoformat()
            gb.db.commit()
        autograded = root / "instructor" / "autograded" / result.student / bundle.assignment
        if options.feedback and (autograded / bundle.notebook).exists():
            config.IsolatedFeedback.notes = notes
            api = NbGraderAPI(CourseDirectory(config=config), config=config)
            fb = api.generate_feedback(bundle.assignment, result.student, force=True)
            if not fb.get("success"):
                result.flags.append("feedback_error")
        for kind in ("autograded", "feedback"):
            folder = root / "instructor" / kind / result.student / bundle.assignment
            if folder.is_dir():
                for path in sorted(folder.rglob("*")):
                    if path.is_file() and not path.is_symlink():
                        result.files[f"{kind}/{path.relative_to(folder)}"] = path.read_bytes()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def grade_submission(
    student: str, files: dict[str, bytes], bundle: CourseBundle, options: Options | None = None
) -> Result:
    """Grade one student's submission folder (``files``: relative path -> bytes)."""
    options = options or Options()
    quiet()
    start = time.perf_counter()
    result = Result(student=student, max_score=float(sum(bundle.points.values())))
    try:
        data = files.get(bundle.notebook)
        if data is None:
            result.status = "error"
            result.flags.append("missing_notebook")
            return result
        try:
            nb = integrity.load_submission(data)
        except integrity.BadSubmission as bad:
            result.status = "error"
            result.flags.append(bad.flag)
            return result
        release = json.loads(bundle.release_notebook)
        result.flags += integrity.notebook_flags(nb, release)
        result.flags += integrity.suspicious_flags(integrity.student_code(nb, release))
        if options.run_nbgrader:
            zygote.start(KERNEL_ENV)  # its imports overlap with the isolated run
        _isolated(result, bundle, nb, options)
        if options.run_nbgrader:
            remaining = options.timeout - (time.perf_counter() - start)
            _nbgrader(result, bundle, files, options, remaining)
            if result.kernel_score is not None and abs(result.kernel_score - result.score) > 1e-9:
                result.flags.append("score_mismatch")
                for part_id, info in result.parts.items():
                    if "kernel" in info and abs(info["kernel"] - info["isolated"]) > 1e-9:
                        result.flags.append(f"mismatch:{part_id}")
    except Exception as err:  # a grader bug must still leave a row
        result.status = "error"
        result.flags.append(f"grader_error:{type(err).__name__}")
        result.log = f"{type(err).__name__}: {err}"
    finally:
        result.flags = sorted(set(result.flags))
        result.timings["total"] = time.perf_counter() - start
    return result


def isoparse(text: str | None):
    return _dt.datetime.fromisoformat(text) if text else None
