"""Replay golden traces through the RTL blocks in Amaranth's simulator and report, per trace, block
and lane count: bit-exactness against golden.fixedpoint, measured cycles beside the cycle
functions (rtl.blocks.cycles), and the influence update's MAC-lane utilisation (useful lane MACs over
L x measured cycles). A mismatch is an error, not a row in the report."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from golden import fixedpoint as fx
from golden.atomic import atomic_write_text
from golden.errors import UserError
from golden.hw_stimulus import (
    forward_steps,
    influence_steps,
    quantize_forward,
    quantize_influence,
    recurrent_weights,
)
from golden.trace import Trace, load_trace
from rtl.blocks.cycles import accumulate_cycles, influence_cycles, influence_lane_macs, router_cycles
from rtl.blocks.params import AccumulateParams, InfluenceParams, RouterParams
from rtl.blocks.transactions import accumulate_words


class MismatchError(UserError):
    """The RTL disagrees with the integer reference or its cycle function."""


@dataclass
class Tally:
    steps: int = 0
    measured: int = 0
    predicted: int = 0
    lane_macs: int = 0

    def add(self, measured: int, predicted: int, lane_macs: int = 0) -> None:
        self.steps += 1
        self.measured += measured
        self.predicted += predicted
        self.lane_macs += lane_macs


def _fail(where: str, what: str) -> None:
    raise MismatchError(f"{where}: {what}")


def router_tally(trace: Trace, samples: int, lanes: int) -> Tally:
    from rtl.blocks.simulation import simulate_router

    key = "a" if trace.config.cell == "trnn" else "y"
    p = RouterParams(n=trace.config.n, lanes=min(lanes, trace.config.n))
    tally = Tally()
    for b in range(samples):
        ys = [fx.to_fixed(f"{key} (outputs)", v, p.fp.state) for v in trace.arrays[key][:, b]]
        steps, count = simulate_router(p, ys)
        for t, (y, got) in enumerate(zip(ys, steps)):
            if got.output != fx.route_events(y, p.lanes):
                _fail(f"router sample {b} step {t}", "events differ from golden.fixedpoint.route_events")
            tally.add(got.cycles, router_cycles(p, y != 0))
        if count != sum(int(np.count_nonzero(y)) for y in ys):
            _fail(f"router sample {b}", f"event counter {count}")
    return tally


def accumulate_tally(trace: Trace, samples: int, lanes: int) -> Tally:
    from rtl.blocks.simulation import simulate_accumulate

    p = AccumulateParams(n=trace.config.n, lanes=lanes)
    V = recurrent_weights(trace, p.fp)
    pass1, pass2 = accumulate_words(p, V)
    tally = Tally()
    for b in range(samples):
        steps = [quantize_forward(s, p.fp) for s in forward_steps(trace, b)]
        stimulus = [(s.y_prev, s.input_part) for s in steps]
        for t, ((y, inputs), got) in enumerate(zip(stimulus, simulate_accumulate(p, V, stimulus))):
            ref = fx.accumulate_gates(y, V, inputs, p.fp)
            if any(not np.array_equal(got.output[g], getattr(ref, g)) for g in "urz"):
                _fail(f"accumulate sample {b} step {t}", "pre-activations differ from the integer reference")
            tally.add(got.cycles, accumulate_cycles(p, list(np.nonzero(y)[0]), pass1, pass2))
    return tally


def influence_tally(trace: Trace, samples: int, lanes: int) -> Tally:
    from rtl.blocks.simulation import simulate_influence

    tally = Tally()
    for b in range(samples):
        steps = [quantize_influence(s) for s in influence_steps(trace, b)]
        n, P = steps[0].Mbar.shape
        p = InfluenceParams(n=n, columns=P, lanes=min(lanes, P), decay=steps[0].decay is not None)
        M = np.zeros((n, P), dtype=np.int64)
        for t, (s, got) in enumerate(zip(steps, simulate_influence(p, steps))):
            M = fx.influence_step(M, s.decay, s.sources, s.d_src, s.G_cols, s.Mbar, s.rows, p.fp)
            if not np.array_equal(got.output, M):
                _fail(f"influence sample {b} step {t}", f"{np.count_nonzero(got.output != M)} entries of M differ")
            rows, sources = int(s.rows.sum()), len(s.sources)
            tally.add(got.cycles, influence_cycles(p, rows, sources), influence_lane_macs(p, rows, sources))
    return tally


BLOCKS = {"router": router_tally, "accumulate": accumulate_tally, "influence": influence_tally}


def blocks_report(
    traces: list[str], lanes: list[int], samples: int | None, blocks: list[str], progress: bool = True
) -> dict[str, Any]:
    """Run every (trace, block, lanes) and collect the tallies; raises MismatchError on any disagreement."""
    unknown = [b for b in blocks if b not in BLOCKS]
    if unknown:
        raise UserError(f"--blocks: unknown {', '.join(unknown)}; expected some of {', '.join(BLOCKS)}")
    if not lanes or any(lane < 1 for lane in lanes):
        raise UserError(f"--lanes: got {lanes}; expected positive integers")
    if samples is not None and samples < 1:
        raise UserError(f"--samples: got {samples}; expected a positive integer")
    loaded = {path: load_trace(path) for path in traces}
    jobs = [
        (path, block, lane)
        for path, trace in loaded.items()
        for block in blocks
        if not (block == "accumulate" and trace.config.cell != "egru")
        for lane in lanes
    ]
    rows = []
    for path, block, lane in tqdm(jobs, desc="blocks", disable=not progress):
        trace = loaded[path]
        used = trace.meta["B"] if samples is None else min(samples, trace.meta["B"])
        tally = BLOCKS[block](trace, used, lane)
        row = {
            "trace": Path(path).name,
            "cell": trace.config.cell,
            "n": trace.config.n,
            "omega": trace.config.omega,
            "epsilon": trace.config.epsilon,
            "block": block,
            "lanes": lane,
            "samples": used,
            "steps": tally.steps,
            "measured_cycles": tally.measured,
            "cycle_function": tally.predicted,
            "cycles_equal": tally.measured == tally.predicted,
            "bit_exact": True,
        }
        if block == "influence":
            row["lane_macs"] = tally.lane_macs
            row["utilisation"] = tally.lane_macs / (lane * tally.measured)
        rows.append(row)
        if not row["cycles_equal"]:
            raise MismatchError(
                f"{path} {block} L={lane}: measured {tally.measured} cycles, cycle function {tally.predicted}"
            )
    return {"simulator": "amaranth.sim (Python)", "rows": rows}


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "| trace | cell | ω | ε | block | L | steps | measured cycles | cycle function | bit-exact "
        "| lane utilisation |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        util = f"{r['utilisation']:.3f}" if "utilisation" in r else "-"
        lines.append(
            f"| {r['trace']} | {r['cell']} | {r['omega']:g} | {r['epsilon']:g} | {r['block']} | {r['lanes']} | "
            f"{r['steps']} | {r['measured_cycles']} | {r['cycle_function']} | {'yes' if r['bit_exact'] else 'NO'} | "
            f"{util} |"
        )
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "blocks.json", json.dumps(report, indent=2) + "\n")
    atomic_write_text(out / "blocks.md", markdown(report))
