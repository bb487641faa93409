"""Every graded part of every chapter, checked from its one declaration (autograder.parts).

For each part in the registry: the instructor's solution passes every case,
the student's stub fails every case, every declared mistake is caught by a
*visible* case with a hint that names it (so a green visible test is never
followed by lost points for a known mistake), the notebook's test cell and
the isolated grader run exactly the declared cases, and the declaration is
consistent with the reference and the solution.
"""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
from conftest import names, nbgrader_meta, notebook_path, read_notebook, solution_namespace

from autograder import calling
from autograder.chapters import CHAPTERS
from autograder.grading.sandbox import build_cases
from autograder.parts import Case, Part, parts_for

PARTS = [(c.name, p) for c in CHAPTERS for p in parts_for(c.name)]
IDS = [f"{a}:{p.grade_id}" for a, p in PARTS]


def _equal(a, b) -> bool:
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(map(_equal, a, b))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    return a == b


def _judge(part: Part, case: Case, value) -> str | None:
    args, expected = part.build(case)
    return part.judge(args, expected, calling.Outcome(value=calling.plain(value)))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.name)
def test_every_chapter_declares_its_graded_parts(chapter):
    parts = parts_for(chapter.name)
    assert len(parts) >= 4, "every chapter has at least four graded parts"
    ids = [p.grade_id for p in parts]
    assert len(set(ids)) == len(ids)
    assert len({p.test_id for p in parts} | set(ids)) == 2 * len(ids)


@pytest.mark.parametrize("assignment,part", PARTS, ids=IDS)
def test_the_declaration_is_consistent(assignment, part):
    assert part.points > 0 and part.visible and part.hidden
    assert not set(part.visible) & set(part.hidden), "a hidden case repeats a visible one"
    solution = solution_namespace(assignment)[part.name]
    assert tuple(inspect.signature(solution).parameters) == part.signature
    for case in part.cases():
        args, expected = part.build(case)
        again, _ = part.build(case)
        for name in part.signature:
            assert type(args[name]) is type(again[name])
            assert _equal(args[name], again[name]), "inputs must be deterministic"
        values = (expected,) if len(part.outputs) == 1 else expected
        assert len(values) == len(part.outputs)
        for out, value in zip(part.outputs, values):
            for item in value if out.kind == "arrays" else (value,) if out.kind == "array" else ():
                if out.kind == "array" or out.axes:
                    assert np.asarray(item).ndim == len(out.axes), (out.name, np.shape(item))
                if out.time_axis is not None:
                    assert out.axes[out.time_axis] == "time step"

    def shapes(args):  # array shapes, and the values of scalar sizes
        return tuple(
            tuple(np.shape(x) for x in v)
            if isinstance(v, tuple)
            else np.shape(v)
            if isinstance(v, np.ndarray)
            else v
            for v in args.values()
        )

    sizes = {shapes(part.build(c)[0]) for c in part.hidden}
    assert len(sizes) > 1, "hidden cases should vary the sizes"


@pytest.mark.parametrize("assignment,part", PARTS, ids=IDS)
def test_the_solution_passes_every_case(assignment, part, capfd):
    solution = solution_namespace(assignment)[part.name]
    part.check(solution)
    part.check(solution, hidden=True)
    out, err = capfd.readouterr()
    assert err == "", "a check wrote to stderr, which nbgrader scores as a failure"
    assert out.count(f"{part.name}: correct") == len(part.cases())


def _flipped_views(value):
    """The same values, each array a view with negative strides (what ``np.flip`` returns)."""
    if isinstance(value, tuple):
        return tuple(map(_flipped_views, value))
    if isinstance(value, np.ndarray) and value.ndim:
        return np.flip(np.flip(value).copy())
    return value


@pytest.mark.parametrize("assignment,part", PARTS, ids=IDS)
def test_an_answer_returned_as_flipped_views_is_judged_by_its_values(assignment, part):
    """The grader's sandbox hands back contiguous copies; the notebook's check must give the
    same verdict on the views themselves (torch refuses negative strides)."""
    solution = solution_namespace(assignment)[part.name]
    part.check(lambda *args: _flipped_views(solution(*args)))


@pytest.mark.parametrize("assignment,part", PARTS, ids=IDS)
def test_the_stub_fails_every_case(assignment, part):
    def stub(*args, **kwargs):
        raise NotImplementedError()

    for case in part.cases():
        with pytest.raises(AssertionError, match="not implemented yet"):
            part.check_case(stub, case)


@pytest.mark.parametrize("assignment,part", PARTS, ids=IDS)
def test_every_declared_mistake_is_computable_on_every_declared_case(assignment, part):
    """The mistake contract (CONTRIBUTING.md): a maker returns what the mistake gives, or None
    where it does not apply to these inputs; it never raises."""
    if part.mistakes is None:
        pytest.skip(f"{part.grade_id} declares no mistakes")
    for case in part.cases():
        args, _ = part.build(case)
        for desc, make in part.mistakes(args).items():
            try:
                make()
            except Exception as exc:  # noqa: BLE001
                pytest.fail(f"{case}: the mistake {desc!r} raised {exc!r}; return None instead")


@pytest.mark.parametrize("assignment,part", PARTS, ids=IDS)
def test_every_input_builder_takes_the_edge_sizes(assignment, part):
    """The input-builder contract (CONTRIBUTING.md): ``inputs(seed, **sizes)`` draws every size
    it is not given, and accepts the edge sizes a part declares it varies."""
    for case in part.cases():
        args = part.inputs(case.seed, **case.sizes)
        assert tuple(sorted(args)) == tuple(sorted(part.signature))
    import inspect

    accepted = inspect.signature(part.inputs).parameters
    for size in ("batch", "seq_len"):
        if size in accepted:
            args, _ = part.build(Case(7, **{size: 1}))  # one row, one step: still well formed
    if "zero_state" in accepted:
        part.build(Case(7, zero_state=True))


@pytest.mark.parametrize("assignment,part", PARTS, ids=IDS)
def test_design_parts_judge_by_a_property_that_the_reference_meets(assignment, part):
    """Design parts: the reference's own answer has the property on every case, and only
    design parts let the answer choose a size (``Output.free``)."""
    if not part.judged_by_property:
        assert not any(o.free for o in part.outputs), "only a design part may leave a size free"
        return
    for case in part.cases():
        args, expected = part.build(case)
        assert part.judge(args, expected, calling.Outcome(value=calling.plain(expected))) is None


@pytest.mark.parametrize("assignment,part", PARTS, ids=IDS)
def test_every_declared_mistake_is_caught_by_a_visible_case(assignment, part):
    """Fairness: a mistake the course knows must not pass the visible test and then lose points;
    and the notebook stops at the first visible case that fails, so that case must name it."""
    if part.mistakes is None:
        pytest.skip(f"{part.grade_id} declares no mistakes")
    first: dict[str, str] = {}  # mistake -> the message of the first visible case it fails
    seen: set[str] = set()
    for case in part.visible:
        args, _ = part.build(case)
        for desc, make in part.mistakes(args).items():
            seen.add(desc)
            value = make()  # None: the mistake does not apply to this case
            if desc not in first and value is not None:
                message = _judge(part, case, value)
                if message:
                    first[desc] = message
    missed = sorted(seen - set(first))
    assert not missed, f"visible cases of {part.grade_id} let these mistakes pass: {missed}"
    unnamed = [
        d for d, message in first.items() if not (names(message, d) or "round-off" in message)
    ]
    assert not unnamed, (
        "the first visible case these mistakes fail (the one the student sees) does not name "
        f"them: {unnamed}"
    )


@pytest.mark.parametrize("assignment", [c.name for c in CHAPTERS])
def test_the_notebook_and_the_grader_run_exactly_the_declared_cases(assignment, monkeypatch):
    parts = {p.grade_id: p for p in parts_for(assignment)}
    nb = read_notebook(notebook_path("solutions", assignment))
    namespace = solution_namespace(assignment)
    ran: dict[str, list[Case]] = {}
    monkeypatch.setattr(
        Part, "check_case", lambda self, fn, case: ran.setdefault(self.grade_id, []).append(case)
    )
    tests = [c for c in nb.cells if nbgrader_meta(c).get("grade")]
    assert [nbgrader_meta(c)["grade_id"] for c in tests] == [p.test_id for p in parts.values()]
    for cell in tests:
        exec(compile(cell.source, "<test cell>", "exec"), dict(namespace))
        assert nbgrader_meta(cell)["points"] == parts[nbgrader_meta(cell)["grade_id"][5:]].points
    grader = build_cases(list(parts.values()))
    for gid, part in parts.items():
        assert ran[gid] == list(part.cases()), f"{gid}: the notebook runs other cases"
        assert len(grader[gid]) == len(part.cases())
        for (args, _), case in zip(grader[gid], part.cases()):
            mine, _ = part.build(case)
            assert all(_equal(args[k], mine[k]) for k in part.signature)


def test_plain_values_cross_the_wire_with_their_types(tmp_path):
    """The isolated grader's I/O: several outputs, scalars of their own type, int/bool arrays."""
    values = (
        np.arange(6, dtype=np.int64).reshape(2, 3),
        np.array([True, False]),
        3,
        2.5,
        True,
        None,
        np.float64(1.0),
        [1, 2],
        np.zeros(2, dtype=np.float32),
        np.float32(0.5),
        np.int64(7),
        np.bool_(True),
    )
    desc = calling.encode(calling.plain(values), str(tmp_path), "v")
    back = calling.decode(json.loads(json.dumps(desc)), str(tmp_path))
    assert type(back) is tuple and len(back) == len(values)
    assert back[0].dtype == np.int64 and np.array_equal(back[0], values[0])
    assert back[1].dtype == np.bool_ and back[2] == 3 and type(back[2]) is int
    assert back[3] == 2.5 and type(back[3]) is float and back[4] is True and back[5] is None
    # NumPy scalars cross as 0-d arrays with their dtype (the judge accepts float64, not float32)
    assert type(back[6]) is np.ndarray and back[6].shape == () and back[6].dtype == np.float64
    assert type(back[7]) is calling.ListOf and back[7] == (1, 2), "a list inside a tuple"
    assert back[8].dtype == np.float32
    assert back[9].shape == () and back[9].dtype == np.float32
    assert back[10].dtype == np.int64 and int(back[10]) == 7 and back[11].dtype == np.bool_
    alone = calling.plain([np.zeros(2)])
    assert isinstance(alone, calling.Foreign) and "list" in alone.note, "a bare list is refused"


# --- the same parts on CUDA (skipped without a GPU) ------------------------------------


def _outputs(part, value):
    return (value,) if len(part.outputs) == 1 else tuple(value)


def assert_same_outputs(part, a, b, rtol=1e-10, atol=1e-12) -> None:
    """Two references' answers agree, output by output, element by element: arrays and floats
    within ``rtol``/``atol`` (nan where nan), tuples of arrays item by item, ints and bools
    exactly. (np.array_equal on a tuple of arrays of different shapes is always False.)"""
    for out, x, y in zip(part.outputs, _outputs(part, a), _outputs(part, b)):
        items = list(zip(x, y)) if out.kind == "arrays" else [(x, y)]
        if out.kind == "arrays":
            assert len(x) == len(y), out.name
        for i, (u, v) in enumerate(items):
            if out.kind in ("array", "arrays", "float"):
                np.testing.assert_allclose(v, u, rtol=rtol, atol=atol, err_msg=f"{out.name}[{i}]")
            else:
                assert type(u) is type(v) and u == v, out.name


@pytest.mark.parametrize("assignment,part", PARTS, ids=IDS)
def test_references_are_compared_output_by_output(assignment, part, monkeypatch):
    """The comparison the CUDA test uses, run on the CPU (two builds of every case), so that a
    comparison that cannot pass (a tuple of arrays given to np.array_equal) shows here."""
    monkeypatch.setenv("RNN_COURSE_DEVICE", "cpu")
    for case in part.cases():
        assert_same_outputs(part, part.build(case)[1], part.build(case)[1])
    args, expected = part.build(part.visible[0])
    if any(o.kind in ("array", "arrays") for o in part.outputs):
        wrong = _outputs(part, expected)
        index = next(i for i, o in enumerate(part.outputs) if o.kind in ("array", "arrays"))
        item = wrong[index]
        bumped = (
            tuple(a + 1.0 for a in item) if part.outputs[index].kind == "arrays" else item + 1.0
        )
        wrong = wrong[:index] + (bumped,) + wrong[index + 1 :]
        with pytest.raises(AssertionError):
            assert_same_outputs(part, expected, wrong if len(part.outputs) > 1 else wrong[0])


@pytest.mark.cuda
@pytest.mark.parametrize("assignment,part", PARTS, ids=IDS)
def test_on_cuda_references_agree_with_the_cpu_and_the_checks_still_judge(
    assignment, part, monkeypatch, capfd
):
    import torch

    from autograder.device import reference_device

    for case in part.cases():
        monkeypatch.setenv("RNN_COURSE_DEVICE", "cpu")
        _, cpu = part.build(case)
        monkeypatch.setenv("RNN_COURSE_DEVICE", "cuda")
        assert reference_device().type == "cuda"
        assert torch.backends.cuda.matmul.allow_tf32 is False
        assert torch.backends.cudnn.allow_tf32 is False
        _, gpu = part.build(case)
        assert_same_outputs(part, cpu, gpu)
    solution = solution_namespace(assignment)[part.name]
    part.check(solution)
    part.check(solution, hidden=True)
    assert capfd.readouterr().err == ""
    if part.mistakes is not None:
        args, _ = part.build(part.visible[0])
        for make in part.mistakes(args).values():
            value = make()
            if any(_judge(part, c, value) for c in part.visible[:1]):
                break
        else:
            pytest.fail("no declared mistake is rejected on CUDA")
