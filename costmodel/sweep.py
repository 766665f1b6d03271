"""Run a sweep spec: design points, chunked evaluation that resumes, tidy CSV, metadata, plots.

Memory stays flat whatever the sweep's size: the points are counted first (a sweep above `max_rows`
rows is refused before any work; `--max-rows` raises the limit), then generated, evaluated and
written one chunk of CHUNK_POINTS points at a time. The CSV is streamed to a temporary file and
renamed when complete; the plots keep only the rows of the slices they draw, which are chosen from
the spec's axes before any evaluation. What is held at once is one chunk's table (CHUNK_POINTS x
methods rows), the plot slices, and the random axes' draws (at most random.count values each).

Evaluated chunks are kept under OUT/.partial/<spec hash>/ until the sweep is complete, so an
interrupted sweep started again with the same spec skips the chunks it already has.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from tqdm import tqdm

from costmodel.errors import UserError
from costmodel.hardware import UNITS, load_energy_table
from costmodel.model import evaluate
from costmodel.spec import DEFAULTS, LogUniformAxis, SweepSpec, UniformAxis, axis_length, axis_values
from golden.atomic import atomic_path, atomic_write_text

CHUNK_POINTS = 50_000
CSV_BLOCK_ROWS = 20_000  # rows formatted at once when writing the CSV
MAX_ROWS = 20_000_000  # default limit: about 5 GB of CSV
CSV_BYTES_PER_ROW = 250  # the default sweep's results.csv: 10,850,591 bytes for 43,120 rows
DEFAULT_SPEC = Path(__file__).resolve().parent.parent / "sweeps" / "default.yaml"
INTEGER_KEYS = ("n", "lanes")


class DesignPoints:
    """The sweep's design points in their order, any slice generated on demand: the cartesian
    product of the grid axes (last axis fastest), each grid point crossed with the jointly drawn
    random points; parameters no axis names take their fixed or default value."""

    def __init__(self, spec: SweepSpec):
        self.spec = spec
        randoms = {k: a for k, a in spec.axes.items() if isinstance(a, (UniformAxis, LogUniformAxis))}
        self.grid = {k: axis_values(a) for k, a in spec.axes.items() if k not in randoms}
        self.randoms: dict[str, np.ndarray] = {}
        if randoms:
            rng = np.random.default_rng(spec.random.seed)
            for k, a in randoms.items():
                if isinstance(a, UniformAxis):
                    self.randoms[k] = rng.uniform(*a.uniform, size=spec.random.count)
                else:
                    lo, hi = np.log(a.loguniform)
                    self.randoms[k] = np.exp(rng.uniform(lo, hi, size=spec.random.count))
        self.n_random = spec.random.count if self.randoms else 1
        self.shape = tuple(len(v) for v in self.grid.values())
        self.count = count_rows(spec)[0]

    def slice(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """Points start .. stop - 1 as columns (n, p, T, alpha, beta, omega and any swept lanes, clock)."""
        index = np.arange(start, min(stop, self.count), dtype=np.int64)
        size = len(index)
        points: dict[str, np.ndarray] = {}
        if self.grid:
            combo = np.unravel_index(index // self.n_random, self.shape)
            for i, (k, values) in enumerate(self.grid.items()):
                points[k] = values[combo[i]]
        for k, draws in self.randoms.items():
            points[k] = draws[index % self.n_random]
        for k, v in {**DEFAULTS, **self.spec.fixed}.items():
            if k not in points and not (k == "p_per_n2" and ("p" in points or "p" in self.spec.fixed)):
                points[k] = np.full(size, float(v))
        for k in INTEGER_KEYS:
            if k in points:
                points[k] = np.round(points[k])
        if "p" not in points:
            points["p"] = points.pop("p_per_n2") * points["n"] ** 2
        points.pop("p_per_n2", None)
        return points

    def coordinates(self) -> "Coordinates":
        """Every value each coordinate takes, from the axes alone (no point is generated)."""
        lanes_clock = {"lanes": self.spec.hardware.lanes, "clock_mhz": self.spec.hardware.clock_mhz}
        values: dict[str, np.ndarray] = {}
        named = {**self.grid, **self.randoms}
        for k in ("n", "T", "alpha", "beta", "omega", "lanes", "clock_mhz", "p", "p_per_n2"):
            if k in named:
                values[k] = np.asarray(named[k], dtype=np.float64)
            elif k in self.spec.fixed:
                values[k] = np.array([float(self.spec.fixed[k])])
            elif k in DEFAULTS:
                values[k] = np.array([float(DEFAULTS[k])])
            elif k in lanes_clock:
                values[k] = np.array([float(lanes_clock[k])])
            if k in INTEGER_KEYS and k in values:
                values[k] = np.round(values[k])
        # (n, p) pairs: jointly drawn when both are random, else every combination
        p_key = "p" if "p" in values and ("p" in named or "p" in self.spec.fixed) else "p_per_n2"
        if "n" in self.randoms and p_key in self.randoms:
            n, other = values["n"], values[p_key]
        else:
            n, other = (a.ravel() for a in np.meshgrid(np.unique(values["n"]), np.unique(values[p_key])))
        p = other if p_key == "p" else other * n**2
        values["p"] = p
        values.pop("p_per_n2", None)
        return Coordinates({k: np.unique(v) for k, v in values.items()}, np.unique(np.stack([n, p], 1), axis=0))


class Coordinates:
    """The distinct values of each coordinate of a sweep, and its distinct (n, p) pairs."""

    def __init__(self, values: dict[str, np.ndarray], n_p: np.ndarray):
        self.values = values
        self.n_p = n_p

    def p_at(self, n: float) -> np.ndarray:
        return self.n_p[self.n_p[:, 0] == n, 1]


def spec_hash(spec: SweepSpec) -> str:
    key = spec.model_dump_json() + f"|chunk={CHUNK_POINTS}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def count_rows(spec: SweepSpec) -> tuple[int, int]:
    """(design points, rows) of a spec, counted from its axes alone (nothing drawn or generated):
    the grid axes' lengths times the random draws' count, in Python integers (no overflow)."""
    randoms = [a for a in spec.axes.values() if isinstance(a, (UniformAxis, LogUniformAxis))]
    grid = [a for a in spec.axes.values() if not isinstance(a, (UniformAxis, LogUniformAxis))]
    points = math.prod(axis_length(a) for a in grid) * (spec.random.count if randoms else 1)
    return points, points * len(spec.methods)


def _chunks(partial: Path, points: DesignPoints, spec: SweepSpec, hw, stats: dict) -> Iterator[dict]:
    """Each chunk's evaluated table in order: read back when a previous run finished it, else
    evaluated and kept (atomically) for a later resume."""
    for i, start in enumerate(range(0, points.count, CHUNK_POINTS)):
        file = partial / f"chunk_{i:05d}.npz"
        if file.exists():
            stats["resumed"] += 1
            with np.load(file, allow_pickle=False) as data:
                yield {k: data[k] for k in data.files}
            continue
        t0 = time.perf_counter()
        table = evaluate(spec.methods, points.slice(start, start + CHUNK_POINTS), hw)
        stats["evaluation_seconds"] += time.perf_counter() - t0
        with atomic_path(file) as tmp:
            np.savez(tmp, **table)
        yield table


def run_sweep(
    spec: SweepSpec, out: str | os.PathLike, progress: bool = True, max_rows: int = MAX_ROWS
) -> dict[str, Any]:
    """Evaluate the spec into OUT/results.csv and OUT/meta.json, draw its plots; returns the meta."""
    from costmodel import plots  # matplotlib only when drawing

    out = Path(out)
    started = time.time()
    points = DesignPoints(spec)
    rows = points.count * len(spec.methods)
    if rows > max_rows:
        raise UserError(
            f"sweep {spec.name}: {points.count:,} points x {len(spec.methods)} methods = {rows:,} rows, above the "
            f"limit of {max_rows:,} rows (about {rows * CSV_BYTES_PER_ROW / 1e9:,.0f} GB of CSV); narrow the axes "
            "or raise the limit with --max-rows"
        )
    hw = spec.hardware.settings()
    energy = load_energy_table(hw.energy_table)  # fail early on a bad table
    out.mkdir(parents=True, exist_ok=True)
    partial = out / ".partial" / spec_hash(spec)
    partial.mkdir(parents=True, exist_ok=True)
    slices = plots.SliceCollector(spec, points.coordinates())
    stats = {"resumed": 0, "evaluation_seconds": 0.0}
    n_chunks = -(-points.count // CHUNK_POINTS)
    bar = tqdm(total=rows, desc=f"sweep {spec.name}", unit="row", unit_scale=True, disable=not progress)
    with atomic_path(out / "results.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        for i, table in enumerate(_chunks(partial, points, spec, hw, stats)):
            if i == 0:
                writer.writerow(list(table))
            _write_rows(writer, table, energy.memory_names())
            slices.add(table)
            bar.update(len(table["method"]))
    bar.close()
    figures = plots.draw(spec, slices, out)
    meta = {
        "spec": spec.model_dump(),
        "spec_hash": spec_hash(spec),
        "rows": rows,
        "design_points": points.count,
        "chunks": n_chunks,
        "chunks_resumed": stats["resumed"],
        "evaluation_seconds": stats["evaluation_seconds"],
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "units": UNITS,
        "energy_table": {"name": energy.name, "source": energy.source},
        "versions": _versions(),
        "figures": [str(f.name) for f in figures],
    }
    atomic_write_text(out / "meta.json", json.dumps(meta, indent=1, default=str))
    shutil.rmtree(partial, ignore_errors=True)  # this spec's chunks only: another spec's stay resumable
    if (out / ".partial").is_dir() and not any((out / ".partial").iterdir()):
        (out / ".partial").rmdir()
    return meta


def _write_rows(writer, table: dict[str, np.ndarray], memory_names: list[str]) -> None:
    """Append a table's rows, formatted CSV_BLOCK_ROWS at a time (floats as %.10g)."""
    names = np.asarray(memory_names, dtype=object)
    total = len(table["method"])
    for start in range(0, total, CSV_BLOCK_ROWS):
        formatted = []
        for k, col in table.items():
            col = col[start : start + CSV_BLOCK_ROWS]
            if k == "memory_class":
                formatted.append(names[col.astype(np.int64)])
            elif col.dtype.kind in "fc":
                # a comprehension, not np.char.mod: numpy's string loop swallows KeyboardInterrupt
                formatted.append(["%.10g" % v for v in col.tolist()])
            else:
                formatted.append(col.astype(str))
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
