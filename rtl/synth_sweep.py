"""Resource sweep: every block synthesised (Yosys, block alone) over n and lanes on each device, a
tidy CSV (resumable: points already in it are not synthesised again), a fitted linear resource model
per block, device and resource with its error on held-back points, and a plot.

The model:  resource ~ c0 + c1 n + c2 L + c3 n L   (least squares on the training points)
Held back: every point whose n is in `hold_out_n` (interpolation inside the swept range); the error
of a point is |model - synthesis| / synthesis.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from golden.atomic import atomic_path, atomic_write_text  # noqa: E402
from golden.errors import UserError  # noqa: E402
from rtl.params import check_blocks, make_params  # noqa: E402
from rtl.synth import DEVICES, block_resources  # noqa: E402

FIELDS = ("block", "device", "n", "lanes", "columns", "luts", "ffs", "carry", "bram", "spram", "dsp")
FITTED = ("luts", "ffs")
FEATURES = ("1", "n", "L", "n*L")


def read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [{k: (v if k in ("block", "device") else int(v)) for k, v in row.items()} for row in csv.DictReader(f)]


def write_rows(rows: list[dict[str, Any]], path: Path) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS)
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda r: (r["block"], r["device"], r["n"], r["lanes"])))
    atomic_write_text(path, buf.getvalue())


def run_sweep(
    blocks: list[str], devices: list[str], ns: list[int], lanes: list[int], out: Path, progress: bool = True
) -> list[dict[str, Any]]:
    """Synthesise every missing (block, device, n, lanes) point; returns all rows of the CSV."""
    check_blocks(blocks)
    for device in devices:
        if device not in DEVICES:
            raise UserError(f"--devices: got {device!r}; expected some of {', '.join(DEVICES)}")
    if any(v < 1 for v in ns + lanes):
        raise UserError(f"--n / --lanes: got {ns} / {lanes}; expected positive integers")
    path = out / "resources.csv"
    rows = read_rows(path)
    done = {(r["block"], r["device"], r["n"], r["lanes"]) for r in rows}
    todo = [
        (b, d, n, L) for b in blocks for d in devices for n in ns for L in lanes if L <= n and (b, d, n, L) not in done
    ]
    for block, device, n, L in tqdm(todo, desc="synthesis", disable=not progress):
        params = make_params(block, n, L)
        res, _ = block_resources(block, params, device, progress=lambda _: None)
        rows.append(
            {
                "block": block,
                "device": device,
                "n": n,
                "lanes": L,
                "columns": getattr(params, "columns", 0),
                **{k: res[k] for k in FIELDS[5:]},
            }
        )
        write_rows(rows, path)  # after every point, so an interrupted sweep resumes
    return rows


def _features(rows: list[dict[str, Any]]) -> np.ndarray:
    return np.array([[1.0, r["n"], r["lanes"], r["n"] * r["lanes"]] for r in rows])


def fit(rows: list[dict[str, Any]], hold_out_n: list[int]) -> dict[str, Any]:
    """Per block, device and resource: coefficients from the training points and the error on the
    held-back ones."""
    out: dict[str, Any] = {}
    for block, device in sorted({(r["block"], r["device"]) for r in rows}):
        mine = [r for r in rows if r["block"] == block and r["device"] == device]
        train = [r for r in mine if r["n"] not in hold_out_n]
        held = [r for r in mine if r["n"] in hold_out_n]
        if len(train) < len(FEATURES) or not held:
            continue
        for resource in FITTED:
            coef, *_ = np.linalg.lstsq(_features(train), np.array([r[resource] for r in train], float), rcond=None)
            pred = _features(held) @ coef
            errors = [
                {
                    "n": r["n"],
                    "lanes": r["lanes"],
                    "synthesis": r[resource],
                    "model": float(p),
                    "error": abs(float(p) - r[resource]) / r[resource],
                }
                for r, p in zip(held, pred)
            ]
            out.setdefault(block, {}).setdefault(device, {})[resource] = {
                "features": list(FEATURES),
                "coefficients": [float(c) for c in coef],
                "training_points": len(train),
                "held_back": errors,
                "max_error": max(e["error"] for e in errors),
            }
    return out


def plot(rows: list[dict[str, Any]], fits: dict[str, Any], path: Path) -> None:
    """LUTs against n per lanes: synthesis (points) and the fitted model (lines), one panel per
    block and device."""
    panels = sorted({(r["block"], r["device"]) for r in rows})
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.6), squeeze=False)
    for ax, (block, device) in zip(axes[0], panels):
        mine = [r for r in rows if r["block"] == block and r["device"] == device]
        for L in sorted({r["lanes"] for r in mine}):
            pts = sorted((r["n"], r["luts"]) for r in mine if r["lanes"] == L)
            (line,) = ax.plot([p[0] for p in pts], [p[1] for p in pts], "o", label=f"L={L}")
            model = fits.get(block, {}).get(device, {}).get("luts")
            if model:
                ns = np.linspace(min(p[0] for p in pts), max(p[0] for p in pts), 20)
                c = model["coefficients"]
                ax.plot(ns, c[0] + c[1] * ns + c[2] * L + c[3] * ns * L, "-", color=line.get_color(), lw=1)
        ax.set_title(f"{block}, {device}", fontsize=9)
        ax.set_xlabel("n")
        ax.set_ylabel("LUTs (Yosys)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def write_fit(fits: dict[str, Any], path: Path) -> None:
    atomic_write_text(path, json.dumps(fits, indent=2) + "\n")
