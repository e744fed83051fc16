"""What a sweep did, as Markdown: its summary (printed, and results/sweeps/NAME.md) and the README's table of sweeps."""

from __future__ import annotations

from .markdown import table


def summary(report: dict) -> str:
    """The sweep in words and a table: the count per outcome, the wall time, one row per run."""
    counts = ", ".join(f"{n} {o}" for o, n in report["outcomes"].items())
    cells = [{k: "—" if v is None else str(v) for k, v in row.items()} for row in report["runs"]]
    return (f"sweep: {len(report['runs'])} runs: {counts}; wall time {report['wall_seconds'] / 60:.1f} min "
            f"({report['pool']}, threads per run {'/'.join(map(str, report['threads_per_run']))})\n\n{table(cells)}")


def sweeps_table(reports: dict[str, dict]) -> str:
    """Sweep reports (name -> report) as one Markdown table: runs, outcomes, pool, threads, wall time."""
    return table([{"sweep": f"`{name}`", "runs": str(len(r["runs"])),
                   "outcomes": ", ".join(f"{n} {o}" for o, n in r["outcomes"].items() if n),
                   "pool": f"`{r['pool']}`", "threads per run": "/".join(map(str, r["threads_per_run"])),
                   "wall time": f"{r['wall_seconds'] / 60:.1f} min", "commit": r["git_commit"], "date": r["date"]}
                  for name, r in reports.items()])
