"""cocotb testbench of EventAccumulator: loads the trace's column-compressed recurrent weights, then
per step sends the input parts on `init` and the previous output's events on `events` (random idle
cycles), takes the pre-activations from `pre` (random backpressure) and compares them with
golden.fixedpoint.accumulate_gates; cycles per step against rtl.blocks.cycles.accumulate_cycles.
With backpressure the next step's input is sometimes offered while the block is busy, and once per
case the same weights are loaded again while it is busy (they are written between steps)."""

from __future__ import annotations

import random

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles

from golden import fixedpoint as fx
from rtl.blocks.accumulate import accumulate_signature
from rtl.blocks.cycles import accumulate_cycles
from rtl.blocks.layouts import payload_shape
from rtl.blocks.params import AccumulateParams
from rtl.blocks.transactions import accumulate_load, accumulate_words
from sim.streams import StreamSink, StreamSource
from sim.tb_common import TB


class AccumulateTB(TB):
    def __init__(self, dut):
        super().__init__(dut)
        self.p = AccumulateParams(**self.params)
        sig = accumulate_signature(self.p)
        self.rng = random.Random(0)
        self.load = StreamSource(dut, "load", payload_shape(sig, "load"), self.counter, self.rng)
        self.init = StreamSource(dut, "init", payload_shape(sig, "init"), self.counter, self.rng)
        self.events = StreamSource(dut, "events", payload_shape(sig, "events"), self.counter, self.rng)
        self.pre = StreamSink(dut, "pre", payload_shape(sig, "pre"), self.counter, self.rng)
        self.V: dict[str, np.ndarray] = {}

    async def load_weights(self, trace: str) -> None:
        """Write the trace's weights (no idle cycles) and wait until the loader is done."""
        self.V = {g: np.asarray(v, dtype=np.int64) for g, v in self.job["weights"][trace].items()}
        self.load.idle = 0.0
        for item in accumulate_load(self.p, self.V):
            self.load.send(item)
        while not self.load.idle_now():
            await ClockCycles(self.dut.clk, 1)
        await ClockCycles(self.dut.clk, 1)
        self.words = accumulate_words(self.p, self.V)

    def configure(self, case: dict) -> None:
        self.rng.seed(case["seed"])
        self.init.idle = self.events.idle = case["backpressure"]
        self.pre.stall = case["backpressure"]

    def flush(self) -> None:
        for s in (self.init, self.events, self.load):
            s.clear()
        self.pre.clear()

    def start(self, case: dict, t: int) -> int:
        """Offer step t's input parts and events; returns the index of init's handshake."""
        s = case["steps"][t]
        sent = self.init.send({g: s["inputs"][g] for g in "urz"})
        for j, v in fx.route_events(np.asarray(s["y"]), 1)[0]:
            self.events.send({"index": j, "value": v, "end": 0})
        self.events.send({"index": 0, "value": 0, "end": 1})
        return sent

    async def step(self, index: int, case: dict, t: int) -> None:
        sent = self.offer_step(case, t)
        if t == 0 and case["backpressure"] and case["reset_step"] is None:
            for item in accumulate_load(self.p, self.V):  # the same weights: the loader waits while busy
                self.load.send(item)
        cycle, pre = await self.pre.take()
        cycles = cycle - self.init.sent_cycles[sent] + 1
        s = case["steps"][t]
        y = np.asarray(s["y"], dtype=np.int64)
        events = [int(j) for j in np.nonzero(y)[0]]
        predicted = accumulate_cycles(self.p, events, *self.words)
        self.check_cycles(case, t, cycles, predicted)
        ref = fx.accumulate_gates(y, self.V, {g: np.asarray(v) for g, v in s["inputs"].items()}, self.p.fp)
        want = np.stack([ref.u, ref.r, ref.z])
        got = np.array([list(pre[g]) for g in "urz"], dtype=np.int64)
        self.scoreboard.compare(case["name"], t, "pre-activations [u; r; z]", self.corrupt(index, t, want), got)
        self.records.append(
            {"case": case["name"], "step": t, "cycles": cycles, "predicted": predicted, "events": len(events)}
        )


@cocotb.test()
async def run_job(dut):
    tb = AccumulateTB(dut)
    await tb.reset()
    loaded = None
    for index, case in enumerate(tb.job["cases"]):
        if case["trace"] != loaded:
            await tb.load_weights(case["trace"])
            loaded = case["trace"]
        tb.configure(case)
        if case["reset_step"] is not None:  # run into the step, reset half-way, then replay from the start
            for t in range(case["reset_step"]):
                await tb.step(index, case, t)
            tb.start(case, case["reset_step"])
            await tb.reset_during_step(case, 4)
        for t in range(len(case["steps"])):
            await tb.step(index, case, t)
    tb.finish()
