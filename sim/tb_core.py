"""cocotb testbench of the online-learning core (rtl.core.egru_core): per case, load the network and
write its forward words, then run the case's sequences with random idle cycles on `seq` and `x` and
random backpressure on `pred`; every prediction and, after each update, every master and momentum
word (read back through rb_addr) against the integer trainer's (the job carries them, from
sim.core_cases); each sequence's cycles against rtl.core.cycles when nothing stalls. A case may
reset the core in the middle of a sequence: everything in flight is dropped, the network reloaded
and the case replayed from its first sequence."""

from __future__ import annotations

import random

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge

from rtl.blocks.layouts import payload_shape
from rtl.core.egru_core import core_signature
from rtl.core.params import CoreParams
from sim.streams import StreamSink, StreamSource, high
from sim.tb_common import TB


class CoreTB(TB):
    def __init__(self, dut):
        super().__init__(dut)
        self.p = CoreParams(**self.params)
        sig = core_signature(self.p)
        self.rng = random.Random(0)
        self.rb = sig.members["rb_data"].shape
        self.load = StreamSource(dut, "load", payload_shape(sig, "load"), self.counter, self.rng)
        self.seq = StreamSource(dut, "seq", payload_shape(sig, "seq"), self.counter, self.rng)
        self.x = StreamSource(dut, "x", payload_shape(sig, "x"), self.counter, self.rng)
        self.pred = StreamSink(dut, "pred", payload_shape(sig, "pred"), self.counter, self.rng)
        dut.init__valid.value = 0
        dut.init__payload.value = 0
        dut.rb_addr.value = 0
        self.idle_cycles: list[int] = []
        cocotb.start_soon(self.watch_busy())

    def configure(self, case: dict) -> None:
        self.rng.seed(case["seed"])
        self.seq.idle = self.x.idle = self.pred.stall = case["backpressure"]

    def flush(self) -> None:
        for s in (self.load, self.seq, self.x, self.pred):
            s.clear()
        self.dut.init__valid.value = 0

    async def watch_busy(self) -> None:
        """Record every cycle in which the core turns idle (numbered as the streams number their
        handshakes: the cycle that ends at the edge sampled)."""
        was_busy = True
        while True:
            await RisingEdge(self.dut.clk)
            busy = high(self.dut.busy)
            if was_busy and not busy:
                self.idle_cycles.append(self.counter.cycle + 1)
            was_busy = busy

    async def idle(self, after: int = -1) -> int:
        """Wait until the core has turned idle after cycle `after`; returns that cycle."""
        while not self.idle_cycles or self.idle_cycles[-1] <= after:
            await RisingEdge(self.dut.clk)
        return self.idle_cycles[-1]

    async def restart(self) -> None:
        """Load the network, then `init`: the forward words written and the sums zeroed."""
        self.load.idle = 0.0
        for entry in self.job["loads"]:
            self.load.send(entry)
        while not self.load.idle_now():
            await RisingEdge(self.dut.clk)
        self.dut.init__valid.value = 1
        while True:
            await RisingEdge(self.dut.clk)
            if high(self.dut.init__ready):
                break
        self.dut.init__valid.value = 0
        await self.idle(self.counter.cycle)

    def offer(self, sequence: dict) -> None:
        self.seq.send({"target": sequence["target"], "learn": sequence["learn"]})
        for x in sequence["x"]:
            self.x.send(x)

    async def readback(self) -> list[tuple[int, int]]:
        words = []
        for q in range(self.p.update.parameters):
            self.dut.rb_addr.value = q
            await RisingEdge(self.dut.clk)
            await FallingEdge(self.dut.clk)
            word = self.rb.from_bits(int(self.dut.rb_data.value))
            words.append((int(word.master), int(word.momentum)))
        return words

    async def sequence(self, index: int, case: dict, i: int) -> None:
        sequence = case["sequences"][i]
        first_x = len(self.x.sent_cycles)
        self.offer(sequence)
        _, pred = await self.pred.take()
        end = await self.idle(self.x.sent_cycles[-1])
        cycles = end - self.x.sent_cycles[first_x]  # from taking x_1 to the first idle cycle
        expected = case["logits"][i]
        c = self.job.get("corrupt")
        if c and c["case"] == index and c["sequence"] == i:
            expected += 1
        self.scoreboard.compare(case["name"], i, "pred", np.array([expected]), np.array([int(pred.logit)]))
        if case["states"][i] is not None:
            got = np.array(await self.readback(), dtype=np.int64)
            self.scoreboard.compare(case["name"], i, "master, momentum", np.array(case["states"][i]), got)
        predicted = sum(case["cycles"][i])
        self.check_cycles(case, i, cycles, predicted)
        self.records.append({"case": case["name"], "step": i, "cycles": cycles, "predicted": predicted})


@cocotb.test()
async def run_job(dut):
    tb = CoreTB(dut)
    await tb.reset()
    for index, case in enumerate(tb.job["cases"]):
        tb.configure(case)
        await tb.restart()
        if case["reset_sequence"] is not None:  # run into a sequence, reset in it, then replay all
            for i in range(case["reset_sequence"]):
                await tb.sequence(index, case, i)
            tb.offer(case["sequences"][case["reset_sequence"]])
            await tb.reset_during_step(case, 40)
            await tb.restart()
        for i in range(len(case["sequences"])):
            await tb.sequence(index, case, i)
    await ClockCycles(dut.clk, 2)
    tb.finish()
