"""The learning curves of one config's runs: every twin's loss and metric per epoch (curves.png)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Optional

from ..atomic_files import write_bytes_atomic
from ..twins import label, ordered


def plot_curves(path: Path, runs: list[dict]) -> Optional[Path]:
    """Every twin's loss and metric per epoch (mean over seeds, band from min to max), written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    metric = runs[0]["metric"]
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(10, 4))
    looks = {"numpy": dict(color="tab:blue", marker="o", linewidth=3, alpha=0.6),
             "pytorch": dict(color="tab:green", marker="s", linewidth=2, alpha=0.7, markersize=4),
             "tensorflow": dict(color="tab:orange", marker="x", linewidth=1.2)}  # drawn on top: all stay visible
    outside = dict(marker="d", linewidth=1.5, alpha=0.8, markersize=4)  # each outside twin its own colour
    for twin in ordered(r["twin"] for r in runs):
        look = looks.get(twin) or {**outside, "color": f"C{4 + len(looks) % 6}"}
        looks.setdefault(twin, look)
        histories = [r["history"] for r in runs if r["twin"] == twin and r["history"]]
        if not histories:
            continue
        epochs = min(len(h) for h in histories)  # the epochs every seed reached
        x = np.arange(1, epochs + 1)
        seeds = f" ({len(histories)} seeds)" if len(histories) > 1 else ""
        for split, style in (("train", "-"), ("valid", "--")):
            for ax, key in ((ax_loss, "loss"), (ax_metric, metric)):
                values = np.array([[e[split][key] for e in h[:epochs]] for h in histories])
                ax.plot(x, values.mean(axis=0), linestyle=style, label=f"{label(twin)} {split}{seeds}", **look)
                if len(histories) > 1:
                    ax.fill_between(x, values.min(axis=0), values.max(axis=0), color=look["color"], alpha=0.15)
        undone = [(e["epoch"], e["undone"]["valid"]) for h in histories for e in h[:epochs] if "undone" in e]
        for ax, key in ((ax_loss, "loss"), (ax_metric, metric)) if undone else ():
            ax.scatter([epoch for epoch, _ in undone], [valid[key] for _, valid in undone], marker="v",
                       facecolors="none", edgecolors=look["color"], label=f"{label(twin)} valid, epoch undone")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="Loss")
    ax_metric.set(xlabel="epoch", ylabel=metric, title=metric.capitalize())
    if metric == "perplexity":
        ax_metric.set_yscale("log")
    for ax in (ax_loss, ax_metric):
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend()
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=100)
    plt.close(fig)
    return write_bytes_atomic(path, png.getvalue())
