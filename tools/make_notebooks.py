"""Regenerate solutions/ from tools/assignments/, then exercises/ with nbgrader.

    python -m tools.make_notebooks            # every chapter (make notebooks)
    python -m tools.make_notebooks 02-elman   # one
    python -m tools.make_notebooks --check    # exit 1 if solutions/ differs from its sources

The sources are deterministic, so running this twice changes nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from autograder.chapters import CHAPTERS, chapter
from tools.notebook_builder import ROOT, build, solution_path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("assignments", nargs="*")
    parser.add_argument("--check", action="store_true", help="compare only, write nothing")
    parser.add_argument("--no-release", action="store_true", help="do not run nbgrader")
    args = parser.parse_args(argv)
    chapters = [chapter(a) for a in args.assignments] if args.assignments else list(CHAPTERS)
    stale = []
    for ch in chapters:
        text = build(ch)
        path = solution_path(ch)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path.relative_to(ROOT)))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")
    if args.check:
        if stale:
            print("stale (run `make notebooks`): " + ", ".join(stale))
            return 1
        return 0
    if not args.no_release:
        return subprocess.call(
            [sys.executable, "-m", "autograder", "release", *[c.name for c in chapters]], cwd=ROOT
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
