"""Grading outside the student's kernel: run the notebook in an isolated process, judge here.

:func:`run_isolated` runs :mod:`autograder.grading.sandbox_child` as
``python -I`` inside the OS sandbox (:mod:`.isolation`: bubblewrap where it
works; otherwise the child's own guard only, and the result says so), in a
new process group with resource limits, a temporary work folder as its only
writable place, and a wall-clock timeout after which the whole group is
killed. The child runs the student's notebook as written (every code cell but
the graded test cells, in order) and, where a part's test cell stood, calls
the part's function on exactly the cases the notebook's check runs
(:meth:`autograder.parts.Part.cases`), through the same
:mod:`autograder.calling` runtime. Only plain data comes back; it is judged
here with the same :meth:`~autograder.parts.Part.judge` as in the notebook,
so the verdicts and the messages are the notebook's.

No student code ever runs in this process.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import calling
from ..parts import Part
from . import isolation as iso

CHILD = Path(__file__).with_name("sandbox_child.py")
CALLING = Path(calling.__file__)
ROOT = Path(__file__).resolve().parent.parent.parent

#: Imports refused inside the sandbox: escape hatches and the grading stack itself.
BLOCKED_IMPORTS = (
    "ctypes",
    "_ctypes",
    "cffi",
    "IPython",
    "ipykernel",
    "nbgrader",
    "nbformat",
    "nbclient",
    "subprocess",
    "_posixsubprocess",
    "multiprocessing",
    "socket",
    "_socket",
    "pty",
    "dask",
    "distributed",
    "pip",
    "setuptools",
)
MAX_RESULT_BYTES = 64 * 2**20


@dataclass
class Limits:
    wall_seconds: float = 30.0  # one start of the child
    total_seconds: float = 90.0  # all restarts together
    cell_seconds: float = 20.0
    mem_bytes: int = 4 * 2**30


@dataclass
class IsolatedRun:
    outcomes: dict[str, list[calling.Outcome]] = field(default_factory=dict)  # gid -> per case
    cell_errors: dict[str, str] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    timed_out: bool = False
    returncode: int | None = None
    finished: bool = False
    skipped: dict = field(default_factory=dict)
    seconds: float = 0.0
    stderr_tail: str = ""
    isolation: str = ""


def private_dirs(extra=()) -> list[str]:
    """What a student's code must never read: the course's sources, solutions, state."""
    dirs = [
        ROOT / "autograder",
        ROOT / "solutions",
        ROOT / "instructor",
        ROOT / "tools",
        ROOT / "tests",
        ROOT / ".git",
        *extra,
    ]
    return [os.path.realpath(d) for d in dirs]


def notebook_cells(nb: dict, parts: list[Part]) -> list[dict]:
    """The student's notebook as the child runs it: code cells, with each part's call
    where its test cell stands (at the end for a test cell the student deleted)."""
    from .integrity import nbgrader_meta, source_of

    by_test = {p.test_id: p.grade_id for p in parts}
    cells, placed = [], set()
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        gid = nbgrader_meta(cell).get("grade_id")
        label = gid if isinstance(gid, str) and gid else f"cell{index}"
        if gid in by_test:
            if by_test[gid] not in placed:
                placed.add(by_test[gid])
                cells.append({"label": label, "calls": by_test[gid]})
            continue
        cells.append(
            {
                "label": f"{label}#{index}" if any(c["label"] == label for c in cells) else label,
                "source": source_of(cell),
            }
        )
    for part in parts:
        if part.grade_id not in placed:
            cells.append({"label": part.test_id, "calls": part.grade_id})
    return cells


def imported_modules(cells: list[dict]) -> list[str]:
    """Top-level modules the notebook imports, to load before the guard (no student code runs)."""
    names = set()
    for cell in cells:
        try:
            tree = ast.parse(calling.without_magics(cell.get("source", "")))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
    import importlib.util

    keep = []
    if any(n.split(".")[0] == "torch" for n in names):
        # torch loads ctypes itself; its compiler stack (behind optimizers' step(), torch.func
        # and checkpointing) later imports two more ctypes modules, which the guard would
        # refuse to graded code. Importing them now, as a notebook's first use would, keeps
        # idiomatic PyTorch working; calling into ctypes stays refused.
        keep += ["ctypes.util", "ctypes.wintypes"]
    for name in sorted(names):
        top = name.split(".")[0]
        if top in BLOCKED_IMPORTS or top == "autograder":
            continue
        try:
            if importlib.util.find_spec(top) is not None:
                keep.append(name)  # submodules too: matplotlib.pyplot builds its font cache
        except (ImportError, ValueError):
            pass
    return keep


def run_isolated(
    cells: list[dict],
    parts: list[Part],
    cases: dict[str, list],
    limits: Limits,
    isolation: iso.Isolation | None = None,
    hide=(),
) -> IsolatedRun:
    """Run ``cells`` (from :func:`notebook_cells`) isolated; ``cases``: gid -> [(args, expected)]."""
    isolation = isolation or iso.detect()
    run = IsolatedRun(isolation=isolation.detail)
    work = Path(tempfile.mkdtemp(prefix="rnn-grade-sbx-"))
    try:
        for sub in ("in", "out", "cwd", "lib"):
            (work / sub).mkdir()
        shutil.copyfile(CALLING, work / "lib" / "course_calling.py")
        shutil.copyfile(CHILD, work / "lib" / "sandbox_child.py")
        job_parts = []
        for part in parts:
            specs = []
            for index, (args, _expected) in enumerate(cases[part.grade_id]):
                specs.append(
                    [
                        [
                            name,
                            calling.encode(
                                value, str(work / "in"), f"{part.grade_id}.{index}.{name}"
                            ),
                        ]
                        for name, value in args.items()
                    ]
                )
            job_parts.append(
                {
                    "grade_id": part.grade_id,
                    "function": part.name,
                    "cases": specs,
                    "allowed": list(part.allowed),
                    "forbidden": list(part.forbidden),
                    "call_seconds": part.call_seconds,
                    "count_lines": part.line_budget is not None,
                }
            )
        privates = private_dirs(hide)
        # The OS sandbox hides the whole course folder and shows its venv again; the
        # in-process guard (which also sees the venv's files being read) names folders.
        hidden = [h for h in (os.path.realpath(ROOT), *privates) if h != os.sep]
        job = {
            "cells": cells,
            "parts": job_parts,
            "preload": imported_modules(cells),
            "blocked_imports": list(BLOCKED_IMPORTS),
            "private_dirs": privates,
            "mem_bytes": int(limits.mem_bytes),
            "cpu_seconds": int(limits.wall_seconds) + 2,
            "cell_seconds": limits.cell_seconds,
        }
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(work / "cwd"),
            # Temporary files (Python's tempfile, torch's compiler cache) stay in the work folder.
            "TMPDIR": str(work / "cwd"),
            "LANG": "C.UTF-8",
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": str(work / "cwd"),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
            if key in os.environ:
                env[key] = os.environ[key]
        argv = isolation.wrap(
            [sys.executable, "-I", str(work / "lib" / "sandbox_child.py"), str(work)],
            workdir=work,
            hide=hidden,
            reveal=[Path(sys.prefix)],
        )
        start = time.perf_counter()
        skipped: dict[str, str] = {}
        # A cell or call that hangs or kills the process costs only its own part (or
        # cell): the child is started again without it, for the parts not yet answered.
        for _attempt in range(len(cells) + 1):
            left = limits.total_seconds - (time.perf_counter() - start)
            if left <= 0.5:
                break
            job["skip_cells"] = sorted(skipped)
            job["done_parts"] = _answered(work, cases)
            (work / "job.json").write_text(json.dumps(job))
            returncode, timed_out = _start(argv, work, env, min(left, limits.wall_seconds))
            run.returncode = returncode
            run.timed_out = run.timed_out or timed_out
            culprit, finished = _progress(work)
            if finished or culprit is None or culprit in skipped:
                run.finished = finished
                break
            skipped[culprit] = (
                "took too long"
                if timed_out
                else f"ended the grading process (exit status {returncode})"
            )
            # (the message reads "the grader stopped it: it took too long")
            with open(work / "out" / "status.jsonl", "a") as fh:
                fh.write(
                    json.dumps(
                        {"cell": culprit, "ok": False, "error": f"the cell {skipped[culprit]}"}
                    )
                    + "\n"
                )
        run.seconds = time.perf_counter() - start
        run.skipped = skipped
        run.stderr_tail = _tail(work / "stderr.txt")
        _collect(run, work, parts, cases, cells)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return run


def _start(argv: list[str], work: Path, env: dict, seconds: float) -> tuple[int, bool]:
    """Run the child once; kill its whole process group when it is done or out of time."""
    timed_out = False
    with open(work / "stderr.txt", "ab") as err:
        proc = subprocess.Popen(
            argv,
            cwd=work / "cwd",
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
        try:
            returncode = proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            timed_out = True
            returncode = None
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if returncode is None:
            returncode = proc.wait()
    return returncode, timed_out


def _status_entries(work: Path) -> list[dict]:
    path = work / "out" / "status.jsonl"
    if not path.is_file() or path.is_symlink():
        return []
    entries = []
    for line in _tail(path, 4_000_000).splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def _progress(work: Path) -> tuple[str | None, bool]:
    """(the cell that was running when the child stopped, whether it finished)."""
    current = None
    for entry in _status_entries(work):
        if entry.get("done") is True:
            return None, True
        if isinstance(entry.get("begin"), str):
            current = entry["begin"]
        if entry.get("end") == current:
            current = None
    return current, False


def _answered(work: Path, cases: dict[str, list]) -> list[str]:
    got: dict[str, set] = {}
    for entry in _status_entries(work):
        if isinstance(entry.get("grade_id"), str) and isinstance(entry.get("case"), int):
            got.setdefault(entry["grade_id"], set()).add(entry["case"])
    return sorted(g for g, cs in cases.items() if got.get(g, set()) >= set(range(len(cs))))


def _tail(path: Path, size: int = 2000) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - size))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _outcome(entry: dict, out: Path) -> calling.Outcome:
    """Rebuild an Outcome from the child's (untrusted) status entry."""
    raw = entry.get("outcome")
    raw = raw if isinstance(raw, dict) else {}

    def text(key):
        value = raw.get(key)
        return str(value)[:2000] if value is not None else None

    value = None
    if (
        "value" in entry
        and not raw.get("error")
        and not raw.get("violation")
        and not raw.get("stopped")
    ):
        try:
            value = calling.decode(entry["value"], str(out), MAX_RESULT_BYTES)
        except Exception as exc:
            return calling.Outcome(
                error=f"the result could not be read back ({type(exc).__name__})"
            )
    lines = raw.get("lines")
    uses = raw.get("uses")
    return calling.Outcome(
        value=value,
        error=text("error"),
        violation=text("violation"),
        mutated=text("mutated"),
        stopped=text("stopped"),
        lines=lines if type(lines) is int else None,
        unbound=text("unbound"),
        uses=tuple(str(u)[:200] for u in uses[:100]) if isinstance(uses, list) else (),
    )


def _collect(
    run: IsolatedRun, work: Path, parts: list[Part], cases: dict[str, list], cells: list[dict]
) -> None:
    out = work / "out"
    status: dict[tuple[str, int], dict] = {}
    for entry in _status_entries(work):
        if entry.get("done") is True:
            run.finished = True
        if isinstance(entry.get("cell"), str) and entry.get("ok") is False:
            run.cell_errors[entry["cell"]] = str(entry.get("error", ""))[:500]
            if entry.get("violation"):
                run.violations.append(str(entry.get("error", ""))[:300])
        if isinstance(entry.get("grade_id"), str) and isinstance(entry.get("case"), int):
            status[(entry["grade_id"], entry["case"])] = entry
            if entry.get("violation"):
                run.violations.append(str(entry.get("outcome", {}).get("error", ""))[:300])
    call_label = {c["calls"]: c["label"] for c in cells if c.get("calls")}
    for part in parts:
        gid = part.grade_id
        outcomes = []
        for index in range(len(cases[gid])):
            entry = status.get((gid, index))
            if entry is not None:
                outcomes.append(_outcome(entry, out))
                continue
            label = call_label.get(gid, "")
            if label in run.skipped or gid in run.skipped:
                err = f"the grader stopped it: it {run.skipped.get(label) or run.skipped.get(gid)}"
            elif run.timed_out:
                err = "the grading process was stopped (time limit)"
            else:
                err = f"the grading process ended before this call (exit status {run.returncode})"
            outcomes.append(calling.Outcome(stopped=err))
        run.outcomes[gid] = outcomes


def build_cases(parts: list[Part]) -> dict[str, list]:
    """grade_id -> [(args, expected)] for exactly the cases the notebook's check runs."""
    return {p.grade_id: [p.build(case) for case in p.cases()] for p in parts}


def score_parts(
    parts: list[Part], cases: dict[str, list], run: IsolatedRun
) -> dict[str, tuple[bool, str, bool]]:
    """grade_id -> (passed every case, first failure message, broke the part's rule)."""
    verdict = {}
    for part in parts:  # in notebook order: a part's earlier parts are judged before it
        message, broke = "", False
        for case, (args, expected), outcome in zip(
            part.cases(), cases[part.grade_id], run.outcomes[part.grade_id]
        ):
            problem = part.judge(args, expected, outcome)
            if problem and part.uses:
                earlier = part.failing_earlier(
                    outcome, lambda p: p.grade_id in verdict and not verdict[p.grade_id][0]
                )
                if earlier:
                    problem = part.judge(args, expected, outcome, earlier)
            if problem:
                broke = bool(outcome.violation)
                rerun = case.call_text(part.check_name, part.name)
                message = f"{problem}\n(This was the case `{rerun}`.)"
                break
        verdict[part.grade_id] = (not message, message, broke)
    return verdict
