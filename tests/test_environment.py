"""The set-up the README promises: pins agree, CI runs `make test`, the cache can't go stale."""

from __future__ import annotations

import re
import subprocess

from conftest import ROOT

PIN = re.compile(r"^\s*-?\s*([A-Za-z0-9_.\-]+)==([^\s#]+)", re.M)


def pins(text):
    return {name.lower().replace("_", "-"): version for name, version in PIN.findall(text)}


def test_environment_yml_and_requirements_pin_the_same_versions():
    req = pins((ROOT / "requirements.txt").read_text())
    env = pins((ROOT / "environment.yml").read_text())
    assert req, "requirements.txt pins nothing"
    assert req == env
    assert req["torch"] == "2.13.0"
    assert req["jupyter-book"].startswith("1.") and req["nbgrader"].startswith("0.9.")


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / "README.md").read_text()
    assert "make book" in (ROOT / "README.md").read_text()
    assert re.search(r"^make test$", (ROOT / ".ci/run").read_text(), re.M)


def test_a_changed_chapter_dependency_clears_the_execution_cache_and_a_check_does_not():
    """The cache keys on cell sources only; the Makefile must notice changes to the modules
    the chapters import (tools/chapter_deps.py), and only to those."""
    deps = subprocess.run(
        ["python3", "tools/chapter_deps.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert "autograder/experiments/tasks.py" in deps
    assert not any(d.startswith(("autograder/checks/", "autograder/grading/")) for d in deps)
    clear = "rm -rf _build/.jupyter_cache _build/.doctrees"
    dry = subprocess.run(
        ["make", "-n", "-W", "autograder/experiments/tasks.py", "book"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert clear in dry
    # Touching a check or the grader changes nothing in what `make book` would do.
    plain = subprocess.run(
        ["make", "-n", "book"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    for path in ("autograder/checks/ch02_elman.py", "autograder/grading/job.py"):
        dry = subprocess.run(
            ["make", "-n", "-W", path, "book"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        assert (clear in dry) == (clear in plain), path


def test_make_grade_without_an_assignment_says_which_exist():
    proc = subprocess.run(["make", "grade"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "ASSIGNMENT=NAME" in proc.stdout and "02-elman" in proc.stdout
