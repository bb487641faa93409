"""A simulated class graded by real nbgrader: generate, submit, autograde, export."""

from __future__ import annotations

import csv

import pytest
from classroom import answer_ids, make_course, nbgrader, student_notebook, submit
from submissions import earned_parts, grade_ids, notebook_file, points_of, total_points

pytestmark = pytest.mark.slow
ASSIGNMENT = "02-elman"


def test_a_simulated_class_gets_the_expected_scores(tmp_path):
    root = make_course(tmp_path, ASSIGNMENT)
    ids = answer_ids(root, ASSIGNMENT)
    assert ids == grade_ids(ASSIGNMENT)
    full = total_points(ASSIGNMENT)
    half = points_of(ASSIGNMENT, earned_parts(ASSIGNMENT, ids[:2]))
    submit(root, ASSIGNMENT, "alice", student_notebook(root, ASSIGNMENT, None))  # correct
    submit(root, ASSIGNMENT, "bob", student_notebook(root, ASSIGNMENT, set(ids[:2])))  # half
    submit(root, ASSIGNMENT, "carol", student_notebook(root, ASSIGNMENT, set()))  # empty
    submit(root, ASSIGNMENT, "dave", raw='{"cells": [ this is not json')  # broken
    before = {
        p: p.read_bytes() for p in (root / "instructor" / "submitted").rglob("*") if p.is_file()
    }

    graded = nbgrader(["autograde", ASSIGNMENT, "--force"], root, check=False)
    log = graded.stdout + graded.stderr
    # The broken submission is reported by name, and the others are still graded.
    assert "error processing assignment '02-elman' for student 'dave'" in log
    assert "Notebook does not appear to be JSON" in log
    name = notebook_file(ASSIGNMENT)
    for student in ("alice", "bob", "carol"):
        assert (root / "instructor" / "autograded" / student / ASSIGNMENT / name).exists()
    assert not (root / "instructor" / "autograded" / "dave" / ASSIGNMENT).exists()
    after = {
        p: p.read_bytes() for p in (root / "instructor" / "submitted").rglob("*") if p.is_file()
    }
    assert after == before, "autograding must not modify submissions"

    out = root / "grades.csv"
    nbgrader(["export", "--to", str(out)], root)
    rows = {r["student_id"]: r for r in csv.DictReader(out.open())}
    scores = {s: float(rows[s]["score"]) for s in ("alice", "bob", "carol")}
    assert scores == {"alice": full, "bob": half, "carol": 0.0}
    assert all(float(r["max_score"]) == full for r in rows.values())

    nbgrader(["generate_feedback", ASSIGNMENT, "--force"], root)
    page = name.replace(".ipynb", ".html")
    feedback = (root / "instructor" / "feedback" / "alice" / ASSIGNMENT / page).read_text()
    assert f"{ids[0]}: correct" in feedback
