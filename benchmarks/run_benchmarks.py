"""Build and grading timings of the course, printed as figures (never asserted).

    make benchmark            # everything (a cold book build wipes _build/)
    python benchmarks/run_benchmarks.py --skip-book

Figures: cold `make book`; warm rebuild after touching one chapter; execution
time of each chapter on its own; execution time of each solutions notebook;
time of each visible test cell (run in the released notebook with the answers
filled in, as a student runs it).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from classroom import NOTEBOOKS, make_course, student_notebook  # noqa: E402


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def book_figures() -> None:
    shutil.rmtree(ROOT / "_build", ignore_errors=True)
    print(f"cold make book                       {timed(['make', 'book']):7.1f} s")
    chapter = ROOT / "book" / "01-fnn-amnesia.md"
    chapter.touch()
    print(f"warm make book, one chapter touched  {timed(['make', 'book']):7.1f} s")
    print(f"warm make book, nothing changed      {timed(['make', 'book']):7.1f} s")
    original = chapter.read_text()
    try:  # a new code cell changes the cache key: the chapter is executed again
        chapter.write_text(
            original + f"\n```{{code-cell}} ipython3\n# benchmark edit {time.time()}\n```\n"
        )
        print(
            f"warm make book, one chapter edited   {timed(['make', 'book']):7.1f} s (re-executed)"
        )
    finally:
        chapter.write_text(original)
    timed(["make", "book"])


def execute(nb, path: Path) -> float:
    start = time.perf_counter()
    NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        record_timing=True,
        resources={"metadata": {"path": str(path)}},
    ).execute()
    return time.perf_counter() - start


def cell_seconds(cell) -> float:
    t = cell.metadata.get("execution", {})
    fmt = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (fmt(t["shell.execute_reply"]) - fmt(t["iopub.execute_input"])).total_seconds()


def notebook_figures() -> None:
    for assignment, name in NOTEBOOKS.items():
        path = ROOT / "solutions" / assignment / f"{name}.ipynb"
        seconds = execute(nbformat.read(str(path), 4), path.parent)
        print(f"solutions/{assignment:<16} executes in {seconds:6.1f} s (kernel start included)")
    with tempfile.TemporaryDirectory() as tmp:
        for assignment in NOTEBOOKS:
            root = make_course(Path(tmp) / assignment, assignment)
            nb = student_notebook(root, assignment, None)
            execute(nb, root)
            for cell in nb.cells:
                meta = cell.metadata.get("nbgrader", {})
                if meta.get("grade"):
                    print(
                        f"  visible test {assignment}/{meta['grade_id']:<28} {cell_seconds(cell):6.3f} s"
                    )


def chapter_figures() -> None:
    """Each chapter executed on its own, as the book build does (kernel start included)."""
    from myst_nb.core.read import read_myst_markdown_notebook

    from autograder.chapters import CHAPTERS

    for chapter in CHAPTERS:
        path = ROOT / chapter.book
        if not path.exists():
            print(f"{chapter.book:<28} missing")
            continue
        seconds = execute(read_myst_markdown_notebook(path.read_text()), path.parent)
        print(f"{chapter.book:<28} executes in {seconds:6.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--skip-book", action="store_true", help="skip the (destructive) book timings"
    )
    parser.add_argument(
        "--skip-grading", action="store_true", help="skip the class-grading timings (~5 min)"
    )
    args = parser.parse_args()
    print(f"# benchmarks on {time.strftime('%Y-%m-%d %H:%M')}")
    if not args.skip_book:
        book_figures()
    chapter_figures()
    notebook_figures()
    if not args.skip_grading:  # plain nbgrader against `make grade`, in one run
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_grading.py")], check=True)


if __name__ == "__main__":
    main()
