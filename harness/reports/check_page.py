"""The verdict of `python -m harness check`: one table, a row per part and case, and a closing line."""

from __future__ import annotations

from collections import Counter

from ..twins import label
from .markdown import table


def check_markdown(verdict: dict) -> str:
    """The verdict as Markdown: what was judged against what, the table, the counts and the verdict."""
    counts = Counter(row["result"] for row in verdict["rows"])
    failures = [row for row in verdict["rows"] if row["result"] == "FAIL"]
    lines = [f"# `check {verdict['source']}`: the {verdict['twin']} twin against the {label(verdict['against'])} "
             "twin", "",
             "Thresholds (relative): parity float64 ≤ 1e-12, float32 ≤ 1e-5; finite differences ≤ 1e-6; "
             "trajectory ≤ 1e-12; training (quick) within 0.5 points of accuracy or 2 % of perplexity.", "",
             table([{"part": row["part"], "case": row["case"], "dtype": row["dtype"] or "—",
                     "result": f"**{row['result']}**" if row["result"] == "FAIL" else row["result"],
                     "figure or reason": row["detail"]} for row in _grouped(verdict["rows"])]), "",
             ", ".join(f"{n} {result}" for result, n in sorted(counts.items())) + ".",
             f"Verdict: **{verdict['verdict']}**" + (
                 f"; first failure: {failures[0]['part']}, {failures[0]['case']}: {failures[0]['detail']}"
                 if failures else "") + "."]
    return "\n".join(lines) + "\n"


def _grouped(rows: list[dict]) -> list[dict]:
    """The rows, with a case that no part supports shown once (where its first row was), for every part."""
    unsupported = {row["case"] for row in rows if row["result"] == "not supported"} - {
        row["case"] for row in rows if row["result"] != "not supported"}
    shown, done = [], set()
    for row in rows:
        if row["case"] not in unsupported:
            shown.append(row)
        elif row["case"] not in done:
            done.add(row["case"])
            shown.append({**row, "part": "every part", "dtype": ""})
    return shown
