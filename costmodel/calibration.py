"""Calibration against the RTL: the cycles the cocotb testbenches measured per step (CSV files that
`python -m sim run` writes, default out/calibration) against each step's activity (events for the
router and the gate accumulation, active source units for the influence update), beside the blocks'
cycle functions (rtl.blocks.cycles, DESIGN.md contract 3), which is what the cost model counts cycles with.

Only runs without backpressure must equal the cycle function; with backpressure (random idle sources
and stalled sinks) a step may only take longer. The CSVs say which (`backpressure`, the probability;
files written before that column count as 0), and the two kinds are reported apart."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from costmodel.errors import UserError  # noqa: E402
from golden.atomic import atomic_path  # noqa: E402

REQUIRED = ("block", "simulator", "trace", "lanes", "activity", "measured", "predicted")
XLABEL = {"router": "events in the step", "accumulate": "events (previous output)", "influence": "active source units"}


def read_calibration(folder: Path) -> list[dict]:
    """Every row of every CSV in the folder, numbers converted; names the file and field on errors."""
    files = sorted(folder.glob("*.csv")) if folder.is_dir() else []
    if not files:
        raise UserError(f"calibration: no CSV files in {folder} (run `python -m sim run ...` first)")
    rows = []
    for path in files:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            missing = [k for k in REQUIRED if k not in (reader.fieldnames or [])]
            if missing:
                raise UserError(f"calibration: {path} lacks the columns {', '.join(missing)}")
            for i, row in enumerate(reader, start=2):
                try:
                    for k in ("lanes", "activity", "measured", "predicted"):
                        row[k] = int(row[k])
                except ValueError:
                    raise UserError(f"calibration: {path} line {i}: {k}={row[k]!r} is not an integer") from None
                try:
                    row["backpressure"] = float(row.get("backpressure") or 0.0)
                except ValueError:
                    raise UserError(
                        f"calibration: {path} line {i}: backpressure={row['backpressure']!r} is not a number"
                    ) from None
                row["file"] = path.name
                rows.append(row)
    return rows


def summarise(rows: list[dict]) -> dict[str, dict]:
    """Per block: steps and files without backpressure and the worst |measured - cycle function| over
    them (must be 0); steps with backpressure, how many took longer and the largest excess (>= 0), and
    how many took fewer cycles than the cycle function (an error in any run)."""
    out = {}
    for block in sorted({r["block"] for r in rows}):
        exact = [r for r in rows if r["block"] == block and r["backpressure"] == 0]
        stalled = [r for r in rows if r["block"] == block and r["backpressure"] > 0]
        out[block] = {
            "steps": len(exact),
            "files": sorted({r["file"] for r in exact}),
            "worst": max((abs(r["measured"] - r["predicted"]) for r in exact), default=None),
            "stalled_steps": len(stalled),
            "stalled_files": sorted({r["file"] for r in stalled}),
            "largest_excess": max((r["measured"] - r["predicted"] for r in stalled), default=None),
            "below_cycle_function": sum(r["measured"] < r["predicted"] for r in exact + stalled),
        }
    return out


def plot_calibration(rows: list[dict], out: Path) -> dict:
    """One panel per block: measured cycles per step (points, per simulator, lanes and backpressure)
    and the cycle function (crosses) against activity."""
    blocks = sorted({r["block"] for r in rows})
    fig, axes = plt.subplots(1, len(blocks), figsize=(5 * len(blocks), 4), squeeze=False)
    for ax, block in zip(axes[0], blocks):
        mine = [r for r in rows if r["block"] == block]
        for sim, lanes, bp in sorted({(r["simulator"], r["lanes"], r["backpressure"]) for r in mine}):
            pts = [r for r in mine if (r["simulator"], r["lanes"], r["backpressure"]) == (sim, lanes, bp)]
            label = f"{sim}, L={lanes}" + (f", backpressure {bp:g}" if bp else "")
            ax.scatter([r["activity"] for r in pts], [r["measured"] for r in pts], s=14, label=label)
        ax.scatter(
            [r["activity"] for r in mine],
            [r["predicted"] for r in mine],
            marker="x",
            c="k",
            s=20,
            label="cycle function",
        )
        ax.set_xlabel(XLABEL.get(block, "activity"))
        ax.set_ylabel("cycles per step")
        ax.set_title(block)
        ax.legend(fontsize=7)
    fig.suptitle("RTL cycles per step: measured in cocotb against the cycle functions (rtl.blocks.cycles)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
