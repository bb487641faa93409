"""Chapter 2 (02-elman) submissions that try to beat the autograder, and honest ones
written very differently from the solution.

Each entry of :data:`HOSTILE` names a trick seen on notebook autograders and
builds the submitted notebook from the released one (``nb``, an nbformat
notebook) and the instructor's answers (``answers``: grade_id -> source). It
states which parts must score zero (``cheated``), which must still earn their
points (``earned``) and which flags the row must carry. ``raw`` entries are
written as text (broken files); ``missing`` entries submit no notebook.

Memory bombs allocate at most 8 GiB, so the machine is safe even if the
grader's limits failed; endless loops are plain loops the grader must stop.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import nbformat

PARTS = ["rnn_step", "rnn_forward", "rnn_output", "many_to_one_logits"]
STUB = "raise NotImplementedError()\n"


@dataclass
class Hostile:
    name: str
    build: Callable | None = None  # (nb, answers) -> nb
    cheated: list[str] = field(default_factory=lambda: list(PARTS))
    earned: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    raw: str | None = None
    missing: bool = False
    slow: bool = False  # needs a timeout to end (skipped in the quick suite)


def _set(nb, answers=None, **cells):
    """A copy of ``nb`` with answer cells replaced (by grade_id); others from ``answers``."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in cells:
            cell.source = cells[gid]
        elif answers and gid in answers:
            cell.source = answers[gid]
    return nb


def _edit_cell(nb, gid, source=None, delete=False, new_id=None):
    nb = copy.deepcopy(nb)
    for i, cell in enumerate(nb.cells):
        if cell.metadata.get("nbgrader", {}).get("grade_id") == gid:
            if delete:
                del nb.cells[i]
            else:
                if source is not None:
                    cell.source = source
                if new_id is not None:
                    cell.metadata["nbgrader"]["grade_id"] = new_id
            break
    return nb


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
        lambda nb, a: _set(nb, rnn_step=ALWAYS_EQUAL),
        cheated=["rnn_step"],
        flags=["suspicious:always_equal"],
    ),
    Hostile(
        "input_transformer_blanks_tests",
        lambda nb, a: _set(nb, rnn_step=BLANK_LATER_CELLS),
        flags=["suspicious:ipython_hooks"],
    ),
    Hostile(
        "input_transformer_strips_asserts",
        lambda nb, a: _set(nb, rnn_step=STRIP_ASSERTS),
        flags=["suspicious:ipython_hooks"],
    ),
    Hostile(
        "monkeypatched_testing",
        lambda nb, a: _set(nb, rnn_step=MONKEYPATCH),
        flags=["suspicious:patched_testing", "suspicious:course_package"],
    ),
    Hostile(
        "custom_exception_handler",
        lambda nb, a: _set(nb, rnn_step=CUSTOM_EXC),
        flags=["suspicious:ipython_hooks"],
    ),
    Hostile(
        "calls_torch_reference",
        lambda nb, a: _set(nb, a, rnn_step=TORCH_REFERENCE),
        cheated=["rnn_step", "rnn_forward", "many_to_one_logits"],
        earned=["rnn_output"],
        flags=["rule_broken:rnn_step", "rule_broken:rnn_forward"],
    ),
    Hostile(
        "calls_course_reference",
        lambda nb, a: _set(nb, a, rnn_forward=COURSE_REFERENCE),
        cheated=["rnn_forward", "many_to_one_logits"],
        earned=["rnn_step", "rnn_output"],
        flags=["suspicious:course_package"],
    ),
    Hostile(
        "prints_fake_success",
        lambda nb, a: _set(nb, rnn_step=FAKE_SUCCESS),
        flags=["suspicious:fake_success"],
    ),
    Hostile(
        "os_exit",
        lambda nb, a: _set(nb, a, rnn_forward=OS_EXIT),
        cheated=["rnn_forward", "many_to_one_logits"],
        earned=["rnn_step", "rnn_output"],
        flags=["suspicious:process_exit", "sandbox_violation"],
    ),
    Hostile(
        "kills_kernel",
        lambda nb, a: _set(nb, a, rnn_output=KILL_KERNEL),
        cheated=["rnn_output"],
        earned=["rnn_step", "rnn_forward", "many_to_one_logits"],
        flags=["suspicious:process_exit", "sandbox_violation"],
    ),
    Hostile(
        "endless_loop",
        lambda nb, a: _set(nb, a, rnn_output=ENDLESS_LOOP),
        cheated=["rnn_output"],
        earned=["rnn_step", "rnn_forward", "many_to_one_logits"],
        flags=["stopped:rnn_output"],
        slow=True,
    ),
    Hostile(
        "memory_bomb",
        lambda nb, a: _set(nb, a, rnn_output=MEMORY_BOMB),
        cheated=["rnn_output"],
        earned=["rnn_step", "rnn_forward", "many_to_one_logits"],
        flags=[],
    ),  # out_of_memory:rnn_output, or timeout:rnn_output on a slow machine
    Hostile(
        "deleted_test_cell",
        lambda nb, a: _edit_cell(nb, "test_rnn_step", delete=True),
        flags=["deleted_cell:test_rnn_step"],
    ),
    Hostile(
        "edited_test_cell",
        lambda nb, a: _edit_cell(nb, "test_rnn_forward", source="pass\n"),
        flags=["edited_cell:test_rnn_forward"],
    ),
    Hostile(
        "edited_imports_cell",
        lambda nb, a: _edit_cell(
            nb,
            "imports",
            source="import numpy as np\n"
            "check_rnn_step = check_rnn_forward = check_rnn_output = "
            "check_many_to_one_logits = lambda *a, **k: None\n",
        ),
        flags=["edited_cell:imports"],
    ),
    Hostile(
        "repointed_test_cell",
        lambda nb, a: _edit_cell(
            _edit_cell(nb, "test_rnn_step", new_id="test_rnn_step_old"),
            "rnn_step",
            new_id="test_rnn_step",
        ),
        flags=["missing_answer_cell:rnn_step"],
    ),
    Hostile("broken_json", raw='{"cells": [ this is not json', flags=["broken_json"]),
    Hostile("missing_notebook", missing=True, flags=["missing_notebook"]),
]

# Honest submissions written unlike the solution: must get full marks, no flags.
LOOPS = {
    "rnn_step": """
def rnn_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    B, D = x_t.shape
    H = W_hh.shape[0]
    out = np.zeros((B, H))
    for b in range(B):
        for h in range(H):
            s = b_ih[h] + b_hh[h]
            for d in range(D):
                s += x_t[b, d] * W_ih[h, d]
            for k in range(H):
                s += h_prev[b, k] * W_hh[h, k]
            out[b, h] = np.tanh(s)
    return out
""",
    "rnn_forward": """
def rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh):
    states = []
    h = h0.copy()
    for t in range(x.shape[1]):
        h = rnn_step(x[:, t], h, W_ih, W_hh, b_ih, b_hh)
        states.append(h)
    return np.stack(states, axis=1)
""",
    "rnn_output": """
def rnn_output(hs, W_hy, b_y):
    B, T, H = hs.shape
    return (hs.reshape(B * T, H).dot(W_hy.T) + b_y).reshape(B, T, -1)
""",
    "many_to_one_logits": """
def many_to_one_logits(x, h0, W_ih, W_hh, b_ih, b_hh, W_hy, b_y):
    h = h0
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ W_ih.T + h @ W_hh.T + b_ih + b_hh)
    return np.einsum("oh,bh->bo", W_hy, h) + b_y
""",
}

MATMUL_FLOAT64 = {
    "rnn_step": """
def rnn_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    z = np.concatenate([x_t, h_prev], axis=1) @ np.concatenate([W_ih, W_hh], axis=1).T
    return np.tanh(z + b_ih + b_hh).astype(np.float64)
""",
    "rnn_forward": """
def rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh):
    B, T, D = x.shape
    pre = (x.reshape(B * T, D) @ W_ih.T).reshape(B, T, -1) + b_ih + b_hh   # inputs all at once
    hs = np.empty(pre.shape)
    h = h0
    for t in range(T):
        h = np.tanh(pre[:, t] + h @ W_hh.T)
        hs[:, t] = h
    return hs
""",
    "rnn_output": """
def rnn_output(hs, W_hy, b_y):
    return np.tensordot(hs, W_hy, axes=([2], [1])) + b_y
""",
    "many_to_one_logits": """
def many_to_one_logits(x, h0, W_ih, W_hh, b_ih, b_hh, W_hy, b_y):
    return rnn_output(rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh)[:, -1:], W_hy, b_y)[:, 0]
""",
}

HONEST = {"loops": LOOPS, "matmul_concat": MATMUL_FLOAT64}


def honest_notebook(nb, style: str):
    return _set(nb, **HONEST[style])


# ---------------------------------------------------------------------------------------
# The honest suite: correct notebooks written the way real students write them. Every
# one must get full marks from `make grade` (isolated and in-kernel scores alike).


def _index(nb, gid):
    return next(
        i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == gid
    )


def _insert(nb, before_gid, cell):
    nb = copy.deepcopy(nb)
    nb.cells.insert(_index(nb, before_gid), cell)
    return nb


def _code(source):
    return nbformat.v4.new_code_cell(source)


HELPER_CELL = '''
def affine(x, W, b):
    """x @ W.T + b for a batch of rows."""
    return x @ W.T + b
'''

WITH_HELPER = """
def rnn_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    return np.tanh(affine(x_t, W_ih, b_ih) + affine(h_prev, W_hh, b_hh))
"""

IMPORTS_CELL = """
import math
import numpy
import torch                       # only to explore, below; the graded functions use NumPy
from numpy import tanh as np_tanh
"""

WITH_ALIASES = """
def rnn_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    z = numpy.matmul(x_t, W_ih.T) + numpy.matmul(h_prev, W_hh.T) + b_ih + b_hh
    return np_tanh(z) * math.cos(0.0)
"""

DEBUG_PRINTS = """
def rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh):
    print("x", x.shape, "h0", h0.shape)
    hs, h = [], h0
    for t in range(x.shape[1]):
        h = rnn_step(x[:, t], h, W_ih, W_hh, b_ih, b_hh)
        print("step", t, "norm", float(np.linalg.norm(h)))
        hs.append(h)
    return np.stack(hs, axis=1)
"""

SCRATCH = """
%matplotlib inline
import matplotlib.pyplot as plt
x = np.random.default_rng(0).normal(size=(2, 3, 4))
print(torch.tensor(x).shape)        # exploring with PyTorch is fine outside graded functions
plt.plot(x[0, :, 0]); plt.show()
check_rnn_step(rnn_step)             # running a check again in a scratch cell
"""

TIMEIT_AND_HELPER = """
%timeit -n 1 -r 1 sum(range(10))
def last_state(x, h0, W_ih, W_hh, b_ih, b_hh):
    return rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh)[:, -1]
"""

LOGITS_WITH_HELPER = """
def many_to_one_logits(x, h0, W_ih, W_hh, b_ih, b_hh, W_hy, b_y):
    return last_state(x, h0, W_ih, W_hh, b_ih, b_hh) @ W_hy.T + b_y
"""


def _stale_outputs(nb):
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.outputs = [
                nbformat.v4.new_output(
                    "error",
                    ename="AssertionError",
                    evalue="`rnn_step` is not implemented yet",
                    traceback=["AssertionError: old run"],
                )
            ]
            cell.execution_count = 3
    return nb


def _markdown_and_scratch(nb):
    nb = _insert(
        nb, "test_rnn_forward", nbformat.v4.new_markdown_cell("My notes: h_t depends on h_{t-1}.")
    )
    return _insert(nb, "rnn_forward", _code(SCRATCH))


@dataclass
class Honest:
    name: str
    build: Callable  # (nb with every answer filled in, answers) -> nb
    flags: list[str] = field(default_factory=list)  # flags it may carry (never points)


HONEST_SUITE = [
    Honest(
        "helper_in_extra_cell",
        lambda nb, a: _insert(_set(nb, rnn_step=WITH_HELPER), "rnn_step", _code(HELPER_CELL)),
    ),
    Honest(
        "imports_in_extra_cell",
        lambda nb, a: _insert(_set(nb, rnn_step=WITH_ALIASES), "rnn_step", _code(IMPORTS_CELL)),
    ),
    Honest("debug_prints", lambda nb, a: _set(nb, rnn_forward=DEBUG_PRINTS)),
    Honest(
        "markdown_and_scratch_cells",
        lambda nb, a: _markdown_and_scratch(_insert(nb, "rnn_step", _code(IMPORTS_CELL))),
    ),
    Honest(
        "magics_and_helper_cell",
        lambda nb, a: _insert(
            _set(nb, many_to_one_logits=LOGITS_WITH_HELPER),
            "many_to_one_logits",
            _code(TIMEIT_AND_HELPER),
        ),
    ),
    Honest("stale_error_outputs", lambda nb, a: _stale_outputs(nb)),
    Honest(
        "deleted_test_cell",
        lambda nb, a: _edit_cell(nb, "test_rnn_output", delete=True),
        flags=["deleted_cell:test_rnn_output"],
    ),
    Honest(
        "edited_test_cell",
        lambda nb, a: _edit_cell(
            nb,
            "test_rnn_forward",
            source="check_rnn_forward(rnn_forward)\nprint('my own extra line')\n",
        ),
        flags=["edited_cell:test_rnn_forward"],
    ),
    Honest("loops", lambda nb, a: honest_notebook(nb, "loops")),
    Honest("matmul_concat", lambda nb, a: honest_notebook(nb, "matmul_concat")),
]
