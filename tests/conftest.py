"""Shared fixtures and helpers for the course's test suite."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch
from classroom import NOTEBOOKS as ASSIGNMENTS  # assignment -> notebook name, from the registry

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# Kernels and nbgrader (which runs alembic) need the venv's bin on PATH.
os.environ["PATH"] = str(BIN) + os.pathsep + os.environ.get("PATH", "")
os.environ.pop("MPLBACKEND", None)  # the book's kernels need the inline backend
os.environ["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="no CUDA device here; run `pytest -m cuda` on a GPU machine")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


def notebook_path(folder: str, assignment: str) -> Path:
    return ROOT / folder / assignment / f"{ASSIGNMENTS[assignment]}.ipynb"


def read_notebook(path: Path):
    return nbformat.read(str(path), as_version=4)


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


SOLUTION_BLOCK = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
HIDDEN_BLOCK = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)
HIDDEN_CALL = re.compile(r"check_\w+\(\w+, hidden=True\)")


def secret_lines(assignment: str) -> list[str]:
    """Lines that only the solutions notebook may contain (solutions and hidden tests).

    Short or generic lines (``return hs``, ``import torch.nn.functional as F``,
    ``for t in range(x.shape[1]):``) are skipped: they say nothing about the
    answer and would match harmless prose. So is the hidden line itself,
    ``check_x(x, hidden=True)``: feedback shows it to every student anyway, and
    what it runs is declared in the course package.
    """
    nb = read_notebook(notebook_path("solutions", assignment))
    generic = ("#", "for ", "return ", "import ", "from ", "with ", "while ")
    lines = []
    for cell in nb.cells:
        for block in SOLUTION_BLOCK.findall(cell.source) + HIDDEN_BLOCK.findall(cell.source):
            for line in block.splitlines():
                line = line.strip()
                if (
                    len(line) >= 24
                    and not line.startswith(generic)
                    and not HIDDEN_CALL.fullmatch(line)
                ):
                    lines.append(line)
    return lines


_NAMESPACES: dict[str, dict] = {}


def solution_namespace(assignment: str) -> dict:
    """Execute every code cell but the graded tests (as the grader does); return its globals (cached)."""
    if assignment in _NAMESPACES:
        return _NAMESPACES[assignment]
    nb = read_notebook(notebook_path("solutions", assignment))
    namespace: dict = {}
    with contextlib.redirect_stdout(io.StringIO()):  # the notebook's own demo cells print
        for cell in nb.cells:
            meta = nbgrader_meta(cell)
            if cell.cell_type == "code" and not meta.get("grade"):  # as the grader runs it
                exec(
                    compile(cell.source, f"<{assignment}:{meta.get('grade_id')}>", "exec"),
                    namespace,
                )
    _NAMESPACES[assignment] = namespace
    return namespace


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> Path:
    """The book built from scratch (no cache) with warnings as errors; its html folder."""
    out = tmp_path_factory.mktemp("book")
    proc = subprocess.run(
        [
            str(BIN / "jupyter-book"),
            "build",
            str(ROOT),
            "--path-output",
            str(out),
            "--all",
            "--warningiserror",
            "--nitpick",
            "--keep-going",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"book build failed:\n{log[-6000:]}"
    assert "WARNING" not in re.sub(r"\[IPKernelApp\] WARNING[^\n]*", "", log), log[-4000:]
    return out / "_build" / "html"


def positional(check, fn):
    """A test's answer written as ``lambda **a: ...`` (keyword arguments) adapted to the way the
    checks call answers: positionally, in the stub's order (``check.part.signature``)."""
    import inspect

    params = inspect.signature(fn).parameters.values()
    if not any(p.kind is p.VAR_KEYWORD for p in params) or any(
        p.kind in (p.POSITIONAL_ONLY, p.VAR_POSITIONAL) for p in params
    ):
        return fn
    names = check.part.signature

    def call(*args):
        return fn(**dict(zip(names, args)))

    return call


def assert_passes(check, fn, capfd, **case) -> None:
    """``fn`` passes ``check`` (its visible and hidden cases, or the one case given), printing a
    "correct" line per case and nothing on stderr (nbgrader scores stderr as a failure)."""
    fn = positional(check, fn)
    if case:
        check(fn, **case)
    else:
        check(fn)
        check(fn, hidden=True)
    out, err = capfd.readouterr()
    assert err == "", "a check wrote to stderr, which nbgrader scores as a failure"
    assert "correct" in out


def names(message: str, text: str) -> bool:
    """Whether ``message`` says ``text`` itself: the list of common causes that ends a message
    where no known mistake matched names every mistake, so it does not count."""
    return text in message.split("Common causes: ")[0]


def assert_rejected(check, fn, hint: str, name: str = "") -> str:
    """``fn`` fails ``check``'s visible test (as in the notebook) with a message containing
    ``hint`` (outside the list of common causes); returns the message."""
    with pytest.raises(AssertionError) as info:
        check(positional(check, fn))
    message = str(info.value)
    assert names(message, hint), f"mutant {name!r}: the message does not name it:\n{message}"
    return message
