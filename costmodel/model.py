"""One vectorised evaluation of every requested method at every design point (a tidy table)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from costmodel.core import core_figures
from costmodel.fpga import UNITS as FPGA_UNITS
from costmodel.hardware import HardwareSettings, hardware_figures
from costmodel.table1 import CORE_METHOD, METHODS, table1

POINT_KEYS = ("n", "p", "T", "alpha", "beta", "omega", "lanes", "clock_mhz")


def evaluate(
    methods: list[str] | tuple[str, ...], points: dict[str, np.ndarray], hw: HardwareSettings
) -> dict[str, np.ndarray]:
    """Columns of a tidy table with one row per (method, point): the point's coordinates, Table 1's
    terms (words, operations), the ratio of time and memory to dense RTRL's at the same point, and the
    hardware figures. Method "core" has rtrl-both's memory words (the algorithm it runs), the core's
    MACs per training step as its time terms and its own hardware figures (costmodel.core). points:
    arrays of equal length for n, p, T, alpha, beta, omega (lanes and clock_mhz optional, else from hw)."""
    size = len(np.asarray(points["n"]))
    pts = {k: np.asarray(points[k], dtype=np.float64) for k in ("n", "p", "T", "alpha", "beta", "omega")}
    pts["lanes"] = np.asarray(points.get("lanes", np.full(size, hw.lanes)), dtype=np.float64)
    pts["clock_mhz"] = np.asarray(points.get("clock_mhz", np.full(size, hw.clock_mhz)), dtype=np.float64)
    dense = table1("rtrl", pts["n"], pts["p"], pts["T"], pts["alpha"], pts["beta"], pts["omega"])
    columns: dict[str, list[np.ndarray]] = {}
    for method in methods:
        algorithm = "rtrl-both" if method == CORE_METHOD else method
        cost = table1(algorithm, pts["n"], pts["p"], pts["T"], pts["alpha"], pts["beta"], pts["omega"])
        if method == CORE_METHOD:  # its FPGA figures come from synthesis, not the fitted model
            hwf = core_figures(pts, hw) | ({k: np.full(size, np.nan) for k in FPGA_UNITS} if hw.fpga_device else {})
            terms = {k: hwf.pop(k) for k in ("forward_term", "influence_term")}
            cost = dataclasses.replace(cost, **terms)
        else:
            hwf = hardware_figures(method, cost, pts["n"], pts["p"], pts["omega"], hw, pts["lanes"], pts["clock_mhz"])
        row: dict[str, Any] = {"method": np.full(size, method), **pts}
        row.update(
            memory=cost.memory,
            memory_state=cost.memory_state,
            memory_influence=cost.memory_influence,
            time_per_step=cost.time_per_step,
            forward_term=cost.forward_term,
            influence_term=cost.influence_term,
            time_ratio_vs_rtrl=cost.time_per_step / dense.time_per_step,
            influence_ratio_vs_rtrl=cost.influence_term / dense.influence_term,
            memory_ratio_vs_rtrl=cost.memory / dense.memory,
            **hwf,
        )
        for k, v in row.items():
            columns.setdefault(k, []).append(np.broadcast_to(v, (size,)))
    return {k: np.concatenate(v) for k, v in columns.items()}


__all__ = ["METHODS", "POINT_KEYS", "evaluate"]
