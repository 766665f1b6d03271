"""`python -m golden sweep-bench --out DIR`: how a grid of training runs scales over dask workers.

Runs one 12-point grid (the spiral; sparse RTRL, SnAp-1, e-prop and BPTT; omega 0 / 0.5 / 0.9; n 16;
`iterations` each) on fresh local clusters, with 1 worker and with 2 (or `workers`), into separate
folders, `repeats` times each, alternating (1, 2, 1, 2, ...), and reports the ratio of the best wall
clock of each (cluster start-up included, all in this one run: on a shared machine a neighbour's
load only ever slows a run down, so the best of a few is the machine's own speed) and whether all
results.csv files are identical, as they must be: a point's result does not depend on the executor.
The target (issue "Learning rules side by side") is a ratio of at least 1.7 with 2 workers on a
2-core machine. Report: DIR/sweep_bench.json and DIR/sweep_bench.md.
"""

from __future__ import annotations

import json
import platform
import shutil
import time
from pathlib import Path
from typing import Any

import yaml

from golden.atomic import atomic_write_text
from golden.threads import cores
from golden.train_sweep import run_sweep


def bench_spec(iterations: int) -> dict[str, Any]:
    """The 12-point grid (module doc)."""
    return {
        "grid": {
            "task": ["spiral"],
            "algo": ["bptt", "sparse-rtrl", "snap1", "eprop"],
            "n": [16],
            "omega": [0.0, 0.5, 0.9],
            "epsilon": [0.5],
            "seed": [0],
        },
        "train": {"iterations": iterations, "eval_every": iterations, "checkpoint_every": iterations},
    }


def run_sweep_bench(
    out: str | Path, iterations: int = 100, workers: int = 2, progress: bool = True, repeats: int = 2
) -> dict[str, Any]:
    """Time the grid with 1 and with `workers` workers, best of `repeats`; write and return the report."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    spec = out / "sweep_bench.yaml"
    atomic_write_text(spec, yaml.safe_dump(bench_spec(iterations), sort_keys=False))
    seconds: dict[int, list[float]] = {1: [], workers: []}
    csv: set[str] = set()
    for _ in range(repeats):
        for count in (1, workers):
            folder = out / f"workers-{count}"
            shutil.rmtree(folder, ignore_errors=True)  # a timing needs every point to run
            start = time.perf_counter()
            run_sweep(spec, folder, workers=count, progress=progress)
            seconds[count].append(time.perf_counter() - start)
            csv.add((folder / "results.csv").read_text())
    best = {count: min(runs) for count, runs in seconds.items()}
    report = {
        "points": 12,
        "iterations": iterations,
        "workers": workers,
        "repeats": repeats,
        "runs": {str(k): v for k, v in seconds.items()},
        "seconds": {str(k): v for k, v in best.items()},
        "speedup": best[1] / best[workers],
        "target_speedup": 1.7,
        "identical_csv": len(csv) == 1,
        "machine": {"cores": cores(), "platform": platform.platform()},
    }
    atomic_write_text(out / "sweep_bench.json", json.dumps(report, indent=1))
    atomic_write_text(out / "sweep_bench.md", markdown(report))
    return report


def markdown(report: dict[str, Any]) -> str:
    s = report["seconds"]
    return (
        f"12-point grid, {report['iterations']} iterations a point, on {report['machine']['cores']} cores, "
        f"best of {report['repeats']}: "
        f"1 worker {s['1']:.1f} s, {report['workers']} workers {s[str(report['workers'])]:.1f} s, "
        f"speedup **{report['speedup']:.2f}x** (target {report['target_speedup']}x); "
        f"results.csv identical: {report['identical_csv']}\n"
    )
