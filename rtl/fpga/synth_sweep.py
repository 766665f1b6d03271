"""Resource sweep: every block synthesised (Yosys, block alone) over n and lanes on each device, at
one set of word widths per run (`format`: the --format options from the defaults; runs at other
widths add to the same CSV), and with `place` also placed and routed in the synthesis harness
(nextpnr: Fmax, and whether it fits), the points spread over the dask executor (golden.executor); a
tidy CSV (resumable: points already in it are not synthesised
again, nor placed again), a fitted linear resource model per word widths, block, device and resource
with its error on held-back points, and a plot (LUTs with the model; Fmax where placed).

The model:  resource ~ c0 + c1 n + c2 L + c3 n L (+ c4 mux for the influence update: the read
multiplexers of its tiled M banks; rtl.fpga.resource_model), least squares on the training points.
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

from golden.atomic import atomic_path, atomic_write_text  # noqa: E402
from golden.errors import UserError  # noqa: E402
from golden.executor import dask_client, run_points  # noqa: E402
from golden.fixedpoint import DEFAULT, FixedPointConfig, format_from_label, format_label  # noqa: E402
from rtl.blocks.params import check_blocks, egru_columns, make_params  # noqa: E402
from rtl.fpga.resource_model import BASE, FEATURES, features  # noqa: E402
from rtl.fpga.synth import DEVICES, block_resources, synthesize  # noqa: E402

FIELDS = (
    "format", "block", "device", "n", "lanes", "columns", "luts", "ffs", "carry", "bram", "spram", "dsp", "placed",
    "fmax_mhz",
)  # fmt: skip
COUNTS = ("luts", "ffs", "carry", "bram", "spram", "dsp")
FITTED = ("luts", "ffs")


def read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [_parse_row(row) for row in csv.DictReader(f)]


def _parse_row(text: dict[str, str | None]) -> dict[str, Any]:
    """A CSV row: names as text, counts as integers; placed: "yes", "no: <why>" or "" (not placed);
    fmax_mhz: a float or None (not placed or not fitting)."""
    row: dict[str, Any] = {"format": text.get("format") or "default", "block": text["block"], "device": text["device"]}
    row |= {k: int(text[k] or 0) for k in FIELDS[3:12]}
    row["placed"] = text.get("placed") or ""
    row["fmax_mhz"] = float(text["fmax_mhz"]) if text.get("fmax_mhz") else None
    return row


def write_rows(rows: list[dict[str, Any]], path: Path) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS)
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda r: (r["format"] != "default", r["format"], *_key(r)[1:])))
    atomic_write_text(path, buf.getvalue())


def run_sweep(
    blocks: list[str],
    devices: list[str],
    ns: list[int],
    lanes: list[int],
    out: Path,
    place: bool = False,
    fp: FixedPointConfig = DEFAULT,
    progress: bool = True,
    workers: int | None = None,
    scheduler: str | None = None,
) -> list[dict[str, Any]]:
    """Synthesise every missing (block, device, n, lanes) point at the word widths `fp`, and with
    `place` place and route every such point not yet placed, on the dask executor (golden.executor:
    `workers` local processes, default one per core, or the cluster at `scheduler`); returns all rows
    of the CSV, which is rewritten as each point arrives, so an interrupted sweep resumes."""
    check_blocks(blocks)
    for device in devices:
        if device not in DEVICES:
            raise UserError(f"--devices: got {device!r}; expected some of {', '.join(DEVICES)}")
    if any(v < 1 for v in ns + lanes):
        raise UserError(f"--n / --lanes: got {ns} / {lanes}; expected positive integers")
    path = out / "resources.csv"
    label = format_label(fp)
    rows = {_key(r): r for r in read_rows(path)}
    todo = [
        (label, b, d, n, L)
        for b in blocks
        for d in devices
        for n in ns
        for L in lanes
        if L <= n and ((label, b, d, n, L) not in rows or (place and not rows[label, b, d, n, L]["placed"]))
    ]
    if todo:

        def store(i: int, row: dict[str, Any]) -> None:
            rows[todo[i]] = row
            write_rows(list(rows.values()), path)

        with dask_client(workers, scheduler) as client:
            run_points(
                client,
                measure_point,
                [(key, place, fp) for key in todo],
                [f"{b}-{d}-n{n}-L{L}" for _, b, d, n, L in todo],
                progress=progress,
                desc="place and route" if place else "synthesis",
                on_result=store,
                costs=[n * n for _, _, _, n, _ in todo],  # the largest designs first: they take longest
            )
    return list(rows.values())


def measure_point(key: tuple, place: bool, fp: FixedPointConfig) -> dict[str, Any]:
    """One sweep point's row (run on a worker): Yosys's counts, and with `place` nextpnr's verdict."""
    _, block, device, n, L = key
    params = make_params(block, n, L, fp=fp)
    row = dict(zip(("format", "block", "device", "n", "lanes"), key), columns=getattr(params, "columns", 0))
    if place:
        summary = synthesize(block, params, device, progress=lambda _: None)
        res, placed = summary["resources"], summary["placed_with_harness"]
        row["placed"] = "yes" if placed["fits"] else f"no: {placed['error']}"
        row["fmax_mhz"] = summary["fmax_mhz"]
    else:
        res, _ = block_resources(block, params, device, progress=lambda _: None)
        row |= {"placed": "", "fmax_mhz": None}
    return row | {k: res[k] for k in COUNTS}


def _key(row: dict[str, Any]) -> tuple:
    return tuple(row[k] for k in ("format", "block", "device", "n", "lanes"))


def _features(rows: list[dict[str, Any]]) -> np.ndarray:
    return np.array(
        [
            features(
                r["block"],
                r["device"],
                r["n"],
                r["lanes"],
                r["columns"],
                format_from_label(r["format"]).influence.width,
            )
            for r in rows
        ]
    )


def fit(rows: list[dict[str, Any]], hold_out_n: list[int]) -> dict[str, Any]:
    """Per word widths (format label), block, device and resource: coefficients from the training
    points and the error on the held-back ones; {format: {block: {device: {resource: ...}}}}."""
    out: dict[str, Any] = {}
    for label, block, device in sorted({_key(r)[:3] for r in rows}):
        mine = [r for r in rows if _key(r)[:3] == (label, block, device)]
        train = [r for r in mine if r["n"] not in hold_out_n]
        held = [r for r in mine if r["n"] in hold_out_n]
        names = FEATURES.get(block, BASE)
        if len(train) < len(names) or not held:
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
            out.setdefault(label, {}).setdefault(block, {}).setdefault(device, {})[resource] = {
                "features": list(names),
                "coefficients": [float(c) for c in coef],
                "training_points": len(train),
                "held_back": errors,
                "max_error": max(e["error"] for e in errors),
            }
    return out


def plot(rows: list[dict[str, Any]], fits: dict[str, Any], path: Path) -> None:
    """Per block and device, LUTs against n per lanes and word widths: synthesis (points) and the
    fitted model (lines); below, where points were placed, Fmax against n."""
    panels = sorted({(r["block"], r["device"]) for r in rows})
    placed = any(r["fmax_mhz"] is not None for r in rows)
    fig, axes = plt.subplots(
        2 if placed else 1, len(panels), figsize=(4 * len(panels), 7 if placed else 3.6), squeeze=False
    )
    labels = sorted({r["format"] for r in rows}, key=lambda f: (f != "default", f))
    for col, (block, device) in enumerate(panels):
        ax = axes[0][col]
        for label, marker in zip(labels, "osD^v<>"):
            mine = [r for r in rows if _key(r)[:3] == (label, block, device)]
            value_bits = format_from_label(label).influence.width
            for L in sorted({r["lanes"] for r in mine}):
                name = f"L={L}" if label == "default" else f"L={L}, widths {labels.index(label) + 1}"
                pts = sorted((r["n"], r["luts"]) for r in mine if r["lanes"] == L)
                (line,) = ax.plot([p[0] for p in pts], [p[1] for p in pts], marker, label=name)
                model = fits.get(label, {}).get(block, {}).get(device, {}).get("luts")
                if model:  # at every n between the swept ones (the influence update's mux term steps)
                    ns = range(min(p[0] for p in pts), max(p[0] for p in pts) + 1)
                    cols = [egru_columns(n) if block == "influence" else 0 for n in ns]
                    x = [features(block, device, n, L, c, value_bits) for n, c in zip(ns, cols)]
                    ax.plot(ns, np.array(x) @ model["coefficients"], "-", color=line.get_color(), lw=1)
                fmax = sorted((r["n"], r["fmax_mhz"]) for r in mine if r["lanes"] == L and r["fmax_mhz"] is not None)
                if fmax:
                    axes[1][col].plot(*zip(*fmax), marker + "-", color=line.get_color(), label=name)
        ax.set_title(f"{block}, {device}", fontsize=9)
        ax.set_xlabel("n")
        ax.set_ylabel("LUTs (Yosys)")
        ax.legend(fontsize=6)
        if placed:
            axes[1][col].set_xlabel("n")
            axes[1][col].set_ylabel("Fmax, MHz (nextpnr, in the harness)")
            axes[1][col].legend(fontsize=6)
    other = [f"widths {i + 1}: {label}" for i, label in enumerate(labels) if label != "default"]
    if other:
        fig.text(0.01, 0.005, "default widths: circles; " + "; ".join(other), fontsize=8)
    fig.tight_layout(rect=(0, 0.03 if other else 0, 1, 1))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def write_fit(fits: dict[str, Any], path: Path) -> None:
    atomic_write_text(path, json.dumps(fits, indent=2) + "\n")
