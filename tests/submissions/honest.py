"""Honest submissions written unlike the solutions: every one must get full marks.

* :data:`HONEST_SUITE`: chapter 2 notebooks as real students write them (helpers and imports
  in extra cells, debug prints, scratch cells with magics, stale outputs, deleted or edited
  test cells, loops, other matrix layouts).
* :func:`generated`: for EVERY chapter, the solutions rewritten by program (renamed
  parameters; each answer's body moved into a helper in an extra cell, with extra imports;
  NumPy scalars returned where Python numbers are asked, with debug prints).
* :data:`TORCH_IDIOMS`: for every part that allows PyTorch, answers written with the idioms
  people use (``torch.optim``, ``nn`` modules and ``torch.nn.functional``,
  ``torch.autograd.grad``, ``torch.func``, ``no_grad``, ``.item()``, ``.numpy()``,
  ``.detach()``). A test checks that this table covers every such part.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import nbformat

from autograder.parts import parts_for

from . import code, edit_cell, insert_before, set_cells

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
    return set_cells(nb, **HONEST[style])


# ---------------------------------------------------------------------------------------
# The honest suite: correct notebooks written the way real students write them. Every
# one must get full marks from `make grade` (isolated and in-kernel scores alike).


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
    nb = insert_before(
        nb, "test_rnn_forward", nbformat.v4.new_markdown_cell("My notes: h_t depends on h_{t-1}.")
    )
    return insert_before(nb, "rnn_forward", code(SCRATCH))


@dataclass
class Honest:
    name: str
    build: Callable  # (nb with every answer filled in, answers) -> nb
    flags: list[str] = field(default_factory=list)  # flags it may carry (never points)


HONEST_SUITE = [
    Honest(
        "helper_in_extra_cell",
        lambda nb, a: insert_before(
            set_cells(nb, rnn_step=WITH_HELPER), "rnn_step", code(HELPER_CELL)
        ),
    ),
    Honest(
        "imports_in_extra_cell",
        lambda nb, a: insert_before(
            set_cells(nb, rnn_step=WITH_ALIASES), "rnn_step", code(IMPORTS_CELL)
        ),
    ),
    Honest("debug_prints", lambda nb, a: set_cells(nb, rnn_forward=DEBUG_PRINTS)),
    Honest(
        "markdown_and_scratch_cells",
        lambda nb, a: _markdown_and_scratch(insert_before(nb, "rnn_step", code(IMPORTS_CELL))),
    ),
    Honest(
        "magics_and_helper_cell",
        lambda nb, a: insert_before(
            set_cells(nb, many_to_one_logits=LOGITS_WITH_HELPER),
            "many_to_one_logits",
            code(TIMEIT_AND_HELPER),
        ),
    ),
    Honest("stale_error_outputs", lambda nb, a: _stale_outputs(nb)),
    Honest(
        "deleted_test_cell",
        lambda nb, a: edit_cell(nb, "test_rnn_output", delete=True),
        flags=["deleted_cell:test_rnn_output"],
    ),
    Honest(
        "edited_test_cell",
        lambda nb, a: edit_cell(
            nb,
            "test_rnn_forward",
            source="check_rnn_forward(rnn_forward)\nprint('my own extra line')\n",
        ),
        flags=["edited_cell:test_rnn_forward"],
    ),
    Honest("loops", lambda nb, a: honest_notebook(nb, "loops")),
    Honest("matmul_concat", lambda nb, a: honest_notebook(nb, "matmul_concat")),
]


# ---------------------------------------------------------------------------------------
# Every chapter: the solutions rewritten by program. Each variant must get full marks.


def _function_of(tree: ast.Module, name: str) -> ast.FunctionDef:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    raise LookupError(f"no function {name!r} in the answer")


class _Rename(ast.NodeTransformer):
    def __init__(self, names: dict[str, str]):
        self.names = names

    def visit_Name(self, node):
        if node.id in self.names:
            node.id = self.names[node.id]
        return node

    def visit_arg(self, node):
        if node.arg in self.names:
            node.arg = self.names[node.arg]
        return node


def renamed_parameters(source: str, function: str) -> str:
    """The answer with every parameter of ``function`` renamed (``x_t`` -> ``x_t_in``...)."""
    tree = ast.parse(source)
    fn = _function_of(tree, function)
    names = {a.arg: f"{a.arg}_in" for a in fn.args.args}
    _Rename(names).visit(fn)
    return ast.unparse(tree) + "\n"


def body_in_helper(source: str, function: str) -> tuple[str, str]:
    """(an extra cell defining ``_<function>_impl`` with the answer's code, the answer cell
    reduced to a call of it): helpers in extra cells work."""
    tree = ast.parse(source)
    fn = _function_of(tree, function)
    params = [a.arg for a in fn.args.args]
    fn.name = f"_{function}_impl"
    helper = ast.unparse(tree) + "\n"
    answer = (
        f"def {function}({', '.join(params)}):\n    return _{function}_impl({', '.join(params)})\n"
    )
    return helper, answer


NUMPY_SCALARS_CELL = '''
import numpy as np

def as_numpy_scalars(value):
    """Python numbers -> NumPy scalars, inside tuples too (arrays untouched)."""
    if isinstance(value, tuple):
        return tuple(as_numpy_scalars(v) for v in value)
    if isinstance(value, bool):
        return np.bool_(value)
    if isinstance(value, int):
        return np.int64(value)
    if isinstance(value, float):
        return np.float64(value)
    return value
'''


class _ScalarReturns(ast.NodeTransformer):
    """Every ``return X`` of the function becomes ``return as_numpy_scalars(X)``; a debug
    print opens its body."""

    def __init__(self, function: str):
        self.function = function
        self.depth = 0

    def visit_FunctionDef(self, node):
        self.depth += 1
        if self.depth == 1:
            node.body.insert(
                0,
                ast.parse(
                    f"print('debug: {self.function} called with', len(locals()), 'args')"
                ).body[0],
            )
        self.generic_visit(node)
        self.depth -= 1
        return node

    def visit_Return(self, node):
        if self.depth == 1 and node.value is not None:
            node.value = ast.Call(
                func=ast.Name("as_numpy_scalars", ast.Load()), args=[node.value], keywords=[]
            )
        return node


def numpy_scalar_returns(source: str, function: str) -> str:
    tree = ast.parse(source)
    fn = _function_of(tree, function)
    _ScalarReturns(function).visit(fn)
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


EXTRA_IMPORTS = """
import math
import statistics
import numpy
import numpy as np
import torch                      # to explore outside the graded functions
from numpy import linalg as LA
"""


@dataclass
class Generated:
    """A whole-notebook rewrite of the solutions: (released nb with answers, answers) -> nb."""

    name: str
    build: Callable
    flags: list[str] = field(default_factory=list)


def _renamed(assignment):
    def build(nb, answers):
        cells = {
            p.grade_id: renamed_parameters(answers[p.grade_id], p.name)
            for p in parts_for(assignment)
        }
        return set_cells(nb, **cells)

    return build


def _helpers(assignment):
    def build(nb, answers):
        nb = insert_before(nb, parts_for(assignment)[0].grade_id, code(EXTRA_IMPORTS))
        for part in parts_for(assignment):
            helper, answer = body_in_helper(answers[part.grade_id], part.name)
            nb = insert_before(
                set_cells(nb, **{part.grade_id: answer}), part.grade_id, code(helper)
            )
        return nb

    return build


def _scalars(assignment):
    def build(nb, answers):
        cells = {
            p.grade_id: numpy_scalar_returns(answers[p.grade_id], p.name)
            for p in parts_for(assignment)
        }
        first = parts_for(assignment)[0].grade_id
        return insert_before(set_cells(nb, **cells), first, code(NUMPY_SCALARS_CELL))

    return build


def generated(assignment: str) -> list[Generated]:
    """The solutions of ``assignment`` rewritten three ways (every chapter)."""
    return [
        Generated("renamed_parameters", _renamed(assignment)),
        Generated("helpers_in_extra_cells", _helpers(assignment)),
        Generated("numpy_scalars_and_prints", _scalars(assignment)),
    ]


# ---------------------------------------------------------------------------------------
# Every part that allows PyTorch: answers in the idioms people use, one module per chapter
# (tests/submissions/idioms_chNN_<slug>.py, a dict IDIOMS = {grade_id: {idiom: answer}}).


def _torch_idioms() -> dict[str, dict[str, str]]:
    import importlib
    import os

    from autograder.chapters import CHAPTERS

    table: dict[str, dict[str, str]] = {}
    for chapter in CHAPTERS:
        name = f"idioms_{chapter.module}"
        if os.path.exists(os.path.join(os.path.dirname(__file__), f"{name}.py")):
            table.update(importlib.import_module(f"submissions.{name}").IDIOMS)
    return table


#: grade_id -> {idiom: the answer cell}; every part that allows PyTorch must be here.
TORCH_IDIOMS: dict[str, dict[str, str]] = _torch_idioms()


def torch_idiom_notebooks(assignment: str, nb, answers) -> dict[str, object]:
    """idiom name -> the solutions notebook with that part's answer in that idiom."""
    out = {}
    for part in parts_for(assignment):
        for idiom, source in TORCH_IDIOMS.get(part.grade_id, {}).items():
            out[f"{part.grade_id}: {idiom}"] = set_cells(nb, answers, **{part.grade_id: source})
    return out
