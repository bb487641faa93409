"""`python -m autograder grade` end to end on a small class with hostile submissions.

Runs the real command (local pool of 2 workers, then a Dask LocalCluster of two
workers) on a throw-away course: every submission gets a row, the hostile ones
are flagged and score zero where they cheat, nbgrader's gradebook, autograded
notebooks, feedback and export work, submitted/ is untouched, and a second run
gives the same CSV. Then every chapter's honest suite (solutions rewritten by program,
PyTorch idioms where allowed) goes through the same command, nbgrader's kernel included:
full marks, no score mismatch. Parts and points come from the registry.
"""

from __future__ import annotations

import csv
import hashlib

import pytest
from classroom import make_course, nbgrader, solved_sources, student_notebook, submit
from submissions import earned_parts, grade_ids, notebook_file, points_of, total_points
from submissions.honest import HONEST_SUITE, generated, torch_idiom_notebooks
from submissions.hostile import HOSTILE

from autograder.chapters import CHAPTERS
from autograder.grading.cli import main
from autograder.parts import parts_for

pytestmark = pytest.mark.slow
ASSIGNMENT = "02-elman"
PARTS = list(parts_for(ASSIGNMENT))
FULL = total_points(ASSIGNMENT)
HALF = grade_ids(ASSIGNMENT)[:2]  # bob answers the first two parts
HALF_POINTS = points_of(ASSIGNMENT, earned_parts(ASSIGNMENT, HALF))
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
    answers = solved_sources(root, ASSIGNMENT)
    submit(root, ASSIGNMENT, "alice", student_notebook(root, ASSIGNMENT, None))
    submit(root, ASSIGNMENT, "bob", student_notebook(root, ASSIGNMENT, set(HALF)))
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


def without_references(table):
    """The rows without the column that names where the references ran."""
    return {s: {k: v for k, v in r.items() if k != "references"} for s, r in table.items()}


def test_grade_a_class_with_hostile_submissions(classroom, tmp_path):
    root, cases = classroom
    before = digest(root / "instructor" / "submitted")
    out = tmp_path / "grades.csv"
    assert main([ASSIGNMENT, "--root", str(root), "--workers", "2", "--out", str(out), *ARGS]) == 0
    assert digest(root / "instructor" / "submitted") == before, "submissions must not change"
    got = rows(out)
    assert list(got) == sorted(got) and len(got) == 2 + len(HONEST_SUITE) + len(IN_CLASS)
    assert out.read_text().splitlines()[0] == "student_id,score,max_score,status,flags,references"
    assert {r["references"] for r in got.values()} == {"cpu"}
    assert (got["alice"]["score"], got["alice"]["status"], got["alice"]["flags"]) == (
        f"{FULL:g}",
        "graded",
        "",
    )
    assert got["bob"]["score"] == f"{HALF_POINTS:g}" and got["bob"]["flags"] == ""
    for case in HONEST_SUITE:  # full marks from both scores, so no score_mismatch either
        row = got[f"honest_{case.name}"]
        assert row["score"] == f"{FULL:g}", (case.name, row)
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
            assert float(row["score"]) == points_of(ASSIGNMENT, case.expected()[1]), (name, row)
    # In-kernel cheats that fooled nbgrader are caught by the comparison outside the kernel.
    for name in ("input_transformer_blanks_tests", "monkeypatched_testing"):
        assert "score_mismatch" in got[name]["flags"].split(";"), (name, got[name])
    assert (
        "kernel_died" in got["kills_kernel"]["flags"]
        or "nbgrader_error" in got["kills_kernel"]["flags"]
    )

    # What nbgrader writes is there, and nbgrader's own export reads it.
    name = notebook_file(ASSIGNMENT)
    assert (root / "instructor" / "autograded" / "alice" / ASSIGNMENT / name).exists()
    page = name.replace(".ipynb", ".html")
    feedback = (root / "instructor" / "feedback" / "bob" / ASSIGNMENT / page).read_text()
    first_hidden = f"seed={PARTS[0].hidden[0].seed}"
    assert "BEGIN HIDDEN TESTS" not in feedback and first_hidden not in feedback
    unanswered = next(p for p in PARTS if p.grade_id not in HALF)
    assert f"Isolated grading: 0/{unanswered.points:g}" in feedback
    export = tmp_path / "export.csv"
    nbgrader(["export", "--to", str(export)], root)
    exported = {r["student_id"]: float(r["score"]) for r in csv.DictReader(export.open())}
    assert exported["alice"] == FULL and exported["bob"] == HALF_POINTS
    assert exported["always_equal"] == 0
    assert "References of record computed on: cpu" in (tmp_path / "grades-report.html").read_text()
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
        "alice": (f"{FULL:g}", "graded"),
        "always_equal": ("0", "graded"),
        "bob": (f"{HALF_POINTS:g}", "graded"),
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


def _solutions_release(root, assignment):
    """The released notebook with every answer filled in, and the answers (as students see)."""
    return student_notebook(root, assignment, None), solved_sources(root, assignment)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.name)
def test_every_chapters_honest_suite_gets_full_marks_from_make_grade(chapter, tmp_path):
    """Issue 16: renamed parameters, NumPy scalars, helpers and imports in extra cells, debug
    prints and PyTorch idioms get full marks, in the kernel and in the sandbox alike (no
    score_mismatch), in every chapter. Also: the references of record computed once per
    class give the same CSV as references computed live in every job."""
    root = make_course(tmp_path, chapter.name)
    nb, answers = _solutions_release(root, chapter.name)
    notebooks = {f"gen_{g.name}": g.build(nb, answers) for g in generated(chapter.name)}
    idioms = torch_idiom_notebooks(chapter.name, nb, answers)
    for i, idiom_nb in enumerate(idioms.values()):
        notebooks[f"torch_{i}"] = idiom_nb
    for student, notebook in notebooks.items():
        submit(root, chapter.name, student, notebook)
    full = total_points(chapter.name)
    out = tmp_path / "grades.csv"
    # Honest notebooks that import torch need more than the hostile tests' 7.5 s per sandbox
    # start on a loaded machine (torch.optim's first step imports its compiler stack).
    args = [chapter.name, "--root", str(root), "--workers", "2", "--no-report"]
    args += ["--timeout", "120", "--cell-timeout", "30", "--memory", "4", "--quiet"]
    assert main([*args, "--out", str(out)]) == 0
    got = rows(out)
    assert set(got) == set(notebooks)
    for student, row in got.items():
        assert (row["score"], row["status"], row["flags"]) == (f"{full:g}", "graded", ""), (
            student,
            row,
        )
    live = tmp_path / "live.csv"
    assert main([*args, "--isolated-only", "--live-references", "--out", str(live)]) == 0
    precomputed = tmp_path / "precomputed.csv"
    assert main([*args, "--isolated-only", "--out", str(precomputed)]) == 0
    assert without_references(rows(live)) == without_references(rows(precomputed))
    assert {r["references"] for r in rows(live).values()} == {"cpu (live, per job)"}
    assert {r["references"] for r in rows(precomputed).values()} == {"cpu"}


@pytest.mark.cuda
def test_one_class_gives_the_same_csv_with_references_on_the_cpu_and_on_cuda(tmp_path, monkeypatch):
    """Issue 16: the references of record are computed once per class in the grader's process,
    on the GPU where there is one; kernels and workers stay on the CPU. The same class must get
    the same rows either way (only the ``references`` column differs)."""
    root = make_course(tmp_path, ASSIGNMENT)
    nb, answers = _solutions_release(root, ASSIGNMENT)
    submit(root, ASSIGNMENT, "alice", nb)
    submit(root, ASSIGNMENT, "bob", student_notebook(root, ASSIGNMENT, set(HALF)))
    submit(root, ASSIGNMENT, "carol", student_notebook(root, ASSIGNMENT, set()))
    for variant in generated(ASSIGNMENT):
        submit(root, ASSIGNMENT, f"gen_{variant.name}", variant.build(nb, answers))
    cases = {h.name: h for h in HOSTILE}
    for name in ("always_equal", "calls_torch_reference", "monkeypatched_testing"):
        submit(
            root,
            ASSIGNMENT,
            name,
            cases[name].build(student_notebook(root, ASSIGNMENT, set()), answers),
        )
    args = [ASSIGNMENT, "--root", str(root), "--workers", "4", "--no-report", *ARGS]
    monkeypatch.setenv("RNN_COURSE_DEVICE", "cpu")
    assert main([*args, "--out", str(tmp_path / "cpu.csv")]) == 0
    monkeypatch.delenv("RNN_COURSE_DEVICE")
    assert main([*args, "--out", str(tmp_path / "cuda.csv")]) == 0
    cpu, cuda = rows(tmp_path / "cpu.csv"), rows(tmp_path / "cuda.csv")
    assert {r["references"] for r in cpu.values()} == {"cpu"}
    assert {r["references"].split(" ")[0] for r in cuda.values()} == {"cuda"}
    assert without_references(cpu) == without_references(cuda)
    assert cuda["alice"]["score"] == f"{FULL:g}" and cuda["carol"]["score"] == "0"
    print("cuda references:", next(iter(cuda.values()))["references"])
