"""cocotb testbench of CellUnit: loads the trace's thresholds, then per step (a clear strobe at the
start of each case) sends the gate accumulation's pre-activations on `pre` (random idle cycles),
takes every unit's record from `record` and the output vector from `y` (random backpressure), and
compares them with golden.fixed_cell.cell_step carried over the case; cycles per step against
rtl.blocks.cycles.cell_cycles."""

from __future__ import annotations

import random

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, RisingEdge

from golden.fixed_cell import cell_step
from rtl.blocks.cell import cell_signature, record_layout
from rtl.blocks.cycles import cell_cycles
from rtl.blocks.layouts import payload_shape
from rtl.blocks.params import CellUnitParams
from sim.streams import StreamSink, StreamSource
from sim.tb_common import TB

FIELDS = ("u", "r", "z", "c", "o", "y", "dH", "d", "su", "sr", "dz")


class CellTB(TB):
    def __init__(self, dut):
        super().__init__(dut)
        self.p = CellUnitParams(**self.params)
        sig = cell_signature(self.p)
        self.rng = random.Random(0)
        self.load = StreamSource(dut, "load", payload_shape(sig, "load"), self.counter, self.rng)
        self.pre = StreamSource(dut, "pre", payload_shape(sig, "pre"), self.counter, self.rng)
        self.record = StreamSink(dut, "record", record_layout(self.p), self.counter, self.rng)
        self.y = StreamSink(dut, "y", payload_shape(sig, "y"), self.counter, self.rng)
        self.zero_V = {g: np.zeros((self.p.n, self.p.n), dtype=np.int64) for g in "urz"}
        dut.clear.value = 0

    async def load_theta(self, trace: str) -> None:
        """Write the trace's thresholds (no idle cycles) and wait until they are in."""
        self.theta = np.asarray(self.job["theta"][trace], dtype=np.int64)
        self.load.idle = 0.0
        for k, value in enumerate(self.theta):
            self.load.send({"index": k, "theta": int(value)})
        while not self.load.idle_now():
            await ClockCycles(self.dut.clk, 1)
        await ClockCycles(self.dut.clk, 1)

    async def clear(self) -> None:
        """The clear strobe while the unit is idle: a sequence starts (c', y', o' = 0)."""
        self.dut.clear.value = 1
        await RisingEdge(self.dut.clk)
        self.dut.clear.value = 0
        n = self.p.n
        self.state = (np.zeros(n, dtype=np.int64),) * 3

    def configure(self, case: dict) -> None:
        self.rng.seed(case["seed"])
        self.pre.idle = case["backpressure"]
        self.record.stall = self.y.stall = case["backpressure"]

    def flush(self) -> None:
        for s in (self.load, self.pre, self.record, self.y):
            s.clear()

    def start(self, case: dict, t: int) -> int:
        """Offer step t's pre-activations; returns the index of their handshake in sent_cycles."""
        return self.pre.send({g: [int(v) for v in case["steps"][t]["pre"][g]] for g in "urz"})

    async def step(self, index: int, case: dict, t: int) -> None:
        pre = {g: np.asarray(v, dtype=np.int64) for g, v in case["steps"][t]["pre"].items()}
        sent = self.offer_step(case, t)
        records = []
        for _ in range(self.p.n):
            _, rec = await self.record.take()
            records.append(rec)
        cycle, y = await self.y.take()
        cycles = cycle - self.pre.sent_cycles[sent] + 1
        self.check_cycles(case, t, cycles, cell_cycles(self.p))
        c, y_prev, o = self.state
        want = cell_step(c, y_prev, o, self.zero_V, pre, self.theta, self.p.constants, self.p.subtractive, self.p.fp)
        got = {name: np.array([int(getattr(r, name)) for r in records], dtype=np.int64) for name in FIELDS}
        indices = np.array([int(r.index) for r in records], dtype=np.int64)
        self.scoreboard.compare(case["name"], t, "record order", np.arange(self.p.n), indices)
        for name in FIELDS:
            expected = self.corrupt(index, t, getattr(want, name).copy()) if name == "c" else getattr(want, name)
            self.scoreboard.compare(case["name"], t, name, expected, got[name])
        self.scoreboard.compare(case["name"], t, "y", want.y, np.array([int(v) for v in y], dtype=np.int64))
        self.state = (want.c, want.y, want.o)
        self.records.append(
            {
                "case": case["name"],
                "step": t,
                "cycles": cycles,
                "predicted": cell_cycles(self.p),
                "events": int(want.o.sum()),
            }
        )


@cocotb.test()
async def run_job(dut):
    tb = CellTB(dut)
    await tb.reset()
    loaded = None
    for index, case in enumerate(tb.job["cases"]):
        if case["trace"] != loaded:
            await tb.load_theta(case["trace"])
            loaded = case["trace"]
        tb.configure(case)
        await tb.clear()
        if case["reset_step"] is not None:  # run into the step, reset half-way, then replay from the start
            for t in range(case["reset_step"]):
                await tb.step(index, case, t)
            tb.start(case, case["reset_step"])
            await tb.reset_during_step(case, 4)
            await tb.load_theta(case["trace"])  # the reset cleared the registers theta lives in
            await tb.clear()
        for t in range(len(case["steps"])):
            await tb.step(index, case, t)
    tb.finish()
