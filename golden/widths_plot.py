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
    """summary as golden.widths.summarise gives it; memory drawn at size n. One panel per swept
    signal and one for memory, three to a row, all on the same accuracy scale."""
    panels = len(signals) + 1
    rows, cols = -(-panels // 3), min(panels, 3)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.flat[panels:]:
        ax.set_visible(False)
    float_acc = summary["float_accuracy"]
    low = min([p.accuracy - p.spread for p in summary["points"]] + [float_acc - 2 * summary["within"]])
    colours = plt.get_cmap("tab10")
    for i, signal in enumerate(signals):
        ax = axes.flat[i]
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
        ax.set_ylim(low - 0.01, 1.01)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    ax = axes.flat[panels - 1]
    for i, signal in enumerate(["default", *signals]):
        pts = [p for p in summary["points"] if p.cfg is not None and p.axis == signal]
        if pts:
            colour = "black" if signal == "default" else colours(i - 1)
            ax.scatter([p.memory[n] / 1e3 for p in pts], [p.accuracy for p in pts], color=colour, label=signal, s=18)
    front = summary["frontier"]
    ax.step(
        [p.memory[n] / 1e3 for p in front],
        [p.accuracy for p in front],
        where="post",
        color="red",
        lw=1,
        label="frontier",
    )
    ax.axhline(float_acc, color="black", lw=1)
    ax.set_ylim(low - 0.01, 1.01)
    ax.grid(alpha=0.3)
    ax.set_xlabel(f"learning-core memory at n = {n} (kbit)")
    ax.set_ylabel("test accuracy")
    ax.set_title("accuracy against memory")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return out
