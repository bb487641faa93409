"""The shared sequence-to-sequence and scan helpers of chapter 6 (autograder/experiments/seq2seq.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autograder.experiments import seq2seq
from autograder.references import ch06_attention as ref


def test_the_reversal_task_reverses_and_is_seeded():
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    src, tgt = seq2seq.reversal_batch(4, 7, 5, g1)
    again, _ = seq2seq.reversal_batch(4, 7, 5, g2)
    assert torch.equal(src, again) and torch.equal(tgt, src.flip(1))
    assert src.dtype == torch.int64 and int(src.max()) < 5


@pytest.mark.parametrize("T", [1, 2, 7, 64, 513])
@pytest.mark.parametrize(
    "scan", [seq2seq.hillis_steele_scan, seq2seq.blelloch_scan, seq2seq.log_space_scan]
)
def test_every_scan_equals_the_loop_and_the_reference(scan, T):
    a, b, h0 = seq2seq.scan_problem(T, 2, 3, torch.float64, "cpu", seed=T)
    loop = seq2seq.linear_recurrence_loop(a, b, h0)
    torch.testing.assert_close(scan(a, b, h0), loop, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(
        ref.linear_recurrence(a, b, h0, device=torch.device("cpu")),
        loop.numpy(),
        rtol=1e-12,
        atol=1e-12,
    )


def test_the_pair_operation_is_associative():
    g = torch.Generator().manual_seed(0)
    p, q, r = ((torch.rand(3, generator=g), torch.randn(3, generator=g)) for _ in range(3))
    left = seq2seq.combine(seq2seq.combine(p, q), r)
    right = seq2seq.combine(p, seq2seq.combine(q, r))
    for x, y in zip(left, right):
        torch.testing.assert_close(x, y)
