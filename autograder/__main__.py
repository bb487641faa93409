"""Instructors' commands: ``python -m autograder {release,autograde,feedback,export,grade}``.

``release``, ``autograde``, ``feedback`` and ``export`` wrap nbgrader with the
course's configuration (autograder/course.py), run from the course root with
the venv's bin on PATH. ``grade`` is the class-scale grader
(autograder/grading/): parallel, isolated from student code, with flags and a
report; ``python -m autograder grade --help`` lists its options. ``make
release``, ``make autograde``, ``make feedback``, ``make export`` and
``make grade`` call these.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from .course import ROOT, STATE, assignments, nbgrader_env


def _nbgrader(args: list[str], root: Path) -> int:
    cmd = [sys.executable, "-m", "nbgrader", *args]
    print("+ nbgrader " + " ".join(args), flush=True)
    return subprocess.call(cmd, cwd=root, env=nbgrader_env())


def release(root: Path, names: list[str]) -> int:
    """Regenerate exercises/<assignment>/ from solutions/<assignment>/."""
    for name in names or assignments(root):
        rc = _nbgrader(["generate_assignment", name, "--force"], root)
        if rc:
            return rc
    return 0


def autograde(root: Path, names: list[str]) -> int:
    """Grade every submission in instructor/submitted/ (one bad one does not stop the rest)."""
    rc = 0
    for name in names:
        rc |= _nbgrader(["autograde", name, "--force"], root)
    return rc


def feedback(root: Path, names: list[str]) -> int:
    rc = 0
    for name in names:
        rc |= _nbgrader(["generate_feedback", name, "--force"], root)
    return rc


def export(root: Path) -> int:
    out = root / STATE / "grades.csv"
    rc = _nbgrader(["export", "--to", str(out)], root)
    if rc == 0:
        print(f"grades written to {out}")
    return rc


def main(argv: list[str] | None = None) -> int:
    from .grading import cli as grading

    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(
        prog="python -m autograder",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="course root (default: this repository)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, helptext in (
        ("release", "regenerate exercises/ from solutions/"),
        ("autograde", "autograde instructor/submitted/"),
        ("feedback", "write feedback into instructor/feedback/"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument(
            "assignments",
            nargs="*" if name == "release" else "+",
            help="assignment names, e.g. 02-elman",
        )
    sub.add_parser("export", help="write instructor/grades.csv from the gradebook")
    grading.add_arguments(
        sub.add_parser(
            "grade",
            help="class-scale, isolated grading (see `grade --help`)",
            description=grading.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
    )
    args = parser.parse_args(argv)
    if args.command == "grade":
        return grading.run(args)
    root = args.root.resolve()
    if args.command == "export":
        return export(root)
    return {"release": release, "autograde": autograde, "feedback": feedback}[args.command](
        root, args.assignments
    )


if __name__ == "__main__":
    sys.exit(main())
