"""Jobs for the cocotb testbenches: one block, its parameters, and cases (a trace's sample converted
to the block's integer inputs by the fixed-point contract, a backpressure seed and probability, and
optionally a step in which the design is reset half-way). Written as JSON for the testbench, which
runs in the simulator's Python."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from golden.atomic import atomic_write_text
from golden.errors import UserError
from golden.hw_stimulus import recurrent_weights
from golden.trace import load_trace
from rtl.blocks.params import BLOCK_PARAMS, InfluenceParams
from rtl.blocks.stimulus import STEPS_OF, block_params, cell_theta, ints

BLOCKS = (*BLOCK_PARAMS, "cell")
EGRU_ONLY = ("accumulate", "cell")  # blocks a threshold-RNN trace has nothing for
SIMULATORS = ("icarus", "verilator")


@dataclass(frozen=True)
class CaseSpec:
    trace: str
    sample: int = 0
    seed: int = 0
    backpressure: float = 0.0  # probability of an idle cycle on sources and of ready low on sinks
    reset_step: int | None = None  # reset the design half-way through this step, then replay from 0


def shared_influence(params: list[InfluenceParams]) -> InfluenceParams:
    """One influence block that serves every trace: as many columns as the widest (narrower traces
    leave the rest zero) and a decay term if any trace has one (a trace without gets decay 0, which
    costs its term's cycles but changes no value). One build then runs every case."""
    columns = max(p.columns for p in params)
    lanes = max(p.lanes for p in params)
    return InfluenceParams(n=params[0].n, columns=columns, lanes=lanes, decay=any(p.decay for p in params))


def _fit_influence(steps: list[dict], p: InfluenceParams) -> list[dict]:
    """Steps of a trace with fewer columns or no decay term, widened to the shared block."""
    for s in steps:
        s["Mbar"] = [row + [0] * (p.columns - len(row)) for row in s["Mbar"]]
        if p.decay and s["decay"] is None:
            s["decay"] = [0] * p.n
    return steps


def make_job(block: str, lanes: int, cases: list[CaseSpec]) -> dict[str, Any]:
    """The job for one block over the cases; every case's trace must give the same block parameters
    (the influence update takes the widest: see shared_influence)."""
    traces = {c.trace: load_trace(c.trace) for c in cases}
    params = {path: block_params(block, t, lanes) for path, t in traces.items()}
    first = params[cases[0].trace]
    if block == "influence" and len({p.n for p in params.values()}) == 1:
        first = shared_influence(list(params.values()))
    elif any(p != first for p in params.values()):
        raise UserError(
            "cases: every trace of one job must give the same block parameters (the same n and lanes that fit; "
            "for the cell unit also gamma, epsilon and the reset)"
        )
    job: dict[str, Any] = {
        "block": block,
        "params": {k: v for k, v in vars(first).items() if k != "fp"},
        "cases": [],
        "corrupt": None,
    }
    if block == "accumulate":
        weights = {path: recurrent_weights(t, first.fp) for path, t in traces.items()}
        job["weights"] = {path: {g: ints(v) for g, v in w.items()} for path, w in weights.items()}
    if block == "cell":
        job["theta"] = {path: cell_theta(t, first) for path, t in traces.items()}
    steps_of = STEPS_OF[block]
    for c in cases:
        trace = traces[c.trace]
        if not 0 <= c.sample < trace.meta["B"]:
            raise UserError(f"sample: {c.sample}, expected 0..{trace.meta['B'] - 1} for {c.trace}")
        if not 0 <= c.backpressure < 1:
            raise UserError(f"backpressure: {c.backpressure}, expected a probability in [0, 1)")
        steps = steps_of(trace, c.sample, first)
        if block == "influence":
            steps = _fit_influence(steps, first)
        if c.reset_step is not None and not 0 <= c.reset_step < len(steps):
            raise UserError(f"reset_step: {c.reset_step}, expected 0..{len(steps) - 1}")
        job["cases"].append(
            {
                "name": f"{Path(c.trace).name}[{c.sample}] seed {c.seed} bp {c.backpressure:g}"
                + (f" reset@{c.reset_step}" if c.reset_step is not None else ""),
                "trace": c.trace,
                "seed": c.seed,
                "backpressure": c.backpressure,
                "reset_step": c.reset_step,
                "steps": steps,
            }
        )
    return job


def write_job(job: dict[str, Any], path: Path) -> None:
    atomic_write_text(path, json.dumps(job) + "\n")


def read_job(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())
