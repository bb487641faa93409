"""A linear recurrence h_t = a_t * h_{t-1} + b_t: a sequential loop against parallel scans.

Prints a table per dtype: T, the loop's time, the time of each scan (Hillis-Steele,
Blelloch, log space), and each scan's speed-up over the loop; then the time of one
minGRU training step (forward and backward) by the loop and by the scans. The code
timed is the code that chapter 6 checks against PyTorch (autograder/experiments/seq2seq.py).

    python benchmarks/bench_scan.py                                  # CPU, T = 64 ... 65,536
    python benchmarks/bench_scan.py --device cuda --json data/bench/scan-gpu-h100.json
    python benchmarks/bench_scan.py --device cpu --threads 1 --json data/bench/scan-cpu.json

With --json PATH the figures are also written to PATH, with the device's name, the
date, the torch version and the exact command; chapter 6 plots every
data/bench/scan-*.json it finds. Each timing is the fastest of a few calls (the least
disturbed on a shared machine), after one warm-up call (the loop skips its warm-up beyond
T = 4,096).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from autograder.experiments.seq2seq import SCANS, time_min_gru_step, time_scans  # noqa: E402

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: str) -> str:
    if torch.device(device).type == "cuda":
        return torch.cuda.get_device_name(torch.device(device))
    return f"{cpu_name()} ({os.cpu_count()} logical cores, {torch.get_num_threads()} torch threads)"


def print_scan_table(rows: list[dict]) -> None:
    names = list(SCANS)
    head = (
        f"{'T':>8} {'loop':>10} "
        + " ".join(f"{n:>14}" for n in names)
        + "  "
        + " ".join(f"{'x ' + n:>16}" for n in names)
    )
    print(head)
    for r in rows:
        print(
            f"{r['T']:>8} {r['loop_s'] * 1e3:>8.2f}ms "
            + " ".join(f"{r[n + '_s'] * 1e3:>12.3f}ms" for n in names)
            + "  "
            + " ".join(f"{r[n + '_speedup']:>15.1f}x" for n in names)
        )
    worst = {n: max(r[n + "_max_err"] for r in rows) for n in names}
    print(
        "largest |scan - loop| over these T: " + ", ".join(f"{n} {e:.1e}" for n, e in worst.items())
    )


def print_step_table(rows: list[dict]) -> None:
    names = ["loop", "log_space", "hillis_steele", "nn_gru"]
    print(
        f"{'batch x units':>14} {'T':>6} "
        + " ".join(f"{n:>14}" for n in names)
        + "  "
        + " ".join(f"{'x ' + n:>16}" for n in names[1:])
    )
    for r in rows:
        shape = f"{r['batch']} x {r['dim']}"
        print(
            f"{shape:>14} {r['T']:>6} "
            + " ".join(f"{r[n + '_s'] * 1e3:>12.2f}ms" for n in names)
            + "  "
            + " ".join(f"{r[n + '_speedup']:>15.1f}x" for n in names[1:])
        )


def shape(text: str) -> tuple[int, int]:
    """'16x64' -> (16, 64): batch and units of a minGRU training step."""
    batch, _, dim = text.lower().partition("x")
    return int(batch), int(dim)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (or cuda:N)")
    parser.add_argument(
        "--lengths",
        type=int,
        nargs="+",
        default=[64, 256, 1024, 4096, 16384, 65536],
        help="values of T",
    )
    parser.add_argument(
        "--step-lengths",
        type=int,
        nargs="*",
        default=[128, 512, 2048],
        help="values of T for the minGRU training step (none to skip)",
    )
    parser.add_argument(
        "--step-shapes",
        type=shape,
        nargs="+",
        default=[(1, 16), (16, 64)],
        help="BATCHxUNITS of the minGRU training step, e.g. 1x16 16x64",
    )
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"], choices=DTYPES)
    parser.add_argument("--batch", type=int, default=1, help="sequences per batch")
    parser.add_argument("--dim", type=int, default=32, help="channels per sequence")
    parser.add_argument("--repeats", type=int, default=7, help="timed calls at most (fastest)")
    parser.add_argument(
        "--budget",
        type=float,
        default=2.0,
        help="seconds after which a measurement stops repeating",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (CPU)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda, but torch.cuda.is_available() is False")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # products of many gates underflow; denormals are slow
    command = "python benchmarks/bench_scan.py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )

    result = {
        "device": device_name(args.device),
        "device_type": torch.device(args.device).type,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if torch.device(args.device).type == "cuda" else None,
        "python": platform.python_version(),
        "command": command.strip(),
        "batch": args.batch,
        "dim": args.dim,
        "step_shapes": [list(s) for s in args.step_shapes],
        "threads": torch.get_num_threads(),
        "scans": list(SCANS),
        "rows": [],
        "step_rows": [],
    }
    print(f"device: {result['device']}; torch {result['torch']}; {result['date']}")
    print(
        f"h_t = a_t * h_(t-1) + b_t over T steps, batch {args.batch}, {args.dim} channels; "
        f"fastest of up to {args.repeats} calls"
    )
    for name in args.dtypes:
        print(f"\n{name}: times and speed-ups over the loop")
        rows = time_scans(
            args.lengths,
            batch=args.batch,
            dim=args.dim,
            dtype=DTYPES[name],
            device=args.device,
            repeats=args.repeats,
            budget_s=args.budget,
        )
        print_scan_table(rows)
        result["rows"] += rows
    if args.step_lengths:
        for name in args.dtypes:
            print(
                f"\n{name}: one minGRU training step (forward + backward); speed-ups over the loop"
            )
            rows = [
                time_min_gru_step(
                    T,
                    batch=batch,
                    dim=dim,
                    dtype=DTYPES[name],
                    device=args.device,
                    repeats=args.repeats,
                    budget_s=args.budget,
                )
                for batch, dim in args.step_shapes
                for T in args.step_lengths
            ]
            print_step_table(rows)
            result["step_rows"] += rows
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
        print(f"\nwrote {args.json}")
    return result


if __name__ == "__main__":
    main()
