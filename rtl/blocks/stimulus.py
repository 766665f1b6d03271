"""A golden trace's sample as each block's integer inputs (the fixed-point contract applied to the
trace), as plain lists: what the cocotb jobs (sim.jobs) and the on-board self-test (rtl.fpga.selftest)
replay. Also the block's parameters sized for a trace."""

from __future__ import annotations

from typing import Any

import numpy as np

from golden import fixedpoint as fx
from golden.errors import UserError
from golden.hw_stimulus import (
    forward_steps,
    influence_steps,
    quantize_forward,
    quantize_influence,
    recurrent_weights,
)
from golden.trace import Trace
from rtl.blocks.params import AccumulateParams, CellUnitParams, InfluenceParams, RouterParams, make_params


def ints(a) -> Any:
    """An integer array as nested lists (None stays None)."""
    return None if a is None else np.asarray(a, dtype=np.int64).tolist()


def router_steps(trace: Trace, sample: int, p: RouterParams) -> list[dict]:
    """Per step {"y": the step's outputs in the state format} (the threshold RNN's a)."""
    key = "a" if trace.config.cell == "trnn" else "y"
    return [{"y": ints(fx.to_fixed(f"{key} (outputs)", v, p.fp.state))} for v in trace.arrays[key][:, sample]]


def accumulate_steps(trace: Trace, sample: int, p: AccumulateParams) -> list[dict]:
    """Per step {"y": y_{t-1}, "inputs": {g: W_g x + b_g}} in the state and pre formats."""
    return [
        {"y": ints(q.y_prev), "inputs": {g: ints(v) for g, v in q.input_part.items()}}
        for q in (quantize_forward(s, p.fp) for s in forward_steps(trace, sample))
    ]


def influence_steps_int(trace: Trace, sample: int, p: InfluenceParams) -> list[dict]:
    """Per step the influence update's inputs (golden.fixedpoint.influence_step's arguments)."""
    out = []
    for s in influence_steps(trace, sample):
        q = quantize_influence(s, p.fp)
        out.append(
            {
                "decay": ints(q.decay),
                "sources": ints(q.sources),
                "d_src": ints(q.d_src),
                "G_cols": ints(q.G_cols),
                "Mbar": ints(q.Mbar),
                "rows": [bool(r) for r in q.rows],
            }
        )
    return out


def cell_steps(trace: Trace, sample: int, p: CellUnitParams) -> list[dict]:
    """Per step {"pre": {g: a_g}}: the pre-activations the gate accumulation forms from the trace's
    quantized step (golden.fixedpoint.accumulate_gates), what the cell unit takes from it."""
    V = recurrent_weights(trace, p.fp)
    out = []
    for q in (quantize_forward(s, p.fp) for s in forward_steps(trace, sample)):
        sums = fx.accumulate_gates(q.y_prev, V, q.input_part, p.fp)
        out.append({"pre": {"u": ints(sums.u), "r": ints(sums.r), "z": ints(sums.z)}})
    return out


def cell_theta(trace: Trace, p: CellUnitParams) -> list[int]:
    """The trace's thresholds theta as state words."""
    return ints(fx.to_fixed("theta", trace.arrays["theta"], p.fp.state))


STEPS_OF = {
    "router": router_steps,
    "accumulate": accumulate_steps,
    "influence": influence_steps_int,
    "cell": cell_steps,
}


def block_params(block: str, trace: Trace, lanes: int):
    """The block sized for the trace; lanes that do not fit it (more than its units, or than its
    columns for the influence update) are refused, never clamped."""
    cfg = trace.config
    if block in ("accumulate", "cell") and cfg.cell != "egru":
        raise UserError(f"--block {block}: trace cell {cfg.cell!r}; the {block} block is the EGRU's")
    if block == "cell":  # one unit at a time: no lanes
        return CellUnitParams(cfg.n, cfg.gamma, cfg.epsilon, cfg.reset == "subtractive")
    fits = trace.params().p_kept if block == "influence" else cfg.n
    if lanes > fits:
        what = f"its {fits} compacted columns" if block == "influence" else f"its n = {fits} units"
        raise UserError(f"--lanes: {block} lanes = {lanes} do not fit the trace; expected at most {what}")
    if block == "influence":
        return make_params(block, cfg.n, lanes, columns=fits, decay=cfg.cell != "trnn")
    return make_params(block, cfg.n, lanes)
