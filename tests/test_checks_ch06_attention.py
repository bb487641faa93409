"""Chapter 6 checks: honest variants pass, the classic attention and scan slips are named,
and a loop over time is refused where a parallel scan is asked for."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import assert_passes, assert_rejected, solution_namespace

from autograder.checks import ch06_attention as checks

SOL = solution_namespace("06-attention")


def blelloch_scan(a, b, h0):
    """Work-efficient (Blelloch 1990) up-sweep / down-sweep on pairs, padded to a power of 2."""
    B, T, H = a.shape
    n = 1 << max(0, (T - 1).bit_length())
    A = np.ones((B, n, H))
    Bv = np.zeros((B, n, H))
    A[:, :T], Bv[:, :T] = a, b
    Bv[:, 0] = a[:, 0] * h0 + b[:, 0]
    orig_A, orig_B = A.copy(), Bv.copy()
    step = 1
    while step < n:  # up-sweep: reduce pairs of blocks
        right = np.arange(2 * step - 1, n, 2 * step)
        left = right - step
        Bv[:, right] = A[:, right] * Bv[:, left] + Bv[:, right]
        A[:, right] = A[:, right] * A[:, left]
        step *= 2
    A[:, n - 1], Bv[:, n - 1] = 1.0, 0.0  # exclusive down-sweep from the identity
    step = n // 2
    while step >= 1:
        right = np.arange(2 * step - 1, n, 2 * step)
        left = right - step
        tA, tB = A[:, left].copy(), Bv[:, left].copy()
        A[:, left], Bv[:, left] = A[:, right], Bv[:, right]
        Bv[:, right] = tA * Bv[:, right] + tB
        A[:, right] = A[:, right] * tA
        step //= 2
    inclusive_B = orig_A * Bv + orig_B  # exclusive prefix, then own pair
    return inclusive_B[:, :T]


def sdpa_einsum(q, k, v, mask):
    s = np.einsum("bqd,bkd->bqk", q, k) / np.sqrt(q.shape[-1])
    s = np.where(mask, s, -1e300)
    w = np.exp(s - s.max(-1, keepdims=True)) * mask
    w /= w.sum(-1, keepdims=True)
    return np.einsum("bqk,bkv->bqv", w, v), w


HONEST = [
    (checks.check_scaled_dot_product_attention, SOL["scaled_dot_product_attention"]),
    (checks.check_scaled_dot_product_attention, sdpa_einsum),
    (checks.check_additive_attention, SOL["additive_attention"]),
    (checks.check_sinusoidal_positional_encoding, SOL["sinusoidal_positional_encoding"]),
    (checks.check_linear_scan, SOL["linear_scan"]),
    (checks.check_linear_scan, blelloch_scan),
    (checks.check_min_gru_forward, SOL["min_gru_forward"]),
]


@pytest.mark.parametrize("check,fn", HONEST, ids=lambda v: getattr(v, "__name__", "variant"))
def test_honest_implementations_pass_every_case(check, fn, capfd):
    assert_passes(check, fn, capfd)


def loop_scan(a, b, h0):
    h, out = h0, []
    for t in range(a.shape[1]):
        h = a[:, t] * h + b[:, t]
        out.append(h)
    return np.stack(out, 1)


def sdpa_torch(q, k, v, mask):
    out = torch.nn.functional.scaled_dot_product_attention(
        torch.from_numpy(q),
        torch.from_numpy(k),
        torch.from_numpy(v),
        attn_mask=torch.from_numpy(mask),
    )
    return out.numpy(), sdpa_einsum(q, k, v, mask)[1]


MUTANTS = [
    (
        checks.check_scaled_dot_product_attention,
        "no scaling",
        lambda q, k, v, mask: sdpa_einsum(q * np.sqrt(q.shape[-1]), k, v, mask),
        "not scaled by 1/sqrt(d)",
    ),
    (
        checks.check_scaled_dot_product_attention,
        "mask after softmax",
        lambda q, k, v, mask: (lambda w: (w @ v, w))(
            (lambda s: np.exp(s) / np.exp(s).sum(-1, keepdims=True))(
                q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
            )
            * mask
        ),
        "after the softmax",
    ),
    (checks.check_scaled_dot_product_attention, "torch", sdpa_torch, "NumPy only"),
    (
        checks.check_sinusoidal_positional_encoding,
        "cos first",
        lambda T, d: (
            SOL["sinusoidal_positional_encoding"](T, d)
            .reshape(T, d // 2, 2)[..., ::-1]
            .reshape(T, d)
        ),
        "wrong way round",
    ),
    (
        checks.check_linear_scan,
        "loop over time",
        loop_scan,
        "not with a loop over the T time steps",
    ),
    (
        checks.check_linear_scan,
        "exclusive",
        lambda a, b, h0: np.concatenate([h0[:, None], SOL["linear_scan"](a, b, h0)[:, :-1]], 1),
        "exclusive",
    ),
    (
        checks.check_linear_scan,
        "h0 dropped",
        lambda a, b, h0: SOL["linear_scan"](a, b, np.zeros_like(h0)),
        "h0 is dropped",
    ),
    (
        checks.check_min_gru_forward,
        "z swapped",
        lambda x, h0, W_z, b_z, W_h, b_h: SOL["min_gru_forward"](x, h0, -W_z, -b_z, W_h, b_h),
        "z and 1 - z",
    ),
]


@pytest.mark.parametrize(
    "check,name,fn,hint", MUTANTS, ids=[f"{c.__name__}-{n}" for c, n, _, _ in MUTANTS]
)
def test_mutants_are_rejected_with_a_pointed_message(check, name, fn, hint):
    assert_rejected(check, fn, hint, name)


def test_the_line_budget_is_generous_for_scans_and_tight_for_loops():
    """A scan's line count grows with log2(T); a loop's with T (measured, both). At T = 64 a
    loop still fits the budget, which is why the visible cases include T = 512."""
    from autograder import calling
    from autograder.parts import Case

    part = checks.LINEAR_SCAN
    for T in (64, 512, 1000):
        args, _ = part.build(Case(7, T=T, batch=1, H=1))
        scan = calling.call(SOL["linear_scan"], args, count_lines=True).lines
        loop = calling.call(loop_scan, args, count_lines=True).lines
        assert scan <= checks._scan_budget(args) // 3, (T, scan)
        assert (loop > checks._scan_budget(args)) == (T >= 512), (T, loop)


def test_a_loop_doing_two_steps_per_line_is_refused_too():
    """Review finding: an unrolled loop beat the budget at T = 512; the visible case is 4096."""

    def unrolled(a, b, h0):
        T = a.shape[1]
        hs = np.empty_like(a)
        h = h0
        if T % 2:
            hs[:, 0] = h = a[:, 0] * h + b[:, 0]
        for t in range(T % 2, T, 2):
            hs[:, t] = h = a[:, t] * h + b[:, t]
            hs[:, t + 1] = h = a[:, t + 1] * h + b[:, t + 1]  # noqa: E702
        return hs

    assert_rejected(checks.check_linear_scan, unrolled, "not with a loop over the T time steps")
