"""The calling runtime (autograder/calling.py): the guard that watches graded functions."""

from __future__ import annotations

import numpy as np

from autograder import calling
from autograder.parts import COURSE_DIR


def _call(fn, allowed=("numpy",), forbidden=()):
    return calling.call(
        fn, {"x": np.ones(3)}, allowed=allowed, forbidden=forbidden, course_dirs=(COURSE_DIR,)
    )


def test_numpy_the_standard_library_and_notebook_machinery_are_fine(capsys):
    import json

    import nbformat  # an installed, non-numerical package (like ipykernel behind print)

    def fn(x):
        print("debug", x.shape)
        json.dumps({"a": 1})
        nbformat.v4.new_code_cell("pass")
        return np.tanh(x) + sum(range(3))

    outcome = _call(fn)
    assert outcome.violation is None and outcome.error is None
    assert np.allclose(outcome.value, np.tanh(np.ones(3)) + 3)


def test_a_refused_library_is_named():
    import torch

    outcome = _call(lambda x: torch.from_numpy(x).tanh().numpy())
    assert outcome.violation and "torch" in outcome.violation
    assert "torch.from_numpy" in outcome.violation
    assert (
        _call(lambda x: torch.from_numpy(x).numpy(), allowed=("numpy", "torch")).violation is None
    )


def test_a_forbidden_module_is_named_even_where_its_library_is_allowed():
    import torch

    def fn(x):
        cell = torch.nn.RNNCell(3, 2, dtype=torch.float64)
        return cell(torch.from_numpy(x)[None]).detach().numpy()

    outcome = _call(fn, allowed=("numpy", "torch"), forbidden=("torch.nn.RNNCell",))
    assert outcome.violation == "it calls torch.nn.RNNCell"


def test_the_course_reference_is_refused():
    from autograder.references import ch02_elman as ref

    outcome = _call(lambda x: ref.rnn_output(x[None, None], np.eye(3), np.zeros(3))[0, 0])
    assert outcome.violation and "course's own code" in outcome.violation


def test_inputs_are_private_copies_and_writing_into_them_is_reported():
    def fn(x, pair):
        pair[0][:] = 0
        return x

    args = {"x": np.ones(2), "pair": (np.ones(2), np.ones(3))}
    outcome = calling.call(fn, args)
    assert outcome.mutated == "pair" and args["pair"][0].sum() == 2


def test_the_previous_profiler_is_restored():
    import sys

    marker = []
    sys.setprofile(lambda *a: marker.append(1))
    try:
        _call(lambda x: x)
        assert sys.getprofile() is not None
    finally:
        sys.setprofile(None)


SYMLINKED_VENV_SCRIPT = """
import sys, torch
import numpy as np
from autograder.checks.ch02_elman import check_rnn_step

def rnn_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    out = torch.tanh(torch.from_numpy(x_t) @ torch.from_numpy(W_ih).T
                     + torch.from_numpy(h_prev) @ torch.from_numpy(W_hh).T
                     + torch.from_numpy(b_ih + b_hh))
    return out.numpy()

assert "/link/" in torch.__file__, torch.__file__   # really reached through the link
try:
    check_rnn_step(rnn_step)
except AssertionError as err:
    print(str(err).splitlines()[0])
else:
    print("NOT REFUSED")
"""


def test_the_rule_holds_when_the_venv_is_reached_through_a_symbolic_link(tmp_path):
    """Issue 16: with a symlinked venv (or macOS's /tmp) the "NumPy only" rule was skipped in
    the kernel: code filenames were not resolved, site-packages folders were."""
    import os
    import subprocess
    import sys

    link = tmp_path / "link"
    link.symlink_to(sys.prefix, target_is_directory=True)
    python = link / "bin" / "python"
    proc = subprocess.run(
        [str(python), "-c", SYMLINKED_VENV_SCRIPT],
        capture_output=True,
        text=True,
        env={**os.environ, "RNN_COURSE_DEVICE": "cpu"},
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "may use NumPy only" in proc.stdout, proc.stdout + proc.stderr[-2000:]


def test_an_input_nudged_and_restored_by_arithmetic_is_not_called_changed():
    """A finite-difference checker nudges W[i, j] by eps and undoes it: round-off may leave the
    last bit changed, which is no bug. Forgetting to undo it is reported."""
    rng = np.random.default_rng(0)
    W = rng.normal(size=(5, 5))

    def restored(W):
        for i in range(5):
            for j in range(5):
                W[i, j] += 1e-2
                W[i, j] -= 2e-2
                W[i, j] += 1e-2
        return float(W.sum())

    def forgotten(W):
        W[2, 3] += 1e-2
        return float(W.sum())

    assert calling.call(restored, {"W": W}).mutated is None
    assert calling.call(forgotten, {"W": W}).mutated == "W"


def test_a_namedtuple_counts_as_a_tuple_and_a_lying_one_cannot_fake_its_items():
    """A student walk-through: returning a namedtuple was refused though it is a tuple."""
    from collections import namedtuple

    Grads = namedtuple("Grads", "dW db")
    value = calling.plain(Grads(np.ones(2), np.zeros(3)))
    assert type(value) is tuple and len(value) == 2 and value[1].shape == (3,)

    class Liar(tuple):
        def __iter__(self):
            return iter((np.zeros(2),))

        def __len__(self):
            return 1

        def __getitem__(self, i):
            return np.zeros(2)

    value = calling.plain(Liar((np.ones(5), np.ones(6))))
    assert [v.shape for v in value] == [(5,), (6,)], "the real items, not what it claims"
