"""Chapter 2 (02-elman) submissions that try to beat the autograder.

Each entry of :data:`HOSTILE` names a trick seen on notebook autograders and
builds the submitted notebook from the released one (``nb``, an nbformat
notebook) and the instructor's answers (``answers``: grade_id -> source). It
names the parts whose answers hold the trick (``cheats``) and the flags the row
must carry; which parts score zero and which keep their points is derived
(:meth:`Hostile.expected`). ``raw`` entries are written as text (broken files);
``missing`` entries submit no notebook.

Memory bombs allocate at most 8 GiB, so the machine is safe even if the
grader's limits failed; endless loops are plain loops the grader must stop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from . import edit_cell, grade_ids, set_cells

ASSIGNMENT = "02-elman"
PARTS = grade_ids(ASSIGNMENT)


@dataclass
class Hostile:
    """``cheats``: the parts whose answer cell holds the trick (None: a trick on the whole
    notebook, with every answer left as the stub). Which parts score zero and which keep
    their points follows from the solutions' call graph (:func:`expected`)."""

    name: str
    build: Callable | None = None  # (nb, answers) -> nb
    cheats: tuple[str, ...] | None = None
    flags: list[str] = field(default_factory=list)
    raw: str | None = None
    missing: bool = False
    slow: bool = False  # needs a timeout to end (skipped in the quick suite)

    def expected(self) -> tuple[list[str], list[str]]:
        """(parts that must score zero, parts that must keep their points)."""
        from . import earned_parts

        if self.cheats is None:
            return list(PARTS), []
        earned = earned_parts(ASSIGNMENT, PARTS, broken=self.cheats)
        return [p for p in PARTS if p not in earned], earned


ALWAYS_EQUAL = """
class _Anything(np.ndarray):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
class _Liar:
    shape = property(lambda self: self._shape)
    dtype = np.dtype("float64")
    def __init__(self, shape): self._shape = shape
    def __eq__(self, other): return True
    def __array__(self, *a, **k): return np.zeros(self._shape)
def rnn_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    return _Liar((x_t.shape[0], W_hh.shape[0]))
"""

BLANK_LATER_CELLS = """
ip = get_ipython()
ip.input_transformers_post.append(lambda lines: [] if any("check_" in l for l in lines) else lines)
def rnn_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    return x_t
"""

STRIP_ASSERTS = """
import re
def _strip(lines):
    out = []
    for line in lines:
        if re.match(r"\\s*(assert|raise)\\b", line):
            line = re.sub(r"(assert|raise)\\b.*", "pass", line)
        out.append(line)
    return ["try:\\n"] + ["    " + l for l in out] + ["\\nexcept BaseException:\\n    pass\\n"]
get_ipython().input_transformers_cleanup.append(_strip)
def rnn_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    raise AssertionError("wrong on purpose")
"""

MONKEYPATCH = """
import numpy.testing
import autograder.judging as _c
import autograder.parts as _p
import torch
_p.Part.judge = lambda *a, **k: None
_c.assert_matches = lambda *a, **k: None
_c.require_array = lambda got, *a, **k: got
np.testing.assert_allclose = lambda *a, **k: None
numpy.testing.assert_array_equal = lambda *a, **k: None
np.allclose = lambda *a, **k: True
torch.allclose = lambda *a, **k: True
torch.testing.assert_close = lambda *a, **k: None
def rnn_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    return np.zeros((x_t.shape[0], W_hh.shape[0]))
"""

CUSTOM_EXC = """
get_ipython().set_custom_exc((BaseException,), lambda self, etype, value, tb, tb_offset=None: None)
def rnn_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    return np.ones((x_t.shape[0], W_hh.shape[0]))
"""

TORCH_REFERENCE = """
import torch
def rnn_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    cell = torch.nn.RNNCell(W_ih.shape[1], W_ih.shape[0], dtype=torch.float64)
    with torch.no_grad():
        cell.weight_ih.copy_(torch.from_numpy(W_ih)); cell.weight_hh.copy_(torch.from_numpy(W_hh))
        cell.bias_ih.copy_(torch.from_numpy(b_ih)); cell.bias_hh.copy_(torch.from_numpy(b_hh))
        return cell(torch.from_numpy(x_t), torch.from_numpy(h_prev)).numpy()
"""

COURSE_REFERENCE = """
from autograder.references.ch02_elman import rnn_forward as _ref
def rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh):
    return _ref(x, h0, W_ih, W_hh, b_ih, b_hh)
"""

FAKE_SUCCESS = """
print("rnn_step: correct (seed 0; B=3, D=4, H=5)")
print("All tests passed!")
def rnn_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    print("rnn_step: correct (seed 0; B=3, D=4, H=5)")
    return None
"""

OS_EXIT = """
import os
os._exit(0)
"""

KILL_KERNEL = """
import os, signal
os.kill(os.getpid(), signal.SIGKILL)
"""

ENDLESS_LOOP = """
def rnn_output(hs, W_hy, b_y):
    while True:
        try:
            pass
        except BaseException:
            pass
"""

MEMORY_BOMB = """
_hoard = []
for _ in range(8):                      # at most 8 GiB, in 1 GiB blocks
    _hoard.append(np.ones(2**27))
def rnn_output(hs, W_hy, b_y):
    return hs @ W_hy.T + b_y
"""

HOSTILE = [
    Hostile(
        "always_equal",
        lambda nb, a: set_cells(nb, rnn_step=ALWAYS_EQUAL),
        flags=["suspicious:always_equal"],
    ),
    Hostile(
        "input_transformer_blanks_tests",
        lambda nb, a: set_cells(nb, rnn_step=BLANK_LATER_CELLS),
        flags=["suspicious:ipython_hooks"],
    ),
    Hostile(
        "input_transformer_strips_asserts",
        lambda nb, a: set_cells(nb, rnn_step=STRIP_ASSERTS),
        flags=["suspicious:ipython_hooks"],
    ),
    Hostile(
        "monkeypatched_testing",
        lambda nb, a: set_cells(nb, rnn_step=MONKEYPATCH),
        flags=["suspicious:patched_testing", "suspicious:course_package"],
    ),
    Hostile(
        "custom_exception_handler",
        lambda nb, a: set_cells(nb, rnn_step=CUSTOM_EXC),
        flags=["suspicious:ipython_hooks"],
    ),
    Hostile(
        "calls_torch_reference",
        lambda nb, a: set_cells(nb, a, rnn_step=TORCH_REFERENCE),
        cheats=("rnn_step",),
        flags=["rule_broken:rnn_step"],
    ),
    Hostile(
        "calls_course_reference",
        lambda nb, a: set_cells(nb, a, rnn_forward=COURSE_REFERENCE),
        cheats=("rnn_forward",),
        flags=["suspicious:course_package"],
    ),
    Hostile(
        "prints_fake_success",
        lambda nb, a: set_cells(nb, rnn_step=FAKE_SUCCESS),
        flags=["suspicious:fake_success"],
    ),
    Hostile(
        "os_exit",
        lambda nb, a: set_cells(nb, a, rnn_forward=OS_EXIT),
        cheats=("rnn_forward",),
        flags=["suspicious:process_exit", "sandbox_violation"],
    ),
    Hostile(
        "kills_kernel",
        lambda nb, a: set_cells(nb, a, rnn_output=KILL_KERNEL),
        cheats=("rnn_output",),
        flags=["suspicious:process_exit", "sandbox_violation"],
    ),
    Hostile(
        "endless_loop",
        lambda nb, a: set_cells(nb, a, rnn_output=ENDLESS_LOOP),
        cheats=("rnn_output",),
        flags=["stopped:rnn_output"],
        slow=True,
    ),
    Hostile(
        "memory_bomb",
        lambda nb, a: set_cells(nb, a, rnn_output=MEMORY_BOMB),
        cheats=("rnn_output",),
        flags=[],
    ),  # out_of_memory:rnn_output, or timeout:rnn_output on a slow machine
    Hostile(
        "deleted_test_cell",
        lambda nb, a: edit_cell(nb, "test_rnn_step", delete=True),
        flags=["deleted_cell:test_rnn_step"],
    ),
    Hostile(
        "edited_test_cell",
        lambda nb, a: edit_cell(nb, "test_rnn_forward", source="pass\n"),
        flags=["edited_cell:test_rnn_forward"],
    ),
    Hostile(
        "edited_imports_cell",
        lambda nb, a: edit_cell(
            nb,
            "imports",
            source="import numpy as np\n"
            + " = ".join(f"check_{p}" for p in PARTS)
            + " = lambda *a, **k: None\n",
        ),
        flags=["edited_cell:imports"],
    ),
    Hostile(
        "repointed_test_cell",
        lambda nb, a: edit_cell(
            edit_cell(nb, "test_rnn_step", new_id="test_rnn_step_old"),
            "rnn_step",
            new_id="test_rnn_step",
        ),
        flags=["missing_answer_cell:rnn_step"],
    ),
    Hostile("broken_json", raw='{"cells": [ this is not json', flags=["broken_json"]),
    Hostile("missing_notebook", missing=True, flags=["missing_notebook"]),
]
