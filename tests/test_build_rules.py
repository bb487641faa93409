"""The book's build rules: unlabeled equations and broken references fail a -W build."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

CONF = f"""
import sys
sys.path.insert(0, {str(ROOT / "book" / "_ext")!r})
extensions = ["myst_parser", "course_html"]
myst_enable_extensions = ["dollarmath", "amsmath"]
nitpicky = True
"""


def build(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(CONF)
    (src / "index.md").write_text("(top)=\n# Page\n\n" + body + "\n")
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(src), str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )


def test_a_labeled_equation_and_a_good_reference_build(tmp_path):
    proc = build(tmp_path, "$$ h_t = \\tanh(a_t) $$ (eq-good)\n\nSee {eq}`eq-good` and {ref}`top`.")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    "body,message",
    [
        ("$$ h_t = \\tanh(a_t) $$", "unlabeled equation"),
        ("See {ref}`no-such-label`.", "undefined label"),
    ],
)
def test_unlabeled_equations_and_broken_references_fail_the_build(tmp_path, body, message):
    proc = build(tmp_path, body)
    assert proc.returncode != 0
    assert message in proc.stderr


NOTEBOOK_CONF = """
extensions = ["myst_nb"]
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_output_stderr = "error"
"""
HEADER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
# Chapter
"""


@pytest.mark.parametrize(
    "cell,ok",
    [
        ("print(1 + 1)", True),
        ("raise ValueError('broken chapter')", False),
        ("import sys; print('warning', file=sys.stderr)", False),
    ],
)
def test_a_failing_or_noisy_chapter_fails_the_build(tmp_path, cell, ok):
    """Same execution settings as _config.yml: raise_on_error, stderr is an error."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(NOTEBOOK_CONF)
    (src / "index.md").write_text(HEADER + "\n```{code-cell} ipython3\n" + cell + "\n```\n")
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(src), str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert (proc.returncode == 0) == ok, proc.stderr[-2000:]


def test_the_book_config_keeps_those_settings():
    config = (ROOT / "_config.yml").read_text()
    for line in ("execute_notebooks: cache", "raise_on_error: true", "stderr_output: error"):
        assert line in config
