"""The core in Amaranth's simulator: load a network, write its forward words, run sequences, read
the master words back after each. Used by the tests and by `python -m sim train --sim amaranth`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rtl.blocks.simulation import clocked, receive, send
from rtl.core.egru_core import UNITS, EGRUCore
from rtl.core.params import CoreParams


@dataclass
class SequenceResult:
    logit: int
    master: list[tuple[int, int]]  # (master, momentum) per parameter after the sequence
    step_cycles: list[int]  # from taking x_t to taking x_{t+1} (the last: to the core idle)
    unit_cycles: dict[str, int] = field(default_factory=dict)  # cycles each unit was busy


def simulate_core(
    p: CoreParams, loads: list[dict], sequences: list[tuple[int, bool, np.ndarray]], seed: int = 0, stall: float = 0.0
) -> list[SequenceResult]:
    """sequences: (target, learn, x [T, n_in] state words). stall: random idle cycles on the inputs
    and backpressure on `pred`."""
    dut = EGRUCore(p)
    sim, rng = clocked(dut, seed)
    results: list[SequenceResult] = []
    marks: list[int] = []  # cycle of every x handshake
    idles: list[int] = []  # cycle of every return to idle (busy low after high)
    busy_cycles = {name: 0 for name in UNITS}
    clock = [0, 1]  # cycle count, busy in the cycle before

    async def counter(ctx):
        async for _clk, _rst, x_valid, x_ready, busy, units in ctx.tick().sample(
            dut.x.valid, dut.x.ready, dut.busy, dut.unit_busy
        ):
            clock[0] += 1
            if x_valid and x_ready:
                marks.append(clock[0])
            if clock[1] and not busy:
                idles.append(clock[0])
            clock[1] = busy
            for name in UNITS:
                busy_cycles[name] += int(getattr(units, name))

    async def main(ctx):
        for payload in loads:
            await send(ctx, dut.load, payload, rng)
        await send(ctx, dut.init, 0, rng)
        await ctx.tick().until(~dut.busy)
        for target, learn, xs in sequences:
            before = dict(busy_cycles)
            start = len(marks)
            await send(ctx, dut.seq, {"target": target, "learn": learn}, rng, stall)
            for x in xs[:-1]:
                await send(ctx, dut.x, [int(v) for v in x], rng, stall)
            ctx.set(dut.x.payload, [int(v) for v in xs[-1]])
            ctx.set(dut.x.valid, 1)
            await ctx.tick().until(dut.x.ready)
            ctx.set(dut.x.valid, 0)
            pred, _ = await receive(ctx, dut.pred, rng, stall)
            while not idles or idles[-1] < marks[-1]:
                await ctx.tick()
            stored = []
            for q in range(p.update.parameters):
                ctx.set(dut.rb_addr, q)
                await ctx.tick()
                stored.append((int(ctx.get(dut.rb_data.master)), int(ctx.get(dut.rb_data.momentum))))
            steps = marks[start:] + [idles[-1]]
            unit = {name: busy_cycles[name] - before[name] for name in UNITS}
            results.append(SequenceResult(int(pred.logit), stored, list(np.diff(steps)), unit))

    sim.add_process(counter)
    sim.add_testbench(main)
    sim.run()
    return results
