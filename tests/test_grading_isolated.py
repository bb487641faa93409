"""The isolated grader against the hostile and the honest suites (tests/submissions/), without
nbgrader's kernel.

Each hostile submission must score zero on the parts it cheats, keep the points
of the parts it answers honestly, and carry its flags. Every honest submission
(helpers and imports in extra cells, prints, scratch cells with magics, stale
outputs, deleted or edited test cells, renamed parameters, NumPy scalars, PyTorch
idioms where PyTorch is allowed) must get full marks, in every chapter. Parts and
points come from the registry and the declarations (tests/submissions/__init__.py).
"""

from __future__ import annotations

import json

import nbformat
import pytest
from classroom import MARKERS, ROOT, make_course, solved_sources, student_notebook
from submissions import cell_index, notebook_file, points_of, set_cells, total_points
from submissions.honest import HONEST_SUITE, TORCH_IDIOMS, generated, torch_idiom_notebooks
from submissions.hostile import HOSTILE, TORCH_REFERENCE

from autograder.chapters import CHAPTERS
from autograder.checks import ch02_elman
from autograder.grading import gradebook as course_gradebook
from autograder.grading.job import Options, grade_submission
from autograder.grading.sandbox import (
    Limits,
    build_cases,
    notebook_cells,
    run_isolated,
    score_parts,
)
from autograder.parts import parts_for

ASSIGNMENT = "02-elman"
FULL = total_points(ASSIGNMENT)
QUICK = Options(run_nbgrader=False, sandbox_seconds=12, timeout=48, sandbox_mem=2 * 2**30)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("grading"), ASSIGNMENT)
    return root, course_gradebook.make_bundle(root, ASSIGNMENT)


def files_of(nb, assignment=ASSIGNMENT) -> dict[str, bytes]:
    return {
        notebook_file(assignment): nbformat.writes(nb).encode(),
        "timestamp.txt": b"2026-11-23 12:00:00 UTC",
    }


def grade(course, student, nb=None, raw=None, missing=False, options=QUICK):
    root, bundle = course
    if missing:
        files = {"timestamp.txt": b"x"}
    elif raw is not None:
        files = {notebook_file(bundle.assignment): raw.encode()}
    else:
        files = files_of(nb, bundle.assignment)
    return grade_submission(student, files, bundle, options)


def test_the_solution_gets_full_marks_and_no_flags(course):
    root, _ = course
    result = grade(course, "alice", student_notebook(root, ASSIGNMENT, None))
    assert (result.status, result.score, result.max_score, result.flags) == (
        "graded",
        FULL,
        FULL,
        [],
    )


@pytest.mark.parametrize("case", HONEST_SUITE, ids=lambda h: h.name)
def test_the_honest_suite_gets_full_marks(course, case):
    root, _ = course
    nb = case.build(student_notebook(root, ASSIGNMENT, None), solved_sources(root, ASSIGNMENT))
    result = grade(course, f"honest_{case.name}", nb)
    assert result.score == FULL, {k: v["message"][:400] for k, v in result.parts.items()}
    assert set(result.flags) <= set(case.flags), result.flags


def test_the_empty_notebook_scores_zero_with_teaching_messages(course):
    root, _ = course
    result = grade(course, "carol", student_notebook(root, ASSIGNMENT, set()))
    assert result.score == 0 and result.status == "graded"
    assert all("not implemented" in p["message"] for p in result.parts.values())


def test_a_torch_answer_is_refused_with_the_notebooks_own_message(course):
    """NumPy-only part: the same message in the kernel's check and in the isolated grader."""
    root, _ = course
    nb = set_cells(
        student_notebook(root, ASSIGNMENT, None), rnn_step="import torch\n" + TORCH_REFERENCE
    )
    result = grade(course, "erin", nb)
    assert result.parts["rnn_step"]["isolated"] == 0
    assert "rule_broken:rnn_step" in result.flags
    namespace = {"np": __import__("numpy")}
    exec("import torch\n" + TORCH_REFERENCE, namespace)
    with pytest.raises(AssertionError) as info:
        ch02_elman.check_rnn_step(namespace["rnn_step"])
    kernel = str(info.value).rsplit("\n(This was", 1)[0]
    assert "must not call torch.nn.RNNCell" in kernel
    assert result.parts["rnn_step"]["message"].rsplit("\n(This was", 1)[0] == kernel


def test_the_grader_says_how_student_code_was_isolated(course):
    root, _ = course
    result = grade(course, "frank", student_notebook(root, ASSIGNMENT, None))
    assert result.isolation in ("bubblewrap", "none")


@pytest.mark.parametrize("case", HOSTILE, ids=lambda h: h.name)
def test_hostile_submission_scores_zero_where_it_cheats_and_is_flagged(course, case):
    root, bundle = course
    nb = None
    if case.build is not None:
        nb = case.build(student_notebook(root, ASSIGNMENT, set()), solved_sources(root, ASSIGNMENT))
    result = grade(course, case.name, nb, raw=case.raw, missing=case.missing)
    for flag in case.flags:
        assert flag in result.flags, (flag, result.flags)
    if case.raw is not None or case.missing:
        assert result.status == "error" and result.score == 0
        return
    assert result.status == "graded"
    cheated, earned = case.expected()
    for part in cheated:
        assert result.parts[part]["isolated"] == 0, (part, result.parts[part])
    for part in earned:
        assert result.parts[part]["isolated"] == bundle.points[part], (part, result.parts[part])
    assert result.score == points_of(ASSIGNMENT, earned)
    assert result.flags, "a hostile submission must be flagged"


def test_results_are_plain_data_and_no_student_code_ran_here(course):
    """The grader process never imports what the sandbox would refuse to a student."""
    root, _ = course
    nb = student_notebook(root, ASSIGNMENT, None)
    result = grade(course, "dora", nb)
    json.dumps({"parts": result.parts, "flags": result.flags})  # plain data only


def test_the_command_says_where_it_looked_for_submissions(course, tmp_path, capsys):
    from autograder.grading.cli import main

    root, _ = course
    with pytest.raises(SystemExit, match="does not exist"):
        main([ASSIGNMENT, "--root", str(root), "--submitted", str(tmp_path / "nowhere"), "--quiet"])
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (
        main(
            [
                ASSIGNMENT,
                "--root",
                str(root),
                "--submitted",
                str(empty),
                "--quiet",
                "--out",
                str(tmp_path / "g.csv"),
                "--no-report",
            ]
        )
        == 1
    )
    assert f"no student folders in {empty}" in capsys.readouterr().err


# --- every chapter, through the sandbox -------------------------------------------------


def _solutions(chapter):
    """The solutions notebook of ``chapter`` with the solution markers removed."""
    nb = json.loads((ROOT / "solutions" / chapter.name / chapter.notebook_file).read_text())
    for cell in nb["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        cell["source"] = MARKERS.sub("", source)
    return nbformat.from_dict(nb)


def _isolated_verdict(nb, assignment):
    parts = list(parts_for(assignment))
    cases = build_cases(parts)
    run = run_isolated(notebook_cells(nb, parts), parts, cases, Limits(wall_seconds=60))
    return score_parts(parts, cases, run)


def _answers(chapter):
    return {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in _solutions(chapter).cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }


HONEST_CHAPTER_CASES = [(c, g) for c in CHAPTERS for g in generated(c.name)]


@pytest.mark.parametrize(
    "chapter,variant",
    HONEST_CHAPTER_CASES,
    ids=[f"{c.name}:{g.name}" for c, g in HONEST_CHAPTER_CASES],
)
def test_every_chapter_gives_full_marks_to_solutions_rewritten_honestly(chapter, variant):
    """Renamed parameters, helpers in extra cells with extra imports, NumPy scalars and debug
    prints (issue 16): full marks from the isolated grader, in every chapter."""
    nb = variant.build(_solutions(chapter), _answers(chapter))
    for gid, (ok, message, broke) in _isolated_verdict(nb, chapter.name).items():
        assert ok and not broke, (variant.name, gid, message[:600])


def _torch_parts():
    return [(c, p) for c in CHAPTERS for p in parts_for(c.name) if "torch" in p.allowed]


def test_every_part_that_allows_pytorch_has_a_table_of_idioms():
    assert _torch_parts(), "no part allows PyTorch"
    for chapter, part in _torch_parts():
        assert len(TORCH_IDIOMS.get(part.grade_id, {})) >= 4, (chapter.name, part.grade_id)


@pytest.mark.parametrize(
    "chapter", sorted({c for c, _ in _torch_parts()}, key=lambda c: c.number), ids=lambda c: c.name
)
def test_pytorch_idioms_get_full_marks_in_the_kernel_and_in_the_sandbox(chapter, capfd):
    """Issue 16: torch.optim.SGD scored 3/3 in the kernel and 0/3 in the sandbox."""
    notebooks = torch_idiom_notebooks(chapter.name, _solutions(chapter), _answers(chapter))
    for label, nb in notebooks.items():
        gid = label.split(":")[0]
        part = next(p for p in parts_for(chapter.name) if p.grade_id == gid)
        namespace = {}
        exec(compile(nb.cells[cell_index(nb, gid)].source, "<answer>", "exec"), namespace)
        part.check(namespace[part.name])
        part.check(namespace[part.name], hidden=True)
        assert capfd.readouterr().err == ""
        ok, message, broke = _isolated_verdict(nb, chapter.name)[gid]
        assert ok and not broke, (label, message[:600])


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.name)
def test_every_chapter_grades_its_solution_fully_and_its_stubs_at_zero(chapter):
    """The isolated grader runs each chapter's notebook as written, in the OS sandbox."""
    parts = list(parts_for(chapter.name))
    cases = build_cases(parts)
    for folder, full in (("solutions", True), ("exercises", False)):
        nb = json.loads((ROOT / folder / chapter.name / chapter.notebook_file).read_text())
        for cell in nb["cells"]:
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            cell["source"] = MARKERS.sub("", source)
        run = run_isolated(notebook_cells(nb, parts), parts, cases, Limits(wall_seconds=60))
        verdict = score_parts(parts, cases, run)
        for part in parts:
            ok, message, broke = verdict[part.grade_id]
            assert ok is full and not broke, (folder, part.grade_id, message[:500])
            if not full:
                assert "not implemented yet" in message, message[:300]


def test_grade_works_on_a_fresh_clone_and_names_the_known_assignments(tmp_path, capsys):
    """Issue 7: `make grade` died with MissingEntry until `make release` had been run."""
    import shutil

    from autograder.grading.cli import main

    root = tmp_path / "clone"
    for folder in ("solutions", "exercises"):
        shutil.copytree(ROOT / folder / ASSIGNMENT, root / folder / ASSIGNMENT)
    (root / "nbgrader_config.py").write_text(
        "from autograder.course import configure_nbgrader\n"
        f"configure_nbgrader(get_config(), root={str(root)!r})\n"
    )
    sub = tmp_path / "submitted" / "alice" / ASSIGNMENT
    sub.mkdir(parents=True)
    name = notebook_file(ASSIGNMENT)
    shutil.copy(ROOT / "exercises" / ASSIGNMENT / name, sub / name)
    assert not (root / "instructor" / "gradebook.db").exists()
    out = tmp_path / "grades.csv"
    assert (
        main(
            [
                ASSIGNMENT,
                "--root",
                str(root),
                "--submitted",
                str(tmp_path / "submitted"),
                "--out",
                str(out),
                "--workers",
                "1",
                "--isolated-only",
                "--quiet",
                "--no-report",
            ]
        )
        == 0
    )
    assert out.read_text().splitlines()[1].startswith(f"alice,0,{FULL:g},graded")
    assert sorted(p.name for p in (root / "exercises" / ASSIGNMENT).iterdir()) == [name]
    with pytest.raises(
        SystemExit, match="unknown assignment '99-nope'; the known ones are: 02-elman"
    ):
        main(["99-nope", "--root", str(root), "--quiet"])
