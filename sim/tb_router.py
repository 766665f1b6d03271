"""cocotb testbench of EventRouter: replays each case's output vectors, checks every lane's events
against golden.fixedpoint.route_events, the event counter against the events in, and cycles per
step against rtl.blocks.cycles.router_cycles."""

from __future__ import annotations

import random

import cocotb
import numpy as np

from golden import fixedpoint as fx
from rtl.blocks.cycles import router_cycles
from rtl.blocks.layouts import payload_shape
from rtl.blocks.params import RouterParams
from rtl.blocks.router import router_signature
from sim.streams import StreamSink, StreamSource
from sim.tb_common import TB


class RouterTB(TB):
    def __init__(self, dut):
        super().__init__(dut)
        self.p = RouterParams(**self.params)
        sig = router_signature(self.p)
        self.y_layout = payload_shape(sig, "y")
        self.event_layout = payload_shape(sig, "events")
        self.rng = random.Random(0)
        self.source = StreamSource(dut, "y", self.y_layout, self.counter, self.rng)
        self.sinks = [
            StreamSink(dut, f"events__{lane}", self.event_layout, self.counter, self.rng)
            for lane in range(self.p.lanes)
        ]

    def configure(self, case: dict) -> None:
        self.rng.seed(case["seed"])
        self.source.idle = case["backpressure"]
        for sink in self.sinks:
            sink.stall = case["backpressure"]

    def flush(self) -> None:
        self.source.clear()
        for sink in self.sinks:
            sink.clear()

    def start(self, case: dict, t: int) -> int:
        """Offer step t's output vector; returns the index of its handshake in sent_cycles."""
        return self.source.send([int(v) for v in case["steps"][t]["y"]])

    async def step(self, case_index: int, case: dict, t: int, events_in: int) -> int:
        y = np.array(case["steps"][t]["y"], dtype=np.int64)
        sent = self.offer_step(case, t)
        expected = fx.route_events(y, self.p.lanes)
        end_cycle = 0
        for lane, sink in enumerate(self.sinks):
            got = []
            while True:
                cycle, ev = await sink.take()
                if ev.end:
                    end_cycle = max(end_cycle, cycle)
                    break
                got.append((ev.index, ev.value))
            want = np.array(expected[lane], dtype=np.int64).reshape(-1, 2)
            want = self.corrupt(case_index, t, want) if lane == 0 else want
            have = np.array(got, dtype=np.int64).reshape(-1, 2)
            if self.scoreboard.compare(case["name"], t, f"lane {lane} event count", [len(want)], [len(have)]):
                self.scoreboard.compare(case["name"], t, f"lane {lane} events (index, value)", want, have)
        cycles = end_cycle - self.source.sent_cycles[sent] + 1
        predicted = router_cycles(self.p, y != 0)
        self.check_cycles(case, t, cycles, predicted)
        events = int(np.count_nonzero(y))
        self.records.append(
            {"case": case["name"], "step": t, "cycles": cycles, "predicted": predicted, "events": events}
        )
        return events_in + events


@cocotb.test()
async def run_job(dut):
    tb = RouterTB(dut)
    await tb.reset()
    for index, case in enumerate(tb.job["cases"]):
        tb.configure(case)
        if case["reset_step"] is not None:  # run into the step, reset half-way, then replay from the start
            for t in range(case["reset_step"]):
                await tb.step(index, case, t, 0)
            tb.source.send(case["steps"][case["reset_step"]]["y"])
            await tb.reset_during_step(case, 2)
        count_before = int(dut.count.value)
        events_in = 0
        for t in range(len(case["steps"])):
            events_in = await tb.step(index, case, t, events_in)
        events_out = int(dut.count.value) - count_before
        tb.scoreboard.compare(
            case["name"], len(case["steps"]) - 1, "event count (in vs out)", [events_in], [events_out]
        )
    tb.finish()
