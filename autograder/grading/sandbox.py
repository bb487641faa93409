"""Grading outside the student's kernel: run answer cells in a fresh process, compare here.

:func:`run_isolated` starts :mod:`autograder.grading.sandbox_child` as
``python -I -S`` in a new process group with resource limits, a temporary work
folder as its only writable place, and a wall-clock timeout after which the
whole group is killed. It gets back only ``.npy`` files, loaded with
``allow_pickle=False``. :func:`score_parts` then demands exactly a
``numpy.ndarray`` of the expected dtype and shape (or an int) and compares it
with the reference computed in this process, with the course's own
``require_array`` / ``assert_matches`` so the messages are the checks' messages.

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

import numpy as np

from ..comparing import assert_matches, require_array
from .parts import Part, student_seed

CHILD = Path(__file__).with_name("sandbox_child.py")
ROOT = Path(__file__).resolve().parent.parent.parent

#: Imports refused inside the sandbox (the references, the course, escape hatches).
BLOCKED_IMPORTS = (
    "torch", "torchvision", "torchaudio", "autograder", "tensorflow", "keras", "jax", "jaxlib",
    "sklearn", "scipy", "ctypes", "_ctypes", "cffi", "IPython", "ipykernel", "nbgrader",
    "nbformat", "nbclient", "subprocess", "_posixsubprocess", "multiprocessing", "socket",
    "_socket", "pty", "dask", "distributed", "site", "pip", "setuptools",
)
MAX_RESULT_BYTES = 64 * 2**20


@dataclass
class Limits:
    wall_seconds: float = 30.0        # one start of the child
    total_seconds: float = 90.0       # all restarts together
    cell_seconds: float = 20.0
    call_seconds: float = 20.0
    mem_bytes: int = 2 * 2**30


@dataclass
class IsolatedRun:
    results: dict[str, list[object]] = field(default_factory=dict)   # gid -> per case array|None
    errors: dict[str, list[str]] = field(default_factory=dict)       # gid -> messages
    cell_errors: dict[str, str] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    timed_out: bool = False
    returncode: int | None = None
    finished: bool = False
    skipped: dict = field(default_factory=dict)
    seconds: float = 0.0
    stderr_tail: str = ""


_NUMPY_DIR: str | None = None


def numpy_dir() -> str:
    """A folder that holds only NumPy (symlinks), for the child's ``sys.path``."""
    global _NUMPY_DIR
    if _NUMPY_DIR and os.path.isdir(_NUMPY_DIR):
        return _NUMPY_DIR
    site = Path(np.__file__).resolve().parent.parent
    folder = Path(tempfile.mkdtemp(prefix="rnn-grade-numpy-"))
    for name in ("numpy", "numpy.libs"):
        if (site / name).exists():
            os.symlink(site / name, folder / name)
    _NUMPY_DIR = str(folder)
    return _NUMPY_DIR


def private_dirs() -> list[str]:
    dirs = [ROOT / "autograder", ROOT / "solutions", ROOT / "instructor"]
    try:
        import importlib.util
        spec = importlib.util.find_spec("torch")
        if spec and spec.origin:
            dirs.append(Path(spec.origin).parent)
    except Exception:
        pass
    return [os.path.realpath(d) for d in dirs]


def setup_source(imports_cell: str) -> str:
    """The SOURCE notebook's setup cell without the course's own imports."""
    try:
        tree = ast.parse(imports_cell)
    except SyntaxError:
        return "import numpy as np\n"
    keep = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "autograder":
            continue
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "autograder" for a in node.names):
            continue
        keep.append(node)
    return ast.unparse(ast.Module(body=keep, type_ignores=[])) + "\n"


def run_isolated(cells: list[tuple[str, str]], setup: str, parts: list[Part],
                 cases: dict[str, list], limits: Limits) -> IsolatedRun:
    """Run answer ``cells`` [(grade_id, source)] in the sandbox and collect the results."""
    run = IsolatedRun()
    work = Path(tempfile.mkdtemp(prefix="rnn-grade-sbx-"))
    try:
        (work / "in").mkdir()
        (work / "out").mkdir()
        (work / "cwd").mkdir()
        job_parts = []
        for part in parts:
            specs = []
            for index, case in enumerate(cases[part.grade_id]):
                args = []
                for name, value in case.args:
                    filename = f"{part.grade_id}.{index}.{name}.npy"
                    kind = "int" if isinstance(value, (int, np.integer)) else "array"
                    array = np.asarray(value, dtype=np.int64) if kind == "int" else np.asarray(value)
                    np.save(work / "in" / filename, array, allow_pickle=False)
                    args.append([name, kind, filename])
                specs.append({"args": args})
            job_parts.append({"grade_id": part.grade_id, "function": part.function, "cases": specs})
        job = {
            "cells": [{"grade_id": g, "source": s} for g, s in cells],
            "setup": setup,
            "parts": job_parts,
            "numpy_dir": numpy_dir(),
            "blocked_imports": list(BLOCKED_IMPORTS),
            "private_dirs": private_dirs(),
            "mem_bytes": int(limits.mem_bytes),
            "cpu_seconds": int(limits.wall_seconds) + 2,
            "cell_seconds": limits.cell_seconds,
            "call_seconds": limits.call_seconds,
        }
        env = {"PATH": "/usr/bin:/bin", "HOME": str(work / "cwd"), "LANG": "C.UTF-8",
               "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        start = time.perf_counter()
        skipped: dict[str, str] = {}
        # A cell or call that hangs or kills the process costs only its own part: the
        # child is started again without that cell, for the parts not yet answered.
        for attempt in range(len(cells) + 1):
            left = limits.total_seconds - (time.perf_counter() - start)
            if left <= 0.5:
                break
            job["skip_cells"] = sorted(skipped)
            job["done_parts"] = _answered(work, cases)
            (work / "job.json").write_text(json.dumps(job))
            returncode, timed_out = _start(work, env, min(left, limits.wall_seconds))
            run.returncode = returncode
            run.timed_out = run.timed_out or timed_out
            culprit, finished = _progress(work)
            if finished or culprit is None or culprit in skipped:
                run.finished = finished
                break
            skipped[culprit] = ("took too long" if timed_out else
                                f"ended the grading process (exit status {returncode})")
            with open(work / "out" / "status.jsonl", "a") as fh:
                fh.write(json.dumps({"cell": culprit, "ok": False,
                                     "error": f"the cell {skipped[culprit]}"}) + "\n")
        run.seconds = time.perf_counter() - start
        run.skipped = skipped
        run.stderr_tail = _tail(work / "stderr.txt")
        _collect(run, work, parts, cases)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return run


def _start(work: Path, env: dict, seconds: float) -> tuple[int, bool]:
    """Run the child once; kill its whole process group when it is done or out of time."""
    timed_out = False
    with open(work / "stderr.txt", "ab") as err:
        proc = subprocess.Popen([sys.executable, "-I", "-S", str(CHILD), str(work)],
                                cwd=work / "cwd", env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
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
    for line in _tail(path, 1_000_000).splitlines():
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
    return sorted(gid for gid, cs in cases.items()
                  if all((work / "out" / f"{gid}.{i}.npy").is_file() for i in range(len(cs))))


def _tail(path: Path, size: int = 2000) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - size))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _collect(run: IsolatedRun, work: Path, parts: list[Part], cases: dict[str, list]) -> None:
    out = work / "out"
    status: dict[tuple[str, int], dict] = {}
    if True:
        for entry in _status_entries(work):
            if entry.get("done") is True:
                run.finished = True
            if isinstance(entry.get("cell"), str) and entry.get("ok") is False:
                run.cell_errors[entry["cell"]] = str(entry.get("error", ""))[:500]
            if isinstance(entry.get("grade_id"), str) and isinstance(entry.get("case"), int):
                status[(entry["grade_id"], entry["case"])] = entry
            if entry.get("violation"):
                run.violations.append(str(entry.get("error", ""))[:300])
    for part in parts:
        gid = part.grade_id
        got, errs = [], []
        for index in range(len(cases[gid])):
            path = out / f"{gid}.{index}.npy"
            value, err = None, None
            if path.is_file() and not path.is_symlink() and path.stat().st_size <= MAX_RESULT_BYTES:
                try:
                    value = np.load(path, allow_pickle=False)
                except Exception as exc:
                    err = f"the result could not be read back ({type(exc).__name__})"
            else:
                entry = status.get((gid, index), {})
                err = str(entry.get("error") or "")[:500]
                if gid in run.skipped:
                    err = f"was stopped: its cell {run.skipped[gid]}"
                elif not err and gid in run.cell_errors:
                    err = run.cell_errors[gid]
                if not err:
                    err = ("the grading process was stopped (time limit)" if run.timed_out else
                           "no result: the grading process ended before this call "
                           f"(exit status {run.returncode})")
            got.append(value)
            errs.append(err)
        run.results[gid] = got
        run.errors[gid] = errs


def judge_case(part: Part, case, got) -> str | None:
    """None when ``got`` is right for ``case``, else the teaching message."""
    name = f"The result of `{part.function}`"
    try:
        if part.output == "int":
            if type(got) is not np.ndarray or got.shape != () or got.dtype != np.int64:
                return f"{name} should be a Python int."
            value = int(got)
            if value != case.expected:
                args = ", ".join(f"{k}={v}" for k, v in case.args)
                return f"`{part.function}({args})` returned {value}, expected {case.expected}."
            return None
        expected = np.asarray(case.expected)
        require_array(got, name, expected.shape, dtype=np.float64)
        assert_matches(got, expected, name, axes=part.axes, reference=part.reference,
                       time_axis=part.time_axis)
        return None
    except AssertionError as err:
        return str(err)


def build_cases(parts: list[Part], assignment: str, student: str) -> dict[str, list]:
    return {p.grade_id: p.make_cases(student_seed(assignment, student, p.grade_id)) for p in parts}


def score_parts(parts: list[Part], cases: dict[str, list], run: IsolatedRun
                ) -> dict[str, tuple[bool, str]]:
    """grade_id -> (passed every case, first failure message)."""
    verdict = {}
    for part in parts:
        message = ""
        for case, got, err in zip(cases[part.grade_id], run.results[part.grade_id],
                                  run.errors[part.grade_id]):
            if got is None:
                message = f"`{part.function}` {err}" if err and not err.startswith("`") else err
                if err.startswith(("NotImplementedError",)):
                    message = f"`{part.function}` is not implemented."
                break
            problem = judge_case(part, case, got)
            if problem:
                message = problem
                break
        verdict[part.grade_id] = (not message, message)
    return verdict
