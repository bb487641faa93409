"""What a submission did to the notebook it was given: read, compare, flag.

Everything here is static (the notebook is parsed as JSON, nothing is run):

* :func:`load_submission` parses the bytes (broken JSON -> ``broken_json``);
* :func:`notebook_flags` compares the student's cells with the released ones by
  ``grade_id``: deleted, edited (source or nbgrader metadata), duplicated, extra
  graded cells and re-pointed ids (a locked id moved onto another cell);
* :func:`suspicious_flags` names the tricks seen in the wild in the code a
  student wrote (answer cells and added cells): the course's package, IPython hooks (input transformers, custom exception
  handlers), monkeypatched testing helpers, ``os._exit``, ``sys.modules``,
  fake success messages.

Flags never change a score by themselves: the score comes from the isolated run.
"""

from __future__ import annotations

import json
import re

GRADED_KEYS = ("grade", "solution", "locked", "points", "task")

SUSPICIOUS = [
    ("course_package", re.compile(r"\bautograder\b|\bcheck_[a-z_]+\s*=")),
    (
        "ipython_hooks",
        re.compile(
            r"get_ipython|input_transformers|input_splitter|"
            r"set_custom_exc|register_magic|\bevents\.register"
        ),
    ),
    (
        "patched_testing",
        re.compile(
            r"(np|numpy|torch)\.testing\.\w+\s*=|"
            r"\b(np|numpy|torch)\.(allclose|array_equal|isclose)\s*=|"
            r"assert_allclose\s*=|setattr\s*\(\s*(np|numpy|torch)\b"
        ),
    ),
    ("sys_modules", re.compile(r"sys\.modules|__import__|\bimportlib\b|\bbuiltins\b")),
    (
        "process_exit",
        re.compile(r"\bos\._exit\b|\b_exit\s*\(|\bos\.kill\b|sys\.exit|\bexit\s*\(\s*\)|quit\s*\("),
    ),
    ("always_equal", re.compile(r"def\s+__eq__|__eq__\s*=")),
    ("fake_success", re.compile(r"print\s*\(.*(correct \(seed|passed|success|all tests)", re.I)),
    ("ctypes", re.compile(r"\bctypes\b")),
]


class BadSubmission(Exception):
    """The submission cannot be graded at all; ``flag`` says why."""

    def __init__(self, flag: str, message: str):
        super().__init__(message)
        self.flag = flag


def load_submission(data: bytes) -> dict:
    """The notebook as a dict, or :class:`BadSubmission`."""
    try:
        nb = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise BadSubmission("broken_json", f"the notebook is not valid JSON ({err})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise BadSubmission("broken_notebook", "the file is JSON but not a notebook (no cell list)")
    for cell in nb["cells"]:
        if not isinstance(cell, dict):
            raise BadSubmission("broken_notebook", "a cell is not a JSON object")
    return nb


def source_of(cell: dict) -> str:
    src = cell.get("source", "")
    if isinstance(src, list):
        return "".join(s for s in src if isinstance(s, str))
    return src if isinstance(src, str) else ""


def nbgrader_meta(cell: dict) -> dict:
    meta = cell.get("metadata")
    meta = meta.get("nbgrader") if isinstance(meta, dict) else None
    return meta if isinstance(meta, dict) else {}


def _norm(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def notebook_flags(student: dict, release: dict) -> list[str]:
    """Flags for locked/graded cells deleted, edited, duplicated, added or moved."""
    flags = []
    released = [(nbgrader_meta(c).get("grade_id"), c) for c in release["cells"]]
    released = [(g, c) for g, c in released if g]
    by_id: dict[str, list[dict]] = {}
    for cell in student["cells"]:
        gid = nbgrader_meta(cell).get("grade_id")
        if isinstance(gid, str):
            by_id.setdefault(gid, []).append(cell)
    release_ids = {g for g, _ in released}
    for gid, cell in released:
        meta = nbgrader_meta(cell)
        protected = meta.get("locked") or meta.get("grade")
        found = by_id.get(gid, [])
        if len(found) > 1:
            flags.append(f"duplicate_cell:{gid}")
        if not found:
            if meta.get("solution"):
                flags.append(f"missing_answer_cell:{gid}")
            elif protected and cell.get("cell_type") == "code":
                flags.append(f"deleted_cell:{gid}")
            continue
        mine = found[0]
        if any(nbgrader_meta(mine).get(k) != meta.get(k) for k in GRADED_KEYS):
            flags.append(f"edited_metadata:{gid}")
        if (
            protected
            and cell.get("cell_type") == "code"
            and _norm(source_of(mine)) != _norm(source_of(cell))
        ):
            flags.append(f"edited_cell:{gid}")
    for gid, cells in by_id.items():
        if gid not in release_ids:
            meta = nbgrader_meta(cells[0])
            if meta.get("grade") or meta.get("locked") or meta.get("solution"):
                flags.append(f"extra_graded_cell:{gid}")
    # Re-pointed: the graded ids are all there but in another order (an id moved to another cell).
    order = [
        g for g, c in released if nbgrader_meta(c).get("grade") or nbgrader_meta(c).get("solution")
    ]
    seen = [g for g in (nbgrader_meta(c).get("grade_id") for c in student["cells"]) if g in order]
    if (
        not any(f.startswith(("deleted_cell", "missing_answer", "duplicate")) for f in flags)
        and seen != order
    ):
        flags.append("repointed_cells")
    return flags


def _strip_comments(text: str) -> str:
    return re.sub(r"(?m)^\s*#.*$|\s+#[^'\"\n]*$", "", text)


def student_code(student: dict, release: dict) -> list[tuple[str, str]]:
    """(label, source) of every code cell the student wrote: answers and added cells."""
    locked = {
        nbgrader_meta(c).get("grade_id")
        for c in release["cells"]
        if nbgrader_meta(c).get("locked") or nbgrader_meta(c).get("grade")
    }
    released_sources = {
        _norm(source_of(c)) for c in release["cells"] if c.get("cell_type") == "code"
    }
    out = []
    for index, cell in enumerate(student["cells"]):
        if cell.get("cell_type") != "code":
            continue
        gid = nbgrader_meta(cell).get("grade_id")
        if gid in locked:
            continue
        src = source_of(cell)
        if _norm(src) in released_sources:
            continue
        out.append((gid if isinstance(gid, str) else f"cell{index}", src))
    return out


def suspicious_flags(code: list[tuple[str, str]]) -> list[str]:
    flags = set()
    for _, src in code:
        text = _strip_comments(src)
        for name, pattern in SUSPICIOUS:
            if pattern.search(text):
                flags.add(f"suspicious:{name}")
    return sorted(flags)
