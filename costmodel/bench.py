"""`costmodel bench`: design points per second of the vectorised model (target >= 10^6 here).

A design point is one (method, n, p, T, alpha, beta, omega) evaluation with every Table 1 term and
hardware figure. Points are drawn at random; the best of `repeats` timed evaluations is reported.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from costmodel.hardware import HardwareSettings
from costmodel.model import evaluate
from costmodel.table1 import METHODS
from golden.atomic import atomic_write_text


def run_bench(out: str | os.PathLike, points: int = 300_000, repeats: int = 3, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    n = rng.integers(8, 4096, points).astype(np.float64)
    pts = {
        "n": n,
        "p": 3 * n * n,
        "T": rng.integers(1, 10_000, points).astype(np.float64),
        "alpha": rng.random(points),
        "beta": rng.random(points),
        "omega": rng.random(points) * 0.99,
    }
    hw = HardwareSettings()
    evaluate(METHODS, {k: v[:1000] for k, v in pts.items()}, hw)  # warm-up (energy table, caches)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        table = evaluate(METHODS, pts, hw)
        best = min(best, time.perf_counter() - t0)
    rows = len(table["method"])
    report = {
        "design_points": rows,
        "seconds": best,
        "points_per_second": rows / best,
        "target": 1e6,
        "meets_target": rows / best >= 1e6,
        "methods": list(METHODS),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    atomic_write_text(Path(out) / "bench.json", json.dumps(report, indent=1))
    return report
