"""Helpers of chapter 6 (the path to Transformers): a reversal task, small GRU
encoder-decoders with and without attention, and linear recurrences computed
by a loop and by parallel scans.

Everything is generated from a seed: nothing is downloaded. The chapter and
``benchmarks/bench_scan.py`` import the scans from here, so the benchmark times
exactly the code that the chapter checks against PyTorch.

The *reversal task*: a source sequence of ``length`` symbols drawn uniformly
from ``range(n_symbols)``; the target is the same symbols in reverse order.
The decoder is fed a start token (id ``n_symbols``) and then the previous
target symbol (teacher forcing during training, its own guess when decoding).

Linear recurrences run along dimension 1 of ``(B, T, D)`` tensors (batch
first): ``h_t = a_t * h_{t-1} + b_t`` element-wise, from ``h0`` of shape
``(B, D)``; every function returns ``h_1, ..., h_T`` as ``(B, T, D)``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "reversal_batch",
    "Seq2Seq",
    "train_seq2seq",
    "reversal_accuracy",
    "linear_recurrence_loop",
    "combine",
    "hillis_steele_scan",
    "blelloch_scan",
    "log_space_scan",
    "cumsum_scan",
    "SCANS",
    "scan_problem",
    "time_call",
    "time_scans",
    "min_gru_gates",
    "min_gru_loop",
    "min_gru_scan",
    "steps_of",
    "time_min_gru_step",
]


# --------------------------------------------------------------------------- the reversal task


def reversal_batch(
    batch: int, length: int, n_symbols: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(src, tgt)``, both ``(batch, length)`` int64: ``tgt`` is ``src`` reversed in time."""
    src = torch.randint(0, n_symbols, (batch, length), generator=generator)
    return src, src.flip(1)


class Seq2Seq(nn.Module):
    """A GRU encoder-decoder, with or without (Luong-style, "general") attention.

    Without attention the decoder sees the source only through the encoder's last
    state, which becomes the decoder's first state: the bottleneck. With
    attention the decoder state ``s_t`` also scores every encoder state ``h_j``,
    ``e_tj = s_t . (W_a h_j)``, takes the softmax over ``j`` as weights, their
    weighted sum of encoder states as a context ``c_t``, and predicts from
    ``tanh(W_c [c_t; s_t])`` (Luong et al. 2015, global attention, no input feeding).
    """

    def __init__(self, n_symbols: int, embed: int, hidden: int, attention: bool):
        super().__init__()
        self.n_symbols, self.attention = n_symbols, attention
        self.embed_src = nn.Embedding(n_symbols, embed)
        self.embed_tgt = nn.Embedding(n_symbols + 1, embed)  # + the start token
        # Bidirectional encoder, hidden // 2 units per direction: its states h_j (forward and
        # backward halves side by side) and its summary (both final states) have ``hidden`` units.
        self.encoder = nn.GRU(embed, hidden // 2, batch_first=True, bidirectional=True)
        self.decoder = nn.GRU(embed, hidden, batch_first=True)
        if attention:
            self.score = nn.Linear(hidden, hidden, bias=False)  # W_a
            self.combine = nn.Linear(2 * hidden, hidden)  # W_c
        self.readout = nn.Linear(hidden, n_symbols)

    def encode(self, src: torch.Tensor):
        """Encoder states (B, T_in, H) and the summary (1, B, H): the decoder's first state."""
        enc, h_n = self.encoder(self.embed_src(src))  # h_n: (2, B, H/2)
        return enc, torch.cat([h_n[0], h_n[1]], dim=-1).unsqueeze(0)

    def _attend(self, dec: torch.Tensor, enc: torch.Tensor):
        """dec (B, T_out, H), enc (B, T_in, H) -> (logits (B, T_out, V), weights (B, T_out, T_in))."""
        if not self.attention:
            return self.readout(dec), None
        weights = torch.softmax(dec @ self.score(enc).transpose(1, 2), dim=-1)
        context = weights @ enc
        return self.readout(torch.tanh(self.combine(torch.cat([context, dec], dim=-1)))), weights

    def forward(self, src: torch.Tensor, tgt: torch.Tensor):
        """Teacher forcing: logits (B, T_out, V) for ``tgt`` given ``src``, and the weights."""
        enc, h = self.encode(src)
        start = torch.full_like(tgt[:, :1], self.n_symbols)
        dec, _ = self.decoder(self.embed_tgt(torch.cat([start, tgt[:, :-1]], dim=1)), h)
        return self._attend(dec, enc)

    @torch.no_grad()
    def greedy(self, src: torch.Tensor, steps: int):
        """Decode ``steps`` symbols, each fed back as the next input: (B, steps), weights or None."""
        enc, h = self.encode(src)
        token = torch.full_like(src[:, :1], self.n_symbols)
        out, weights = [], []
        for _ in range(steps):
            dec, h = self.decoder(self.embed_tgt(token), h)
            logits, w = self._attend(dec, enc)
            token = logits.argmax(-1)
            out.append(token)
            weights.append(w)
        return torch.cat(out, 1), (torch.cat(weights, 1) if self.attention else None)


def train_seq2seq(
    model: Seq2Seq, *, lengths: tuple[int, int], steps: int, batch: int, lr: float, seed: int
) -> list[float]:
    """Adam with teacher forcing; every batch has one length drawn from ``lengths`` (inclusive)."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        length = int(torch.randint(lengths[0], lengths[1] + 1, (1,), generator=gen))
        src, tgt = reversal_batch(batch, length, model.n_symbols, gen)
        logits, _ = model(src, tgt)
        loss = F.cross_entropy(logits.reshape(-1, model.n_symbols), tgt.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    return losses


def reversal_accuracy(model: Seq2Seq, length: int, n: int, seed: int) -> float:
    """Share of output symbols right under greedy decoding, on ``n`` fresh sequences."""
    src, tgt = reversal_batch(n, length, model.n_symbols, torch.Generator().manual_seed(seed))
    guess, _ = model.greedy(src, length)
    return (guess == tgt).double().mean().item()


# ----------------------------------------------------------------------- linear recurrences


def linear_recurrence_loop(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """The sequential definition: one step at a time, T dependent steps.

    The inputs are split into steps once (``unbind``) and the states stacked once at the end: with
    ``a[:, t]`` inside the loop, or states written into a preallocated tensor, autograd's
    backward pass would build a full-size gradient at every step, O(T^2) in all."""
    states, h = [], h0
    for a_t, b_t in zip(a.unbind(1), b.unbind(1)):
        h = a_t * h + b_t
        states.append(h)
    return torch.stack(states, dim=1)


def combine(first: tuple[torch.Tensor, torch.Tensor], second: tuple[torch.Tensor, torch.Tensor]):
    """Apply step ``first`` then step ``second``: (a1, b1) then (a2, b2) = (a1 a2, a2 b1 + b2)."""
    (a1, b1), (a2, b2) = first, second
    return a1 * a2, a2 * b1 + b2


def _fold_h0(a, b, h0):
    """h0 enters as b_1 := a_1 h0 + b_1 (a new tensor; the caller's b is untouched)."""
    return torch.cat([(a[:, :1] * h0.unsqueeze(1) + b[:, :1]), b[:, 1:]], dim=1)


def hillis_steele_scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """Inclusive scan in ceil(log2 T) doubling steps: after the step with offset s, element t
    holds the combination of elements t - 2s + 1 .. t (clipped at the start)."""
    T = b.shape[1]
    A, B = a, _fold_h0(a, b, h0)
    offset = 1
    while offset < T:
        A_prev = F.pad(A[:, :-offset], (0, 0, offset, 0), value=1.0)  # identity (1, 0) before t=1
        B_prev = F.pad(B[:, :-offset], (0, 0, offset, 0), value=0.0)
        A, B = combine((A_prev, B_prev), (A, B))
        offset *= 2
    return B


def blelloch_scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """Work-efficient scan (Blelloch 1990): an up-sweep and a down-sweep, 2 log2(T) levels and
    O(T) combines in all. T is padded to a power of two with identity steps (1, 0). It updates
    its buffers in place, so it is for the forward pass only (no autograd)."""
    B_, T, D = b.shape
    n = 1 << max(T - 1, 0).bit_length()
    A = torch.ones(B_, n, D, dtype=a.dtype, device=a.device)
    Bv = torch.zeros(B_, n, D, dtype=b.dtype, device=b.device)
    A[:, :T], Bv[:, :T] = a, _fold_h0(a, b, h0)
    A0, B0 = A.clone(), Bv.clone()  # the inputs, for the inclusive result
    stride = 1
    while stride < n:  # up-sweep: partial products in place
        right = slice(2 * stride - 1, n, 2 * stride)
        left = slice(stride - 1, n, 2 * stride)
        A[:, right], Bv[:, right] = combine((A[:, left], Bv[:, left]), (A[:, right], Bv[:, right]))
        stride *= 2
    A[:, n - 1], Bv[:, n - 1] = 1.0, 0.0  # the root becomes the identity
    stride = n // 2
    while stride >= 1:  # down-sweep: exclusive prefixes
        right = slice(2 * stride - 1, n, 2 * stride)
        left = slice(stride - 1, n, 2 * stride)
        lA, lB = A[:, left].clone(), Bv[:, left].clone()
        A[:, left], Bv[:, left] = A[:, right], Bv[:, right]
        A[:, right], Bv[:, right] = combine((A[:, right], Bv[:, right]), (lA, lB))
        stride //= 2
    _, h = combine((A, Bv), (A0, B0))  # exclusive prefix, then the element itself
    return h[:, :T]


def cumsum_scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """The closed form h_t = P_t (h0 + sum_k b_k / P_k), P_t = a_1 ... a_t, with cumprod and
    cumsum. Exact in exact arithmetic; in floating point P_t underflows for long sequences."""
    P = torch.cumprod(a, dim=1)
    return P * (h0.unsqueeze(1) + torch.cumsum(b / P, dim=1))


def log_space_scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """The same closed form in log space (Heinsen 2023), for a > 0 and any real b and h0:
    log P_t is a cumsum of log a_t, and the sum is a logcumsumexp, done separately for the
    positive and the negative parts of b (with h0 as an extra first term)."""
    log_P = torch.cumsum(torch.log(a), dim=1)  # (B, T, D)
    zero = torch.zeros_like(log_P[:, :1])
    log_P0 = torch.cat([zero, log_P], dim=1)  # P_0 = 1
    terms = torch.cat([h0.unsqueeze(1), b], dim=1)  # h0, b_1, ..., b_T
    tiny = torch.finfo(terms.dtype).tiny  # log(tiny) stands in for log(0): no -inf, no NaN
    lp = torch.logcumsumexp(torch.log(terms.clamp_min(tiny)) - log_P0, dim=1)  # positive parts
    ln = torch.logcumsumexp(torch.log((-terms).clamp_min(tiny)) - log_P0, dim=1)  # negative parts
    return (torch.exp(log_P0 + lp) - torch.exp(log_P0 + ln))[:, 1:]


# ---------------------------------------------------------------------------------- minGRU


def min_gru_gates(
    x: torch.Tensor, W_z: torch.Tensor, b_z: torch.Tensor, W_h: torch.Tensor, b_h: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """minGRU (Feng et al. 2024): z_t = sigmoid(W_z x_t + b_z), h~_t = W_h x_t + b_h, read from x
    only. Returns the recurrence's coefficients a_t = 1 - z_t and b_t = z_t * h~_t."""
    z = torch.sigmoid(x @ W_z.T + b_z)
    return 1 - z, z * (x @ W_h.T + b_h)


def min_gru_loop(x, h0, W_z, b_z, W_h, b_h):
    """minGRU one step at a time: h_t = (1 - z_t) * h_{t-1} + z_t * h~_t."""
    return linear_recurrence_loop(*min_gru_gates(x, W_z, b_z, W_h, b_h), h0)


def min_gru_scan(x, h0, W_z, b_z, W_h, b_h, scan: Callable = None):
    """minGRU with every gate computed at once and the recurrence by a scan (log space by default)."""
    return (scan or log_space_scan)(*min_gru_gates(x, W_z, b_z, W_h, b_h), h0)


# ------------------------------------------------------------------------------------ timing

SCANS: dict[str, Callable] = {
    "hillis_steele": hillis_steele_scan,
    "blelloch": blelloch_scan,
    "log_space": log_space_scan,
}


def scan_problem(T: int, batch: int, dim: int, dtype: torch.dtype, device, seed: int = 0):
    """Random (a, b, h0) with gates a in (0.5, 1), like sigmoid gates that mostly keep the state."""
    gen = torch.Generator().manual_seed(seed)
    a = 0.5 + 0.5 * torch.rand(batch, T, dim, generator=gen, dtype=torch.float64)
    b = torch.randn(batch, T, dim, generator=gen, dtype=torch.float64)
    h0 = torch.randn(batch, dim, generator=gen, dtype=torch.float64)
    return tuple(t.to(device=device, dtype=dtype) for t in (a, b, h0))


def time_call(
    fn: Callable, *args, repeats: int = 3, budget_s: float = 1.0, device="cpu", warmup: bool = True
):
    """``(seconds, result)``: the fastest of up to ``repeats`` timed calls of ``fn(*args)`` (on a
    shared machine the fastest call is the least disturbed one); stops early once ``budget_s``
    seconds have been spent (at least one timed call). One untimed warm-up call first unless
    ``warmup`` is false. Waits for the GPU before reading the clock."""
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    if warmup:
        fn(*args)
    sync()
    times: list[float] = []
    while len(times) < repeats and (not times or sum(times) < budget_s):
        start = time.perf_counter()
        result = fn(*args)
        sync()
        times.append(time.perf_counter() - start)
    return min(times), result


def time_scans(
    lengths,
    *,
    batch: int,
    dim: int,
    dtype: torch.dtype,
    device="cpu",
    repeats: int = 3,
    budget_s: float = 1.0,
    scans: dict[str, Callable] | None = None,
) -> list[dict]:
    """For each T: the loop's time, every scan's time, its speed-up over the loop, and its largest
    difference from the loop's result (``*_max_err``). The loop gets no warm-up call beyond
    T = 4,096 (its first steps warm up the rest)."""
    scans = SCANS if scans is None else scans
    rows = []
    for T in lengths:
        a, b, h0 = scan_problem(T, batch, dim, dtype, device)
        row = {"T": int(T), "dtype": str(dtype).removeprefix("torch.")}
        row["loop_s"], ref = time_call(
            linear_recurrence_loop,
            a,
            b,
            h0,
            repeats=repeats,
            budget_s=budget_s,
            device=device,
            warmup=T <= 4096,
        )
        for name, scan in scans.items():
            row[f"{name}_s"], out = time_call(
                scan, a, b, h0, repeats=repeats, budget_s=budget_s, device=device
            )
            row[f"{name}_speedup"] = row["loop_s"] / row[f"{name}_s"]
            row[f"{name}_max_err"] = (out - ref).abs().max().item()
        rows.append(row)
    return rows


def time_min_gru_step(
    T: int,
    *,
    batch: int,
    dim: int,
    dtype: torch.dtype,
    device="cpu",
    repeats: int = 3,
    budget_s: float = 1.0,
) -> dict:
    """One training step's forward and backward pass (loss = mean of all states) of a minGRU
    layer (``dim`` inputs and units) over T steps: by the loop, by the log-space scan and by the
    Hillis-Steele scan; ``nn.GRU`` (PyTorch's own kernel, cuDNN on a GPU) for reference.
    Returns seconds and the scans' speed-ups over the loop."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, T, dim, generator=gen, dtype=torch.float64).to(device, dtype)
    params = [
        (torch.randn(dim, dim, generator=gen, dtype=torch.float64) / dim**0.5)
        .to(device, dtype)
        .requires_grad_(True)
        if i % 2 == 0
        else torch.zeros(dim, dtype=dtype, device=device).requires_grad_(True)
        for i in range(4)
    ]
    h0 = torch.zeros(batch, dim, dtype=dtype, device=device)
    gru = nn.GRU(dim, dim, batch_first=True).to(device, dtype)

    def step(forward):
        def run():
            loss = forward().mean()
            loss.backward()

        return run

    kinds = {
        "loop": lambda: min_gru_loop(x, h0, *params),
        "log_space": lambda: min_gru_scan(x, h0, *params, scan=log_space_scan),
        "hillis_steele": lambda: min_gru_scan(x, h0, *params, scan=hillis_steele_scan),
        "nn_gru": lambda: gru(x)[0],
    }
    row = {"T": int(T), "batch": batch, "dim": dim, "dtype": str(dtype).removeprefix("torch.")}
    for name, forward in kinds.items():
        row[f"{name}_s"], _ = time_call(
            step(forward), repeats=repeats, budget_s=budget_s, device=device
        )
    for name in ("log_space", "hillis_steele", "nn_gru"):
        row[f"{name}_speedup"] = row["loop_s"] / row[f"{name}_s"]
    return row


def steps_of(T: int) -> int:
    """Doubling steps of a Hillis-Steele scan over T elements: ceil(log2 T)."""
    return math.ceil(math.log2(T)) if T > 1 else 0
