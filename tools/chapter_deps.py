"""Print the course-package files the book's chapters import (directly or through each other).

The execution cache keys on cell sources only, so the Makefile clears it when
one of these files changes, and only then: editing a check or the grader does
not re-execute the book. Standard library only (runs before the venv exists).

    python3 tools/chapter_deps.py        # one path per line, relative to the repository
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```", re.S | re.M)


def module_file(name: str) -> Path | None:
    path = ROOT.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imports(source: str, package: str = "") -> set[str]:
    """Dotted names of autograder modules imported by ``source``."""
    found = set()
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return found
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return {n for n in found if n.split(".")[0] == "autograder"}


def _cell_code(cell: str) -> str:
    """A code cell's Python: MyST options (``:tags:`` lines, a ``---`` block) and magics removed."""
    lines = cell.splitlines()
    if lines and lines[0].strip() == "---":
        end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() == "---"), 0)
        lines = lines[end + 1 :]
    while lines and lines[0].startswith(":"):
        lines = lines[1:]
    return "\n".join("pass" if line.lstrip().startswith(("%", "!")) else line for line in lines)


def chapter_sources() -> list[str]:
    out = []
    for md in sorted((ROOT / "book").glob("[0-9][0-9]-*.md")):
        out += [_cell_code(cell) for cell in CELL.findall(md.read_text())]
    return out


def dependencies() -> list[str]:
    todo = set()
    for source in chapter_sources():
        todo |= imports(source)
    seen: set[Path] = set()
    while todo:
        name = todo.pop()
        for prefix in [".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 2)]:
            path = module_file(prefix)
            if path is None or path in seen:
                continue
            seen.add(path)
            package = prefix if path.name == "__init__.py" else prefix.rsplit(".", 1)[0]
            todo |= imports(path.read_text(), package)
    return sorted(str(p.relative_to(ROOT)) for p in seen)


if __name__ == "__main__":
    sys.stdout.write("\n".join(dependencies()) + "\n")
