"""The grader's outputs for instructors: the CSV, a printed summary, a PNG + HTML report."""

from __future__ import annotations

import csv
import html
import io
from collections import Counter
from pathlib import Path

from .job import Result

COLUMNS = ["student_id", "score", "max_score", "status", "flags", "references"]


def _num(x: float) -> str:
    return f"{x:g}"


def write_csv(results: list[Result], path: Path) -> None:
    """One row per student, sorted by id; no timestamps, so a regrade gives the same file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in sorted(results, key=lambda r: r.student):
        writer.writerow(
            [r.student, _num(r.score), _num(r.max_score), r.status, ";".join(r.flags), r.references]
        )
    path.write_text(buf.getvalue())


def _first_line(message: str) -> str:
    return (message or "").strip().splitlines()[0][:200] if (message or "").strip() else ""


def failure_counts(results: list[Result]) -> Counter:
    counts: Counter = Counter()
    for r in results:
        for gid, info in r.parts.items():
            if info.get("message"):
                counts[f"{gid}: {_first_line(info['message'])}"] += 1
        if r.status == "error":
            counts["(not graded) " + ";".join(r.flags)] += 1
    return counts


def references_text(results: list[Result]) -> str:
    """Where the references of record were computed (one device for a whole class)."""
    where = sorted({r.references for r in results if r.references})
    return ", ".join(where) if where else "not computed (no submission was graded)"


def summary(results: list[Result], seconds: float) -> str:
    graded = [r for r in results if r.status == "graded"]
    flagged = [r for r in results if r.flags]
    lines = [
        f"{len(results)} submissions in {seconds:.1f} s "
        f"({60 * len(results) / max(seconds, 1e-9):.1f}/min): {len(graded)} graded, "
        f"{len(results) - len(graded)} errors, {len(flagged)} flagged; references of record "
        f"computed on: {references_text(results)}"
    ]
    if graded:
        scores = sorted(r.score for r in graded)
        mean = sum(scores) / len(scores)
        lines.append(
            f"score: mean {mean:.2f} / {graded[0].max_score:g}, "
            f"median {scores[len(scores) // 2]:g}, min {scores[0]:g}, max {scores[-1]:g}"
        )
    mismatches = [r.student for r in results if "score_mismatch" in r.flags]
    if mismatches:
        lines.append(f"in-kernel and isolated scores disagree for: {', '.join(sorted(mismatches))}")
    common = failure_counts(results).most_common(5)
    if common:
        lines.append("most common failures:")
        lines += [f"  {n:4d}  {msg}" for msg, n in common]
    return "\n".join(lines)


def write_report(
    results: list[Result], png: Path, page: Path, assignment: str, isolation: str = ""
) -> None:
    """Score histogram per graded part (+ total) as a PNG, and an HTML page around it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    graded = [r for r in results if r.status == "graded"]
    part_ids = list(graded[0].parts) if graded else []
    panels = part_ids + ["total"]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 2.8), squeeze=False)
    for ax, pid in zip(axes[0], panels):
        if pid == "total":
            values = [r.score for r in graded]
            top = graded[0].max_score if graded else 1
        else:
            values = [r.parts[pid]["isolated"] for r in graded if pid in r.parts]
            top = graded[0].parts[pid]["points"] if graded else 1
        ax.hist(values, bins=max(2, int(top) + 1), range=(-0.5, top + 0.5), color="#4472c4")
        ax.set_title(pid, fontsize=9)
        ax.set_xlabel("points")
    axes[0][0].set_ylabel("students")
    fig.suptitle(f"{assignment}: {len(graded)} graded submissions (isolated scores)", fontsize=10)
    fig.tight_layout()
    Path(png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=90)
    plt.close(fig)

    counts = failure_counts(results).most_common(20)
    flags = Counter(f.split(":")[0] for r in results for f in r.flags).most_common()
    rows = "".join(
        f"<tr><td>{n}</td><td><code>{html.escape(m)}</code></td></tr>" for m, n in counts
    )
    flag_rows = "".join(f"<tr><td>{n}</td><td>{html.escape(f)}</td></tr>" for f, n in flags)
    Path(page).write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(assignment)} "
        f"grading report</title></head><body><h1>{html.escape(assignment)}: grading report</h1>"
        f"<p>Isolation of student code: {html.escape(isolation or 'not recorded')}</p>"
        f"<p>References of record computed on: {html.escape(references_text(results))}</p>"
        f"<pre>{html.escape(summary(results, 0).split(chr(10), 1)[-1])}</pre>"
        f"<img src='{html.escape(Path(png).name)}' alt='score histograms'>"
        f"<h2>Most common failure messages</h2><table><tr><th>count</th><th>message</th></tr>{rows}</table>"
        f"<h2>Flags</h2><table><tr><th>count</th><th>flag</th></tr>{flag_rows}</table>"
        f"</body></html>\n"
    )
