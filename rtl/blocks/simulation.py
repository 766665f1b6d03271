"""Run the blocks in Amaranth's simulator with stream drivers (async testbenches): a source that
offers payloads after random idle cycles, a sink that takes them with random backpressure, and one
runner per block that replays integer (fixed-point) steps and returns what the block produced with
the cycles measured per step. Used by the tests and by `python -m rtl report`."""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from amaranth import Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from golden import fixedpoint as fx
from rtl.blocks.accumulate import EventAccumulator
from rtl.blocks.cell import CellUnit, record_layout
from rtl.blocks.gradient import GradientUnit
from rtl.blocks.influence import InfluenceUpdate
from rtl.blocks.input_part import InputUnit
from rtl.blocks.linearise import LinearizeUnit
from rtl.blocks.params import (
    AccumulateParams,
    CellUnitParams,
    GradientParams,
    InfluenceParams,
    InputParams,
    LinearizeParams,
    ReadoutParams,
    RouterParams,
    UpdateParams,
)
from rtl.blocks.readout import ReadoutUnit
from rtl.blocks.router import EventRouter
from rtl.blocks.transactions import accumulate_load, influence_matrix, influence_transactions
from rtl.blocks.update import UpdateUnit

CLOCK = 1e-8


async def send(ctx, s, payload, rng: random.Random, idle: float = 0.0) -> int:
    """Offer one payload on stream s (after random idle cycles) and wait for its handshake; returns
    the clock edges until and including the handshake."""
    edges = 0
    while idle and rng.random() < idle:
        await ctx.tick()
        edges += 1
    ctx.set(s.payload, payload)
    ctx.set(s.valid, 1)
    while True:
        *_, ready = await ctx.tick().sample(s.ready)
        edges += 1
        if ready:
            break
    ctx.set(s.valid, 0)
    return edges


async def receive(ctx, s, rng: random.Random, stall: float = 0.0):
    """Take one payload from stream s, holding ready low on random cycles; returns (payload, edges)
    where edges counts the clock edges until and including the handshake."""
    edges = 0
    while True:
        ctx.set(s.ready, not (stall and rng.random() < stall))
        _, _, valid, ready, payload = await ctx.tick().sample(s.valid, s.ready, s.payload)
        edges += 1
        if valid and ready:
            ctx.set(s.ready, 0)
            return payload, edges


def clocked(design, seed: int) -> tuple[Simulator, random.Random]:
    """A simulator of the design with its clock, and the seeded generator of its drivers' choices."""
    sim = Simulator(design)
    sim.add_clock(CLOCK)
    return sim, random.Random(seed)


@dataclass
class StepResult:
    output: object  # what the block produced this step (per block, see the runners)
    cycles: int  # from the step's first handshake to its last, inclusive
    stalls: int = 0  # cycles the block reported waiting on its streams


def simulate_router(p: RouterParams, ys: list[np.ndarray], seed: int = 0, stall: float = 0.0):
    """Per step: output = the (index, value) events of each lane (markers checked and removed).
    Returns (steps, final event count)."""
    dut = EventRouter(p)
    sim, rng = clocked(dut, seed)
    lanes: list[list[list[tuple[int, int]]]] = [[] for _ in range(p.lanes)]
    cycles: list[int] = []
    count: list[int] = []

    def sink(lane: int):
        async def run(ctx):
            for _ in ys:
                got = []
                while True:
                    ev, _ = await receive(ctx, dut.events[lane], rng, stall)
                    if ev.end:
                        if ev.index or ev.value:
                            raise AssertionError(f"lane {lane}: end marker carries index {ev.index} value {ev.value}")
                        break
                    got.append((ev.index, ev.value))
                lanes[lane].append(got)

        return run

    async def main(ctx):
        for y in ys:
            await send(ctx, dut.y, [int(v) for v in y], rng)
            n = 1
            while True:
                _, _, busy = await ctx.tick().sample(dut.busy)
                if not busy:
                    break
                n += 1
            cycles.append(n)
        count.append(ctx.get(dut.count))

    for lane in range(p.lanes):
        sim.add_testbench(sink(lane), background=True)
    sim.add_testbench(main)
    sim.run()
    steps = [StepResult([lanes[lane][t] for lane in range(p.lanes)], cycles[t]) for t in range(len(ys))]
    return steps, count[0]


def simulate_accumulate(
    p: AccumulateParams,
    V: dict[str, np.ndarray],
    steps: list[tuple[np.ndarray, dict[str, np.ndarray]]],
    seed: int = 0,
    idle: float = 0.0,
) -> list[StepResult]:
    """steps: (y_{t-1}, input parts {g: W_g x + b_g}) in integers. Per step: output = {g: pre-activations}."""
    dut = EventAccumulator(p)
    sim, rng = clocked(dut, seed)
    out: list[StepResult] = []

    async def event_source(ctx):
        for y, _ in steps:
            for j, v in fx.route_events(y, 1)[0]:
                await send(ctx, dut.events, {"index": j, "value": v, "end": 0}, rng, idle)
            await send(ctx, dut.events, {"index": 0, "value": 0, "end": 1}, rng, idle)

    async def main(ctx):
        for load in accumulate_load(p, V):
            await send(ctx, dut.load, load, rng)
        for _, inputs in steps:
            await send(ctx, dut.init, {g: [int(v) for v in inputs[g]] for g in "urz"}, rng, idle)
            pre, edges = await receive(ctx, dut.pre, rng, idle)
            out.append(StepResult({g: np.array(list(pre[g])) for g in "urz"}, edges + 1))

    sim.add_testbench(event_source, background=True)
    sim.add_testbench(main)
    sim.run()
    return out


def simulate_influence(p: InfluenceParams, steps: list, seed: int = 0, idle: float = 0.0) -> list[StepResult]:
    """steps: integer golden.hw_stimulus.InfluenceStep objects. Per step: output = M_t read back [n, P]."""
    dut = InfluenceUpdate(p)
    sim = Simulator(dut)
    sim.add_clock(CLOCK)
    txs = [
        influence_transactions(p, s.decay, s.sources, s.d_src, s.G_cols, s.Mbar, s.rows, first=(t == 0))
        for t, s in enumerate(steps)
    ]
    rng = random.Random(seed)
    out: list[StepResult] = []

    async def setup_source(ctx):
        for tx in txs:
            for el in tx.setup:
                await send(ctx, dut.setup, el, rng, idle)

    async def mbar_source(ctx):
        for tx in txs:
            for word in tx.mbar:
                await send(ctx, dut.mbar, word, rng, idle)

    async def main(ctx):
        for tx in txs:
            await send(ctx, dut.step, tx.header, rng, idle)
            done, edges = await receive(ctx, dut.done, rng, idle)
            words = []
            for addr in range(p.depth):
                ctx.set(dut.rb_addr, addr)
                await ctx.tick()
                words.append(list(ctx.get(dut.rb_data)))
            M = influence_matrix(p, words, ctx.get(dut.row_valid))
            out.append(StepResult(M, edges + 1, done.stalls))

    sim.add_testbench(setup_source, background=True)
    sim.add_testbench(mbar_source, background=True)
    sim.add_testbench(main)
    sim.run()
    return out


@dataclass
class SelfTestResult:
    passed: bool
    errors: int
    checked: int
    cycles: int  # until done
    report: str  # the UART line, decoded from the tx pin


def simulate_selftest(test, divisor: int = 4, max_cycles: int = 2_000_000) -> SelfTestResult:
    """Run the self-test top with its UART report (rtl.fpga.boards.SelfTestReport) until done, then decode
    one report line from the tx pin: 8N1, sampled at the middle of each bit."""
    from rtl.fpga.boards import SelfTestReport

    top = SelfTestReport(test, divisor, repeat_bits=8)
    sim = Simulator(top)
    sim.add_clock(CLOCK)
    result: dict = {}

    async def bench(ctx):
        cycles = 0
        while not ctx.get(test.done):
            await ctx.tick()
            cycles += 1
            if cycles > max_cycles:
                raise AssertionError(f"self-test not done after {max_cycles} cycles")
        result.update(cycles=cycles, passed=ctx.get(top.passed), errors=ctx.get(test.errors))
        result["checked"] = ctx.get(test.checked)
        line = ""
        while not line.endswith("\n"):
            while ctx.get(top.tx):  # wait for a start bit
                await ctx.tick()
            await ctx.tick().repeat(divisor + divisor // 2)  # to the middle of bit 0
            byte = 0
            for bit in range(8):
                byte |= ctx.get(top.tx) << bit
                await ctx.tick().repeat(divisor)
            if not ctx.get(top.tx):
                raise AssertionError("UART: stop bit is 0")
            line += chr(byte)
        result["report"] = line

    sim.add_testbench(bench)
    sim.run()
    return SelfTestResult(
        bool(result["passed"]), result["errors"], result["checked"], result["cycles"], result["report"]
    )


def simulate_cell(
    p: CellUnitParams,
    theta: np.ndarray,
    steps: list[tuple[bool, dict[str, np.ndarray]]],
    seed: int = 0,
    stall: float = 0.0,
) -> list[StepResult]:
    """Load theta, then per step (clear, pre): a clear strobe when asked, the pre-activations; output
    = (records as a list of dicts, y). cycles: from taking `pre` to taking `y`, inclusive."""
    dut = CellUnit(p)
    sim, rng = clocked(dut, seed)
    results: list[StepResult] = []
    fields = [name for name in record_layout(p).members if name != "index"]

    async def main(ctx):
        for index, value in enumerate(theta):
            await send(ctx, dut.load, {"index": index, "theta": int(value)}, rng)
        for clear, pre in steps:
            if clear:
                ctx.set(dut.clear, 1)
                await ctx.tick()
                ctx.set(dut.clear, 0)
            ctx.set(dut.pre.payload, {g: [int(v) for v in pre[g]] for g in "urz"})
            ctx.set(dut.pre.valid, 1)
            await ctx.tick().until(dut.pre.ready)
            ctx.set(dut.pre.valid, 0)
            cycles = 1
            records = []
            for k in range(p.n):
                rec, edges = await receive(ctx, dut.record, rng, stall)
                cycles += edges
                if rec.index != k:
                    raise AssertionError(f"record {k} came with index {rec.index}")
                records.append({name: int(getattr(rec, name)) for name in fields})
            y, edges = await receive(ctx, dut.y, rng, stall)
            results.append(StepResult(output=(records, [int(v) for v in y]), cycles=cycles + edges))

    sim.add_testbench(main)
    sim.run()
    return results


async def load_linearise(ctx, unit: LinearizeUnit, load: dict, rng: random.Random) -> None:
    """Write a LinearizeUnit's weights, thresholds and columns (transactions.linearise_load)."""
    for port in ("weight", "theta", "columns"):
        for payload in load[port]:
            await send(ctx, getattr(unit, port), payload, rng)


def simulate_linearise(
    p: LinearizeParams,
    load: dict,
    steps: list[tuple[bool, list[int], list[dict]]],
    seed: int = 0,
    stall: float = 0.0,
) -> list[StepResult]:
    """Load the unit (transactions.linearise_load), then per step (clear, x, records): a clear strobe
    when asked, x, the cell unit's records; output = (header, setup elements, Mbar words) as dicts.
    cycles: from taking x to taking Mbar's end word, inclusive. stall: random idle cycles on the
    inputs and backpressure on the three outputs."""
    dut = LinearizeUnit(p)
    sim, rng = clocked(dut, seed)
    headers: list[dict] = []
    setups: list[list[dict]] = []
    words: list[list[dict]] = []
    cycles: list[int] = []

    async def setup_sink(ctx):
        for t in range(len(steps)):
            while len(headers) <= t:  # the header says how many elements: rows x terms
                await ctx.tick()
            got = []
            for _ in range(p.n * headers[t]["terms"]):
                el, _ = await receive(ctx, dut.setup, rng, stall)
                got.append({name: int(getattr(el, name)) for name in ("g", "d", "src", "decay")})
            setups.append(got)

    async def mbar_sink(ctx):
        for _ in steps:
            got: list[dict] = []
            while not got or not got[-1]["end"]:
                word, _ = await receive(ctx, dut.mbar, rng, stall)
                values = [int(v) for v in word.values]
                got.append({"row": word.row, "chunk": word.chunk, "values": values, "end": word.end})
            words.append(got)

    async def main(ctx):
        await load_linearise(ctx, dut, load, rng)
        for clear, x, records in steps:
            if clear:
                ctx.set(dut.clear, 1)
                await ctx.tick()
                ctx.set(dut.clear, 0)
            await send(ctx, dut.x, x, rng, stall)
            edges = 1
            for rec in records:
                edges += await send(ctx, dut.record, rec, rng, stall)
            header, waited = await receive(ctx, dut.step, rng, stall)
            headers.append({name: int(getattr(header, name)) for name in ("rows", "terms", "first")})
            edges += waited
            while True:  # until the end word is taken
                *_, valid, ready, end = await ctx.tick().sample(dut.mbar.valid, dut.mbar.ready, dut.mbar.payload.end)
                edges += 1
                if valid and ready and end:
                    break
            cycles.append(edges)

    sim.add_testbench(setup_sink, background=True)
    sim.add_testbench(mbar_sink, background=True)
    sim.add_testbench(main)
    sim.run()
    return [StepResult((h, st, mb), cy) for h, st, mb, cy in zip(headers, setups, words, cycles, strict=True)]


def simulate_learning_path(
    p: LinearizeParams,
    load: dict,
    steps: list[tuple[bool, list[int], list[dict]]],
    credits: list[list[int]],
    seed: int = 0,
    stall: float = 0.0,
) -> list[StepResult]:
    """LinearizeUnit feeding an InfluenceUpdate (step, setup and mbar streams), whose written rows
    feed a GradientUnit, connected as the core connects them. Per step (clear, x, records) with its
    credit vector: a clear restarts the sequence (M_0 = 0) and zeroes the gradient; output = (M_t
    read back [n, P], the gradient accumulators [P]); cycles: from taking x to the InfluenceUpdate's
    done, inclusive."""
    m = Module()
    lin = m.submodules.linearise = LinearizeUnit(p)
    infl = m.submodules.influence = InfluenceUpdate(p.influence)
    grad = m.submodules.gradient = GradientUnit(GradientParams(p.n, p.columns, p.lanes, 1, len(steps), p.fp))
    for port in ("step", "setup", "mbar"):
        wiring.connect(m, getattr(lin, port), getattr(infl, port))
    m.d.comb += grad.tap.eq(infl.written)
    sim, rng = clocked(m, seed)
    results: list[StepResult] = []

    async def main(ctx):
        await load_linearise(ctx, lin, load, rng)
        for (clear, x, records), credit in zip(steps, credits, strict=True):
            if clear:
                ctx.set(lin.clear, 1)
                ctx.set(grad.clear, 1)
                await ctx.tick()
                ctx.set(lin.clear, 0)
                ctx.set(grad.clear, 0)
                await ctx.tick().until(~grad.busy)
            await send(ctx, grad.credit, credit, rng, stall)
            await send(ctx, lin.x, x, rng, stall)
            edges = 1
            for rec in records:
                edges += await send(ctx, lin.record, rec, rng, stall)
            _, waited = await receive(ctx, infl.done, rng, stall)
            edges += waited
            words, sums = [], []
            for addr in range(p.influence.depth):
                ctx.set(infl.rb_addr, addr)
                await ctx.tick()
                words.append(list(ctx.get(infl.rb_data)))
            for chunk in range(p.chunks):
                ctx.set(grad.rb_addr, chunk)
                await ctx.tick()
                sums += [int(v) for v in ctx.get(grad.rb_data)]
            M = influence_matrix(p.influence, words, ctx.get(infl.row_valid))
            results.append(StepResult((M, np.array(sums[: p.columns], dtype=object)), edges))

    sim.add_testbench(main)
    sim.run()
    return results


def simulate_input(p: InputParams, W: dict, b: dict, xs: list, seed: int = 0, stall: float = 0.0) -> list[StepResult]:
    """Load W_g and b_g, then per x: output = {g: input parts}; cycles: from taking x to taking
    `init`, inclusive."""
    dut = InputUnit(p)
    sim, rng = clocked(dut, seed)
    results: list[StepResult] = []

    async def main(ctx):
        for i, g in enumerate("urz"):
            for k in range(p.n):
                for j in range(p.n_in):
                    await send(ctx, dut.load, {"bias": 0, "gate": i, "row": k, "col": j, "value": int(W[g][k, j])}, rng)
                await send(ctx, dut.load, {"bias": 1, "gate": i, "row": k, "col": 0, "value": int(b[g][k])}, rng)
        for x in xs:
            await send(ctx, dut.x, [int(v) for v in x], rng, stall)
            init, edges = await receive(ctx, dut.init, rng, stall)
            results.append(StepResult({g: [int(v) for v in init[g]] for g in "urz"}, 1 + edges))

    sim.add_testbench(main)
    sim.run()
    return results


def simulate_readout(
    p: ReadoutParams, w_out: np.ndarray, b_out: int, samples: list, seed: int = 0, stall: float = 0.0
) -> list[dict]:
    """Load w_out and b_out, then per sample (steps, learn, target, c_T): steps - 1 steps without loss
    and the last with c_T. Per sample: {"credits": the credit vectors, "logit", "sums": R read back
    after the sample, "cycles": of the last step, from its header to its last handshake}."""
    dut = ReadoutUnit(p)
    sim, rng = clocked(dut, seed)
    out: list[dict] = []

    async def main(ctx):
        for k, value in enumerate([*w_out, b_out]):
            await send(ctx, dut.load, {"index": k, "value": int(value)}, rng)
        for steps, learn, target, c_T in samples:
            credits = []
            for t in range(steps):
                last = t == steps - 1
                await send(ctx, dut.step, {"last": last, "learn": learn, "target": target}, rng, stall)
                edges = 1
                if last:
                    for c in c_T:
                        edges += await send(ctx, dut.c, {"c": int(c)}, rng, stall)
                    pred, waited = await receive(ctx, dut.pred, rng, stall)
                    edges += waited
                if learn:
                    credit, waited = await receive(ctx, dut.credit, rng, stall)
                    credits.append([int(v) for v in credit])
                    edges += waited
            await ctx.tick().until(~dut.busy)
            sums = []
            for k in range(p.n + 1):
                ctx.set(dut.rb_addr, k)
                sums.append(ctx.get(dut.rb_data))
            out.append({"credits": credits, "logit": int(pred.logit), "sums": sums, "cycles": edges})

    sim.add_testbench(main)
    sim.run()
    return out


def simulate_update(
    p: UpdateParams,
    load: list[dict],
    passes: list[tuple[bool, list[int], list[int]]],
    seed: int = 0,
    stall: float = 0.0,
) -> list[StepResult]:
    """Load the master words, then per pass (update, A, R): a start, serving the GradientUnit's
    words of A [P] and the ReadoutUnit's R [n + 1] on the read ports. Per pass: output = (the
    words emitted, [(master, momentum)] read back); cycles: from start to the last word, inclusive."""
    dut = UpdateUnit(p)
    sim, rng = clocked(dut, seed)
    results: list[StepResult] = []
    serving: dict = {}
    names = ("block", "m", "j", "addr", "value")

    async def readout_port(ctx):  # the ReadoutUnit's read port is combinational
        async for (ro_addr,) in ctx.changed(dut.ro_addr):
            if serving:
                ctx.set(dut.ro_data, serving["R"][ro_addr] if ro_addr < len(serving["R"]) else 0)

    async def gradient_port(ctx):  # the GradientUnit's is registered
        async for _clk, _rst, acc_addr in ctx.tick().sample(dut.acc_addr):
            if serving:
                words = serving["A"][acc_addr * p.lanes : (acc_addr + 1) * p.lanes]
                ctx.set(dut.acc_data, words + [0] * (p.lanes - len(words)))

    async def main(ctx):
        for payload in load:
            await send(ctx, dut.load, payload, rng)
        for update, A, R in passes:
            serving.update(A=A, R=R)
            await send(ctx, dut.start, {"update": update}, rng)
            edges = 1
            words = []
            for _ in range(p.parameters):
                word, waited = await receive(ctx, dut.word, rng, stall)
                words.append({name: int(getattr(word, name)) for name in names})
                edges += waited
            await ctx.tick()
            stored = []
            for q in range(p.parameters):
                ctx.set(dut.rb_addr, q)
                await ctx.tick()
                stored.append((int(ctx.get(dut.rb_data.master)), int(ctx.get(dut.rb_data.momentum))))
            results.append(StepResult((words, stored), edges))

    sim.add_process(readout_port)
    sim.add_process(gradient_port)
    sim.add_testbench(main)
    sim.run()
    return results
