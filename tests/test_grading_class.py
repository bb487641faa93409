"""`python -m autograder grade` end to end on a small class with hostile submissions.

Runs the real command (local pool of 2 workers, then a Dask LocalCluster of two
workers) on a throw-away course: every submission gets a row, the hostile ones
are flagged and score zero where they cheat, nbgrader's gradebook, autograded
notebooks, feedback and export work, submitted/ is untouched, and a second run
gives the same CSV.
"""

from __future__ import annotations

import csv
import hashlib

import pytest
from classroom import make_course, nbgrader, solved_sources, student_notebook, submit
from hostile.submissions import HONEST_SUITE, HOSTILE

from autograder.grading.cli import main

pytestmark = pytest.mark.slow
ASSIGNMENT = "02-elman"
IN_CLASS = [
    "always_equal",
    "input_transformer_blanks_tests",
    "monkeypatched_testing",
    "calls_torch_reference",
    "os_exit",
    "kills_kernel",
    "endless_loop",
    "memory_bomb",
    "edited_test_cell",
    "broken_json",
    "missing_notebook",
]
ARGS = ["--timeout", "30", "--cell-timeout", "8", "--memory", "4", "--quiet"]


def digest(folder):
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("class"), ASSIGNMENT)
    ids = list(solved_sources(root, ASSIGNMENT))
    answers = solved_sources(root, ASSIGNMENT)
    submit(root, ASSIGNMENT, "alice", student_notebook(root, ASSIGNMENT, None))
    submit(root, ASSIGNMENT, "bob", student_notebook(root, ASSIGNMENT, set(ids[:2])))
    for case in HONEST_SUITE:
        submit(
            root,
            ASSIGNMENT,
            f"honest_{case.name}",
            case.build(student_notebook(root, ASSIGNMENT, None), answers),
        )
    cases = {h.name: h for h in HOSTILE}
    for name in IN_CLASS:
        case = cases[name]
        if case.missing:
            (root / "instructor" / "submitted" / name).mkdir(parents=True)
        elif case.raw is not None:
            submit(root, ASSIGNMENT, name, raw=case.raw)
        else:
            submit(
                root,
                ASSIGNMENT,
                name,
                case.build(student_notebook(root, ASSIGNMENT, set()), answers),
            )
    return root, cases


def rows(path):
    return {r["student_id"]: r for r in csv.DictReader(path.open())}


def test_grade_a_class_with_hostile_submissions(classroom, tmp_path):
    root, cases = classroom
    before = digest(root / "instructor" / "submitted")
    out = tmp_path / "grades.csv"
    assert main([ASSIGNMENT, "--root", str(root), "--workers", "2", "--out", str(out), *ARGS]) == 0
    assert digest(root / "instructor" / "submitted") == before, "submissions must not change"
    got = rows(out)
    assert list(got) == sorted(got) and len(got) == 2 + len(HONEST_SUITE) + len(IN_CLASS)
    assert out.read_text().splitlines()[0] == "student_id,score,max_score,status,flags"
    assert (got["alice"]["score"], got["alice"]["status"], got["alice"]["flags"]) == (
        "11",
        "graded",
        "",
    )
    assert got["bob"]["score"] == "6" and got["bob"]["flags"] == ""
    for case in HONEST_SUITE:  # full marks from both scores, so no score_mismatch either
        row = got[f"honest_{case.name}"]
        assert row["score"] == "11", (case.name, row)
        assert set(filter(None, row["flags"].split(";"))) <= set(case.flags), (case.name, row)
    for name in IN_CLASS:
        row, case = got[name], cases[name]
        assert row["flags"], name
        for flag in case.flags:
            assert flag in row["flags"].split(";"), (name, flag, row)
        if case.raw is not None or case.missing:
            assert row["status"] == "error" and row["score"] == "0"
        else:
            assert row["status"] == "graded"
            points = {"rnn_step": 3, "rnn_forward": 3, "rnn_output": 2, "many_to_one_logits": 3}
            assert float(row["score"]) == sum(points[p] for p in case.earned), (name, row)
    # In-kernel cheats that fooled nbgrader are caught by the comparison outside the kernel.
    for name in ("input_transformer_blanks_tests", "monkeypatched_testing"):
        assert "score_mismatch" in got[name]["flags"].split(";"), (name, got[name])
    assert (
        "kernel_died" in got["kills_kernel"]["flags"]
        or "nbgrader_error" in got["kills_kernel"]["flags"]
    )

    # What nbgrader writes is there, and nbgrader's own export reads it.
    assert (root / "instructor" / "autograded" / "alice" / ASSIGNMENT / "elman.ipynb").exists()
    feedback = (root / "instructor" / "feedback" / "bob" / ASSIGNMENT / "elman.html").read_text()
    assert "BEGIN HIDDEN TESTS" not in feedback and "seed=101" not in feedback
    assert "Isolated grading: 0/2" in feedback
    export = tmp_path / "export.csv"
    nbgrader(["export", "--to", str(export)], root)
    exported = {r["student_id"]: float(r["score"]) for r in csv.DictReader(export.open())}
    assert exported["alice"] == 11 and exported["bob"] == 6 and exported["always_equal"] == 0
    assert (tmp_path / "grades-report.png").stat().st_size > 1000
    assert "Most common failure messages" in (tmp_path / "grades-report.html").read_text()


def test_grade_on_a_dask_cluster_of_two_workers(classroom, tmp_path):
    distributed = pytest.importorskip("distributed")
    root, _ = classroom
    src = root / "instructor" / "submitted"
    few = tmp_path / "submitted"
    for name in ("alice", "bob", "always_equal", "broken_json"):
        for path in (src / name).rglob("*"):
            if path.is_file():
                target = few / path.relative_to(src)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(path.read_bytes())
    out = tmp_path / "dask.csv"
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        assert (
            main(
                [
                    ASSIGNMENT,
                    "--root",
                    str(root),
                    "--submitted",
                    str(few),
                    "--out",
                    str(out),
                    "--scheduler",
                    cluster.scheduler_address,
                    "--no-report",
                    *ARGS,
                ]
            )
            == 0
        )
    got = rows(out)
    assert {s: (r["score"], r["status"]) for s, r in got.items()} == {
        "alice": ("11", "graded"),
        "always_equal": ("0", "graded"),
        "bob": ("6", "graded"),
        "broken_json": ("0", "error"),
    }
    # The same class graded again (here by the local pool) gives the same CSV.
    again = tmp_path / "again.csv"
    assert (
        main(
            [
                ASSIGNMENT,
                "--root",
                str(root),
                "--submitted",
                str(few),
                "--out",
                str(again),
                "--workers",
                "2",
                "--no-report",
                *ARGS,
            ]
        )
        == 0
    )
    assert again.read_text() == out.read_text()
