"""Run a sweep spec: design points, chunked evaluation that resumes, tidy CSV, metadata, plots.

Chunks of the evaluated table are kept under OUT/.partial/<spec hash>/ until the sweep is complete, so
an interrupted sweep started again with the same spec skips the chunks it already has. The CSV and
metadata are written to temporary names and renamed; the partial folder is removed at the end.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import platform
import shutil
import time
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from costmodel.hardware import UNITS, load_energy_table
from costmodel.model import evaluate
from costmodel.spec import DEFAULTS, LogUniformAxis, SweepSpec, UniformAxis, axis_values
from golden.atomic import atomic_path, atomic_write_text

CHUNK_POINTS = 200_000
DEFAULT_SPEC = Path(__file__).resolve().parent.parent / "sweeps" / "default.yaml"
INTEGER_KEYS = ("n", "lanes")


def design_points(spec: SweepSpec) -> dict[str, np.ndarray]:
    """The cartesian product of the grid axes, crossed with the jointly drawn random points."""
    grid = {k: axis_values(a) for k, a in spec.axes.items() if not isinstance(a, (UniformAxis, LogUniformAxis))}
    randoms = {k: a for k, a in spec.axes.items() if isinstance(a, (UniformAxis, LogUniformAxis))}
    rows: dict[str, np.ndarray] = {}
    if randoms:
        rng = np.random.default_rng(spec.random.seed)
        count = spec.random.count
        for k, a in randoms.items():
            if isinstance(a, UniformAxis):
                rows[k] = rng.uniform(*a.uniform, size=count)
            else:
                lo, hi = np.log(a.loguniform)
                rows[k] = np.exp(rng.uniform(lo, hi, size=count))
    n_random = len(next(iter(rows.values()))) if rows else 1
    keys = list(grid)
    if keys:
        combos = np.array(list(product(*(range(len(grid[k])) for k in keys))), dtype=np.int64)
    else:  # no grid axis: one point
        combos = np.zeros((1, 0), dtype=np.int64)
    total = len(combos) * n_random
    points = {k: np.repeat(grid[k][combos[:, i]], n_random) for i, k in enumerate(keys)}
    for k, v in rows.items():
        points[k] = np.tile(v, len(combos))
    for k, v in {**DEFAULTS, **spec.fixed}.items():
        if k not in points and not (k == "p_per_n2" and ("p" in points or "p" in spec.fixed)):
            points[k] = np.full(total, float(v))
    for k in INTEGER_KEYS:
        if k in points:
            points[k] = np.round(points[k])
    if "p" not in points:
        points["p"] = points.pop("p_per_n2") * points["n"] ** 2
    points.pop("p_per_n2", None)
    return points


def spec_hash(spec: SweepSpec) -> str:
    return hashlib.sha256(spec.model_dump_json().encode()).hexdigest()[:16]


def run_sweep(spec: SweepSpec, out: str | os.PathLike, progress: bool = True) -> dict[str, Any]:
    """Evaluate the spec into OUT/results.csv and OUT/meta.json, draw its plots; returns the meta."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    points = design_points(spec)
    hw = spec.hardware.settings()
    load_energy_table(hw.energy_table)  # fail early on a bad table
    n_points = len(points["n"])
    partial = out / ".partial" / spec_hash(spec)
    partial.mkdir(parents=True, exist_ok=True)
    chunks = range(0, n_points, CHUNK_POINTS)
    resumed = 0
    t_eval = 0.0
    for i, start in enumerate(tqdm(chunks, desc=f"sweep {spec.name}", unit="chunk", disable=not progress)):
        file = partial / f"chunk_{i:05d}.npz"
        if file.exists():
            resumed += 1
            continue
        part = {k: v[start : start + CHUNK_POINTS] for k, v in points.items()}
        t0 = time.perf_counter()
        table = evaluate(spec.methods, part, hw)
        t_eval += time.perf_counter() - t0
        with atomic_path(file) as tmp:
            np.savez(tmp, **table)
    table = _concat([dict(np.load(partial / f"chunk_{i:05d}.npz")) for i in range(len(chunks))])
    energy = load_energy_table(hw.energy_table)
    _write_csv(out / "results.csv", table, energy.memory_names())
    from costmodel import plots  # matplotlib only when drawing

    figures = plots.draw(spec, table, out)
    meta = {
        "spec": spec.model_dump(),
        "spec_hash": spec_hash(spec),
        "rows": int(len(table["method"])),
        "design_points": n_points,
        "chunks": len(chunks),
        "chunks_resumed": resumed,
        "evaluation_seconds": t_eval,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "units": UNITS,
        "energy_table": {"name": energy.name, "source": energy.source},
        "versions": _versions(),
        "figures": [str(f.name) for f in figures],
    }
    atomic_write_text(out / "meta.json", json.dumps(meta, indent=1, default=str))
    shutil.rmtree(out / ".partial", ignore_errors=True)
    return meta


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _write_csv(path: Path, table: dict[str, np.ndarray], memory_names: list[str]) -> None:
    columns = list(table)
    formatted = []
    for k in columns:
        col = table[k]
        if k == "memory_class":
            formatted.append(np.asarray(memory_names, dtype=object)[col.astype(np.int64)])
        elif col.dtype.kind in "fc":
            formatted.append(np.char.mod("%.10g", col))
        else:
            formatted.append(col.astype(str))
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows(zip(*formatted))


def _versions() -> dict[str, str]:
    import matplotlib
    import pydantic

    from costmodel import __version__

    return {
        "costmodel": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "matplotlib": matplotlib.__version__,
        "pydantic": pydantic.__version__,
    }
