"""`python -m golden sweep-bench --out DIR`: how a grid of training runs scales over dask workers.

Runs one 12-point grid (the spiral; sparse RTRL, SnAp-1, e-prop and BPTT; omega 0 / 0.5 / 0.9; n 16;
`iterations` each) twice on fresh local clusters, with 1 worker and with 2 (or `workers`), into
separate folders, and reports the wall-clock ratio (cluster start-up included, both in this one run)
and whether the two results.csv files are identical, as they must be: a point's result does not
depend on the executor. The target (issue "Learning rules side by side") is a ratio of at least 1.7
with 2 workers on a 2-core machine. Report: DIR/sweep_bench.json and DIR/sweep_bench.md.
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


def run_sweep_bench(out: str | Path, iterations: int = 100, workers: int = 2, progress: bool = True) -> dict[str, Any]:
    """Time the grid with 1 and with `workers` workers; write and return the report."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    spec = out / "sweep_bench.yaml"
    atomic_write_text(spec, yaml.safe_dump(bench_spec(iterations), sort_keys=False))
    seconds, csv = {}, {}
    for count in (1, workers):
        folder = out / f"workers-{count}"
        shutil.rmtree(folder, ignore_errors=True)  # a timing needs every point to run
        start = time.perf_counter()
        run_sweep(spec, folder, workers=count, progress=progress)
        seconds[count] = time.perf_counter() - start
        csv[count] = (folder / "results.csv").read_text()
    report = {
        "points": 12,
        "iterations": iterations,
        "workers": workers,
        "seconds": {str(k): v for k, v in seconds.items()},
        "speedup": seconds[1] / seconds[workers],
        "target_speedup": 1.7,
        "identical_csv": csv[1] == csv[workers],
        "machine": {"cores": cores(), "platform": platform.platform()},
    }
    atomic_write_text(out / "sweep_bench.json", json.dumps(report, indent=1))
    atomic_write_text(out / "sweep_bench.md", markdown(report))
    return report


def markdown(report: dict[str, Any]) -> str:
    s = report["seconds"]
    return (
        f"12-point grid, {report['iterations']} iterations a point, on {report['machine']['cores']} cores: "
        f"1 worker {s['1']:.1f} s, {report['workers']} workers {s[str(report['workers'])]:.1f} s, "
        f"speedup **{report['speedup']:.2f}x** (target {report['target_speedup']}x); "
        f"results.csv identical: {report['identical_csv']}\n"
    )
