"""The widths sweep's figure: test accuracy against each swept width (mean over seeds with their
spread, float64's mean as a line, the smallest width that learns ringed) and against the learning
core's memory bits, with the accuracy-memory frontier."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from golden.atomic import atomic_path  # noqa: E402


def plot_widths(summary: dict[str, Any], signals: list[str], n: int, out: Path) -> Path:
    """summary as golden.widths.summarise gives it; memory drawn at size n."""
    fig, axes = plt.subplots(1, len(signals) + 1, figsize=(3.6 * (len(signals) + 1), 3.4), squeeze=False)
    float_acc = summary["float_accuracy"]
    colours = plt.get_cmap("tab10")
    for i, signal in enumerate(signals):
        ax = axes[0, i]
        pts = [p for p in summary["points"] if p.cfg is not None and p.axis in (signal, "default")]
        pts.sort(key=lambda p: p.value(signal))
        xs = [p.value(signal) for p in pts]
        ax.errorbar(xs, [p.accuracy for p in pts], yerr=[p.spread for p in pts], marker="o", color=colours(i))
        ax.axhline(float_acc, color="black", lw=1, label="float64")
        ax.axhspan(float_acc - summary["within"], float_acc, color="grey", alpha=0.2, label="within 1 point")
        best = summary["smallest"].get(signal)
        if best is not None:
            ax.plot([best.value(signal)], [best.accuracy], "o", ms=14, mfc="none", mec="red", label="smallest")
        ax.set_xlabel("table index bits" if signal == "lut_bits" else f"{signal} width (bits)")
        ax.set_ylabel("test accuracy")
        ax.set_title(signal)
        ax.legend(fontsize=7, loc="lower right")
    ax = axes[0, -1]
    for i, signal in enumerate(["default", *signals]):
        pts = [p for p in summary["points"] if p.cfg is not None and p.axis == signal]
        if pts:
            colour = "black" if signal == "default" else colours(i - 1)
            ax.scatter([p.memory[n] for p in pts], [p.accuracy for p in pts], color=colour, label=signal, s=18)
    front = summary["frontier"]
    ax.step(
        [p.memory[n] for p in front], [p.accuracy for p in front], where="post", color="red", lw=1, label="frontier"
    )
    ax.axhline(float_acc, color="black", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel(f"learning-core memory bits at n = {n}")
    ax.set_ylabel("test accuracy")
    ax.set_title("accuracy against memory")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return out
