"""The sparse-RTRL paper's Fig. 3 (A-D) from training runs' metrics.json files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from golden.atomic import atomic_path  # noqa: E402
from golden.errors import UserError  # noqa: E402


def load_run(path: str | os.PathLike) -> dict[str, Any]:
    """metrics.json of a run folder (or the file itself)."""
    path = Path(path)
    file = path / "metrics.json" if path.is_dir() else path
    if not file.is_file():
        raise UserError(f"run {path}: no metrics.json (train with `python -m golden train --out {path}`)")
    return json.loads(file.read_text())


def smooth(values: np.ndarray, window: int = 25) -> np.ndarray:
    """Trailing moving average over up to `window` points (same length as the input)."""
    csum = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(idx - window, 0)
    return (csum[idx] - csum[lo]) / (idx - lo)


def run_label(run: dict[str, Any]) -> str:
    c = run["config"]
    return f"{c['algo']} ω={c['omega']:g} ε={c['epsilon']:g}"


def compute_adjusted(run: dict[str, Any]) -> dict[str, np.ndarray | None]:
    """A run's smoothed loss and its compute-adjusted iterations: the paper's cumulative
    sum of beta~^2 omega~^2, and ours, the cumulative measured influence MACs over dense RTRL's
    (None for BPTT runs, which have no influence matrix)."""
    h = run["history"]
    measured = None
    if "influence_macs" in h[0]:
        measured = np.cumsum([r["influence_macs"] / r["dense_influence_macs"] for r in h])
    return {
        "iteration": np.array([r["iteration"] for r in h]),
        "loss": smooth(np.array([r["loss"] for r in h])),
        "paper": np.cumsum([r["paper_compute"] for r in h]),
        "measured": measured,
    }


def plot_fig3(runs: list[dict[str, Any]], out: str | os.PathLike) -> Path:
    """Six panels: A loss vs iterations; B loss vs compute-adjusted iterations, the paper's
    cumulative beta~^2 omega~^2 and ours from measured influence MACs / dense RTRL's; C activity
    sparsity (alpha, and beta dashed); D influence-matrix sparsity (dc/dw solid, dy/dw dashed);
    and validation accuracy."""
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5), constrained_layout=True)
    (a, b_paper, b_ours), (c, d, acc) = axes
    for i, run in enumerate(runs):
        color = f"C{i}"
        h = run["history"]
        curves = compute_adjusted(run)
        it, loss = curves["iteration"], curves["loss"]
        label = run_label(run)
        a.plot(it, loss, color=color, label=label)
        b_paper.plot(curves["paper"], loss, color=color, label=label)
        if curves["measured"] is not None:
            b_ours.plot(curves["measured"], loss, color=color, label=label)
            d.plot(
                it,
                smooth(np.array([r["influence_zero_fraction_state"] for r in h])),
                color=color,
                label=f"{label}, dc/dw",
            )
            d.plot(
                it,
                smooth(np.array([r["influence_zero_fraction_output"] for r in h])),
                color=color,
                ls="--",
                label=f"{label}, dy/dw",
            )
        c.plot(it, smooth(np.array([r["alpha"] for r in h])), color=color, label=f"{label}, α")
        c.plot(it, smooth(np.array([r["beta"] for r in h])), color=color, ls="--", label=f"{label}, β")
        ev = run["evals"]
        acc.plot([e["iteration"] for e in ev], [e["accuracy"] for e in ev], color=color, marker=".", label=label)
    a.set(title="A  training loss", xlabel="iteration", ylabel="BCE loss (moving average of 25)", yscale="log")
    b_paper.set(
        title="B  compute-adjusted (paper: Σ β̃² ω̃²)",
        xlabel="compute-adjusted iterations",
        ylabel="BCE loss",
        yscale="log",
    )
    b_ours.set(
        title="B  compute-adjusted (ours: measured MACs / dense)",
        xlabel="compute-adjusted iterations",
        ylabel="BCE loss",
        yscale="log",
    )
    c.set(
        title="C  activity sparsity α (solid), β (dashed)",
        xlabel="iteration",
        ylabel="fraction of unit-steps",
        ylim=(0, 1),
    )
    d.set(
        title="D  influence-matrix sparsity at the last step",
        xlabel="iteration",
        ylabel="fraction of zero entries (dc/dw solid, dy/dw dashed)",
        ylim=(0, 1),
    )
    acc.set(title="validation accuracy", xlabel="iteration", ylabel="accuracy", ylim=(0.4, 1.02))
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    a.legend(fontsize=8)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return Path(out)
