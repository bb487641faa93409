"""``python -m autograder grade ASSIGNMENT``: grade a class in parallel, safely.

Every submission gets a CSV row (``student_id,score,max_score,status,flags``).
The score that counts comes from the isolated grader (the student's notebook
run again as written in an OS-sandboxed child, each part called on exactly the
cases of the notebook's checks, the results judged with the checks' own code in
a process that never ran student code); nbgrader's in-kernel autograde still runs
for the gradebook, autograded notebooks and feedback, and rows where the two
disagree are flagged ``score_mismatch``. Submissions are never modified: they
are read as bytes and graded in throw-away course folders.

Local: ``--workers N`` processes (default: one more than the number of cores: a
worker waits while its kernel runs, and on 2 cores 3 workers graded a class 9%
faster than 2, 4 no faster than 3; ``benchmarks/bench_grading.py --workers 2 3 4``),
each importing torch and nbgrader once and grading one submission at a time.

Many machines (Dask distributed)
--------------------------------
Start a scheduler and workers from the same environment as the course (same
venv, ``pip install -e .`` of this repository)::

    dask scheduler                                   # on the head node, port 8786
    dask worker tcp://HEAD:8786 --nworkers 8 --nthreads 1            # any machines
    python -m autograder grade 02-elman --scheduler tcp://HEAD:8786

``--nthreads 1`` matters: a job's timeout watchdog kills the kernels its worker
process started. No shared filesystem is needed: the submission's bytes and the
assignment bundle (source notebook, released notebook, an empty gradebook, the
references of record) are shipped to the workers, and results (grades, autograded
notebook, feedback) come back as bytes; the client is the only writer of the
gradebook. The course gradebook can be PostgreSQL: set ``CourseDirectory.db_url``
(``--db-url postgresql://user@host/db``) and nbgrader's export and formgrader read
it as usual.

Where the references run
------------------------
Every student gets the same declared cases, so the references of record (the
expected outputs) are computed once per class, in this process, before any worker
starts: on its GPU where there is one (``RNN_COURSE_DEVICE=cpu`` forces the CPU),
where no student code can read them. Workers and the kernels they start never use
the GPU (``RNN_COURSE_DEVICE=cpu`` is set for them: a process forked after CUDA
started cannot use it, and CUDA does not start under the kernels' address-space
limit), so grading jobs are CPU work on any machine. The CSV's ``references``
column, the report and the summary line name the device. ``--live-references``
makes every job compute its own (on the CPU), to compare.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from ..course import ROOT, STATE, nbgrader_env
from . import gradebook as course_gradebook
from .isolation import detect as detect_isolation
from .job import Options, Result, grade_submission, warm_up
from .report import summary, write_csv, write_report


class Progress:
    """``graded/total``, rate and ETA on one stderr line."""

    def __init__(self, total: int, stream=None, enabled: bool = True):
        self.total, self.done, self.start = total, 0, time.perf_counter()
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.draw()

    def step(self, label: str = "") -> None:
        self.done += 1
        self.draw(label)

    def draw(self, label: str = "") -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        rate = self.done / elapsed * 60 if elapsed > 0 and self.done else 0.0
        eta = (self.total - self.done) / (rate / 60) if rate else float("nan")
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        eta_text = f"{eta:5.0f}s" if eta == eta else "    ?"
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} "
            f"{rate:6.1f}/min ETA {eta_text} {label[:20]:20s}"
        )
        if self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()


def default_workers() -> int:
    """One worker more than cores: each spends part of a job waiting for its kernel."""
    return (os.cpu_count() or 1) + 1


def _error_result(student: str, max_score: float, flag: str) -> Result:
    return Result(student=student, status="error", max_score=max_score, flags=[flag])


def _worker_init() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ["RNN_COURSE_DEVICE"] = "cpu"  # workers never touch CUDA (see the module doc)
    warm_up()


def run_local(jobs, bundle, options, workers: int, on_result) -> None:
    """Grade with a local process pool; a crashed worker costs only its submissions."""
    import multiprocessing
    from concurrent.futures.process import BrokenProcessPool

    pending = dict(jobs)
    attempts: dict[str, int] = {}
    while pending:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=_worker_init
        ) as pool:
            futures = {
                pool.submit(grade_submission, s, files, bundle, options): s
                for s, files in pending.items()
            }
            for fut in as_completed(futures):
                student = futures[fut]
                try:
                    result = fut.result()
                except BrokenProcessPool:
                    attempts[student] = attempts.get(student, 0) + 1
                    if attempts[student] >= 2:
                        pending.pop(student)
                        on_result(
                            _error_result(student, sum(bundle.points.values()), "grader_crashed")
                        )
                    continue
                except Exception as err:
                    pending.pop(student)
                    on_result(
                        _error_result(
                            student,
                            sum(bundle.points.values()),
                            f"grader_error:{type(err).__name__}",
                        )
                    )
                    continue
                pending.pop(student)
                on_result(result)


def _dask_job(student, files, bundle, options):
    os.environ["RNN_COURSE_DEVICE"] = "cpu"
    warm_up()
    return grade_submission(student, files, bundle, options)


def run_dask(jobs, bundle, options, address, on_result) -> None:
    """Grade on an existing Dask distributed cluster (one job per submission)."""
    from distributed import Client
    from distributed import as_completed as dask_completed

    with Client(address) as client:
        bundle_future = client.scatter(bundle, broadcast=True, hash=False)
        futures = {}
        for student, files in jobs.items():
            fut = client.submit(
                _dask_job,
                student,
                files,
                bundle_future,
                options,
                key=f"grade-{bundle.assignment}-{student}-{time.time_ns()}",
                pure=False,
                retries=1,
            )
            futures[fut] = student
        for fut in dask_completed(list(futures)):
            student = futures[fut]
            try:
                on_result(fut.result())
            except Exception as err:
                on_result(
                    _error_result(
                        student, sum(bundle.points.values()), f"grader_error:{type(err).__name__}"
                    )
                )


def grade(
    root: Path,
    assignment: str,
    *,
    submitted: Path | None = None,
    out: Path | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    options: Options | None = None,
    live_references: bool = False,
    db_url: str | None = None,
    progress: bool = False,
    report: bool = True,
    log=None,
) -> list[Result]:
    """Grade every submission of ``assignment``; returns the results sorted by student."""
    from nbgrader.api import Gradebook

    from .job import quiet

    quiet()
    log = log or (lambda msg: print(msg, file=sys.stderr))
    # nbgrader runs alembic (from the venv's bin) to create a gradebook: not only under make.
    os.environ["PATH"] = nbgrader_env()["PATH"]
    root = Path(root).resolve()
    known = (
        [p.name for p in sorted((root / "solutions").iterdir()) if p.is_dir()]
        if (root / "solutions").is_dir()
        else []
    )
    if assignment not in known:
        raise SystemExit(
            f"grade: unknown assignment {assignment!r}; the known ones are: "
            f"{', '.join(known) or '(none)'}"
        )
    submitted = Path(submitted) if submitted else root / STATE / "submitted"
    out = Path(out) if out else root / STATE / f"grades-{assignment}.csv"
    options = options or Options()
    url = db_url or course_gradebook.db_url(root)
    # Other students' submissions, the grades and the gradebook stay out of the sandbox's sight.
    hidden = [submitted, out.parent, root / STATE]
    if url.startswith("sqlite:///"):
        hidden.append(Path(url[len("sqlite:///") :]).parent)
    options = dataclasses.replace(options, hide=tuple(str(p) for p in hidden) + tuple(options.hide))
    isolation = detect_isolation(options.isolation)
    log(f"grade: isolation of student code: {isolation.detail}")
    bundle = course_gradebook.make_bundle(root, assignment, url, references=not live_references)
    if bundle.cases is not None:
        log(f"grade: references of record computed on {bundle.references}")
    if not submitted.is_dir():
        raise SystemExit(
            f"grade: the submissions folder {submitted} does not exist "
            f"(expected {submitted}/<student_id>/{assignment}/<notebook>.ipynb)"
        )
    jobs = course_gradebook.read_submissions(submitted, assignment)
    if not jobs:
        log(
            f"grade: no student folders in {submitted} "
            f"(expected {submitted}/<student_id>/{assignment}/<notebook>.ipynb)"
        )
    bar = Progress(len(jobs), enabled=progress)
    results: list[Result] = []
    start = time.perf_counter()
    with Gradebook(url) as gb:

        def on_result(result: Result) -> None:
            course_gradebook.merge_result(gb, root, assignment, result)
            result.files = {}
            results.append(result)
            bar.step(result.student)

        if scheduler:
            run_dask(jobs, bundle, options, scheduler, on_result)
        else:
            run_local(jobs, bundle, options, workers or default_workers(), on_result)
    seconds = time.perf_counter() - start
    for result in results:  # error rows too: one device computed the whole class's references
        result.references = result.references or bundle.references
    results.sort(key=lambda r: r.student)
    write_csv(results, out)
    if report:
        write_report(
            results,
            out.with_name(out.stem + "-report.png"),
            out.with_name(out.stem + "-report.html"),
            assignment,
            isolation=isolation.detail,
        )
    log(summary(results, seconds))
    log(f"isolation: {isolation.detail}")
    log(f"grades: {out}")
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``grade`` subcommand's arguments (``python -m autograder grade --help``)."""
    parser.add_argument("assignment", help="assignment name, e.g. 02-elman")
    parser.add_argument("--root", type=Path, default=ROOT, help="course root")
    parser.add_argument(
        "--submitted",
        type=Path,
        help="DIR/<student_id>/<assignment>/<notebook>.ipynb "
        "(default: the course's instructor/submitted)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="CSV to write (default instructor/grades-ASSIGNMENT.csv);"
        " the report goes next to it as <stem>-report.{png,html}",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help="local worker processes (default: number of cores + 1)",
    )
    parser.add_argument(
        "--scheduler",
        help="address of a Dask distributed scheduler, "
        "e.g. tcp://head:8786 (instead of the local pool)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds per submission, on top of nbgrader's per-cell timeout",
    )
    parser.add_argument(
        "--cell-timeout", type=float, default=60.0, help="nbgrader's per-cell timeout"
    )
    parser.add_argument(
        "--memory",
        type=float,
        default=4.0,
        help="GiB of address space for the sandbox and for each kernel",
    )
    parser.add_argument("--db-url", help="gradebook URL (default: the course's SQLite gradebook)")
    parser.add_argument(
        "--isolated-only",
        action="store_true",
        help="skip nbgrader's in-kernel run (no gradebook scores mismatch check, "
        "no autograded notebooks or feedback)",
    )
    parser.add_argument(
        "--isolation",
        choices=("auto", "bubblewrap", "none"),
        help="how student code is isolated (default: RNN_GRADE_ISOLATION or "
        "auto: bubblewrap where it works, else the in-process guard)",
    )
    parser.add_argument(
        "--live-references",
        action="store_true",
        help="every job computes the references itself, on the CPU (default: once per "
        "class, in this process, on its GPU where there is one)",
    )
    parser.add_argument("--no-feedback", action="store_true", help="do not write feedback")
    parser.add_argument("--no-report", action="store_true", help="do not write the PNG/HTML report")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Grade as the parsed ``grade`` arguments say; 0 when at least one row was written."""
    mem = int(args.memory * 2**30)
    options = Options(
        timeout=args.timeout,
        cell_timeout=args.cell_timeout,
        sandbox_seconds=min(60.0, args.timeout),
        sandbox_mem=mem,
        kernel_mem=mem,
        run_nbgrader=not args.isolated_only,
        feedback=not args.no_feedback,
        isolation=args.isolation,
    )
    results = grade(
        args.root,
        args.assignment,
        submitted=args.submitted,
        out=args.out,
        workers=args.workers,
        scheduler=args.scheduler,
        options=options,
        live_references=args.live_references,
        db_url=args.db_url,
        progress=not args.quiet,
        report=not args.no_report,
    )
    return 0 if results else 1


def main(argv: list[str] | None = None) -> int:
    """``python -m autograder grade ...`` (the course's one command line)."""
    from ..__main__ import main as course_main

    return course_main(["grade", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
