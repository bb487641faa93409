"""What the isolated grader asks of each graded part, and how it judges the answer.

For every answer cell (``grade_id``) of an assignment: the function the student
writes, how to build inputs from a seed (the checks' own builders,
``make_case`` / ``make_tokens``), the reference (``autograder.references``,
i.e. ``torch.nn``) and the kind of result (a float64 array or an int).

Inputs are randomised per student: the seed is a hash of assignment, student
and part, so neighbours cannot share outputs, and regrading is deterministic.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np


@dataclass
class Case:
    """One call: ordered arguments ``(name, value)`` and the expected result."""
    args: list[tuple[str, object]]
    expected: object            # np.ndarray (float64) or int
    sizes: dict = field(default_factory=dict)


@dataclass
class Part:
    grade_id: str
    function: str
    output: str                  # "array" (float64) or "int"
    make_cases: Callable[[int], list[Case]]
    axes: tuple[str, ...] = ()
    reference: str = ""
    time_axis: int | None = None


def student_seed(assignment: str, student: str, grade_id: str) -> int:
    digest = hashlib.sha256(f"{assignment}\0{student}\0{grade_id}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


# ---------------------------------------------------------------- chapter 2
def _elman_parts() -> list[Part]:
    from ..checks.ch02_elman import make_case
    from ..references import ch02_elman as ref

    variants = [{}, {}, {"batch": 1, "zero_state": True}, {"seq_len": 1}]

    def cases(build):
        def make(seed):
            return [build(make_case(seed + i, **v)) for i, v in enumerate(variants)]
        return make

    def step(c):
        args = [("x_t", c.x[:, 0]), ("h_prev", c.h0), ("W_ih", c.W_ih), ("W_hh", c.W_hh),
                ("b_ih", c.b_ih), ("b_hh", c.b_hh)]
        return Case(args, ref.rnn_step(**dict(args)), c.sizes)

    def forward(c):
        args = [("x", c.x), ("h0", c.h0), ("W_ih", c.W_ih), ("W_hh", c.W_hh),
                ("b_ih", c.b_ih), ("b_hh", c.b_hh)]
        return Case(args, ref.rnn_forward(**dict(args)), c.sizes)

    def output(c):
        hs = ref.rnn_forward(c.x, c.h0, c.W_ih, c.W_hh, c.b_ih, c.b_hh)
        args = [("hs", hs), ("W_hy", c.W_hy), ("b_y", c.b_y)]
        return Case(args, ref.rnn_output(**dict(args)), c.sizes)

    def logits(c):
        args = [("x", c.x), ("h0", c.h0), ("W_ih", c.W_ih), ("W_hh", c.W_hh), ("b_ih", c.b_ih),
                ("b_hh", c.b_hh), ("W_hy", c.W_hy), ("b_y", c.b_y)]
        return Case(args, ref.many_to_one_logits(**dict(args)), c.sizes)

    return [
        Part("rnn_step", "rnn_step", "array", cases(step), ("batch row", "hidden unit"),
             "torch.nn.RNNCell"),
        Part("rnn_forward", "rnn_forward", "array", cases(forward),
             ("batch row", "time step", "hidden unit"), "torch.nn.RNN", time_axis=1),
        Part("rnn_output", "rnn_output", "array", cases(output),
             ("batch row", "time step", "output unit"), "torch.nn.Linear", time_axis=1),
        Part("many_to_one_logits", "many_to_one_logits", "array", cases(logits),
             ("batch row", "class"), "torch.nn.RNN then torch.nn.Linear"),
    ]


# ---------------------------------------------------------------- chapter 1
def _amnesia_parts() -> list[Part]:
    from ..checks.ch01_fnn_amnesia import _count_sizes, make_tokens
    from ..references import ch01_fnn_amnesia as ref

    token_variants = [{}, {}, {"num_sequences": 1}, {"seq_len": 1}]

    def bow(seed):
        out = []
        for i, v in enumerate(token_variants):
            tokens, V = make_tokens(seed + i, **v)
            out.append(Case([("tokens", tokens), ("vocab_size", V)], ref.bag_of_words(tokens, V)))
        return out

    def window(seed):
        out = []
        for i, v in enumerate(token_variants[:3] + [{"seq_len": 3}]):
            tokens, V = make_tokens(seed + i, **v)
            T = tokens.shape[1]
            w = int(np.random.default_rng(seed + i + 1000).integers(1, T + 3))
            out.append(Case([("tokens", tokens), ("vocab_size", V), ("window", w)],
                            ref.window_features(tokens, V, w)))
        return out

    def counts(names, reference):
        def make(seed):
            out = []
            for i in range(3):
                a = _count_sizes(seed + i, names, {})
                out.append(Case(list(a.items()), int(reference(**a))))
            return out
        return make

    return [
        Part("bag_of_words", "bag_of_words", "array", bow, ("sequence", "token id"),
             "torch.nn.functional.one_hot(tokens).sum(dim=1)"),
        Part("window_features", "window_features", "array", window, ("sequence", "feature"),
             "one_hot of the last `window` tokens, oldest first"),
        Part("window_mlp_param_count", "window_mlp_param_count", "int",
             counts(("vocab_size", "window", "hidden_size", "num_classes"),
                    ref.window_mlp_param_count)),
        Part("rnn_param_count", "rnn_param_count", "int",
             counts(("vocab_size", "hidden_size", "num_classes"), ref.rnn_param_count)),
    ]


_BUILDERS = {"02-elman": _elman_parts, "01-fnn-amnesia": _amnesia_parts}


def parts_for(assignment: str) -> list[Part]:
    """The isolated grader's parts of ``assignment`` (KeyError when it has none)."""
    return _BUILDERS[assignment]()


def supported(assignment: str) -> bool:
    return assignment in _BUILDERS
