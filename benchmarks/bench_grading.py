"""Grading throughput: plain `nbgrader autograde` vs `python -m autograder grade` (figures only).

    python benchmarks/bench_grading.py [--students 40] [--workers 2 3]

On one simulated class of chapter-2 submissions (a third complete, a third
half done, a third empty, as students hand them in) it prints, in one run:
submissions per minute of plain nbgrader and of this command with each worker
count, the ratio to plain nbgrader, and the per-submission overhead over the
bare execution time of the notebook (kernel start + run, measured with
nbclient on the solved notebook). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from classroom import answer_ids, make_course, nbgrader, student_notebook, submit  # noqa: E402

from autograder.course import nbgrader_env  # noqa: E402
from autograder.grading.cli import default_workers, grade  # noqa: E402
from autograder.grading.job import Options  # noqa: E402

ASSIGNMENT = "02-elman"


def bare_execution(root: Path, repeats: int = 3) -> float:
    """Seconds to start a kernel and run the solved student notebook, nothing else."""
    nb = student_notebook(root, ASSIGNMENT, None)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        NotebookClient(
            nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(root)}}
        ).execute()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--students", type=int, default=40)
    cores = os.cpu_count() or 1  # `make grade` uses default_workers(): cores + 1
    parser.add_argument("--workers", type=int, nargs="+", default=[cores, default_workers()])
    args = parser.parse_args()
    for key, value in nbgrader_env().items():
        os.environ[key] = value
    tmp = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    root = make_course(tmp, ASSIGNMENT)
    ids = answer_ids(root, ASSIGNMENT)
    for i in range(args.students):
        answered = [None, set(ids[:2]), set()][i % 3]
        submit(root, ASSIGNMENT, f"student{i:03d}", student_notebook(root, ASSIGNMENT, answered))
    n = args.students
    print(f"class: {n} chapter-2 submissions; {os.cpu_count()} cores", flush=True)

    bare = bare_execution(root)
    print(f"bare notebook execution (kernel start + run, best of 3): {bare:6.2f} s", flush=True)

    start = time.perf_counter()
    proc = nbgrader(["autograde", ASSIGNMENT, "--force"], root, check=False)
    plain = time.perf_counter() - start
    if proc.returncode:
        print("plain nbgrader reported errors:", proc.stderr[-500:])
    plain_rate = 60 * n / plain
    print(
        f"plain nbgrader autograde:   {plain:7.1f} s  {plain_rate:6.1f} subs/min  "
        f"{plain / n:5.2f} s/sub  overhead over bare {plain / n - bare:+5.2f} s/sub",
        flush=True,
    )

    runs = [(w, True) for w in args.workers] + [(max(args.workers), False)]
    for workers, fork_server in runs:
        if fork_server:
            os.environ.pop("RNN_GRADE_NO_ZYGOTE", None)
        else:  # does the warm fork server still pay for itself?
            os.environ["RNN_GRADE_NO_ZYGOTE"] = "1"
        start = time.perf_counter()
        results = grade(
            root,
            ASSIGNMENT,
            out=tmp / f"grades-{workers}.csv",
            workers=workers,
            options=Options(),
            report=False,
            log=lambda msg: None,
        )
        took = time.perf_counter() - start
        rate = 60 * n / took
        per_job = sum(r.timings.get("total", 0) for r in results) / n
        isolated = sum(r.timings.get("isolated", 0) for r in results) / n
        kernel = sum(r.timings.get("nbgrader", 0) for r in results) / n
        label = f"-w {workers}" + ("" if fork_server else " no fork server")
        print(
            f"autograder grade {label:21s} {took:7.1f} s  {rate:6.1f} subs/min  "
            f"ratio {rate / plain_rate:4.2f}x plain  | per job {per_job:5.2f} s "
            f"(isolated run {isolated:4.2f} s, nbgrader autograde {kernel:4.2f} s), "
            f"overhead over bare {per_job - bare:+5.2f} s/sub",
            flush=True,
        )
    subprocess.run(["rm", "-rf", str(tmp)])


if __name__ == "__main__":
    main()
