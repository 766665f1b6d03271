"""cocotb testbench of InfluenceUpdate: per step the header, the setup elements and the Mbar words go
in on their streams (random idle cycles), `done` is taken (random backpressure), and M_t as the
`written` port showed it and as read back through rb_addr / rb_data is compared with
golden.fixedpoint.influence_step; cycles per step are compared with rtl.blocks.cycles.influence_cycles.
With backpressure the next step is sometimes offered while the block is busy; the block then starts
it right after done, so that step's M_t is checked from `written` alone (the readback needs it idle)."""

from __future__ import annotations

import random
from collections import deque

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, RisingEdge

from golden import fixedpoint as fx
from rtl.blocks.cycles import influence_cycles, influence_lane_macs
from rtl.blocks.influence import influence_signature
from rtl.blocks.layouts import payload_shape
from rtl.blocks.params import InfluenceParams
from rtl.blocks.transactions import influence_matrix, influence_transactions
from sim.streams import StreamSink, StreamSource
from sim.tb_common import TB


def _array(x, dtype=np.int64):
    return None if x is None else np.asarray(x, dtype=dtype)


def step_inputs(s: dict, n: int) -> tuple:
    """(decay, sources, d_src, G_cols, Mbar, rows) of a job step as arrays, in influence_step's order."""
    G_cols = _array(s["G_cols"]).reshape(n, -1)
    return (
        _array(s["decay"]),
        _array(s["sources"]),
        _array(s["d_src"]),
        G_cols,
        _array(s["Mbar"]),
        _array(s["rows"], bool),
    )


class InfluenceTB(TB):
    def __init__(self, dut):
        super().__init__(dut)
        self.p = InfluenceParams(**self.params)
        sig = influence_signature(self.p)
        self.word_layout = sig.members["rb_data"].shape
        self.rng = random.Random(0)
        self.step_src = StreamSource(dut, "step", payload_shape(sig, "step"), self.counter, self.rng)
        self.setup_src = StreamSource(dut, "setup", payload_shape(sig, "setup"), self.counter, self.rng)
        self.mbar_src = StreamSource(dut, "mbar", payload_shape(sig, "mbar"), self.counter, self.rng)
        self.done = StreamSink(dut, "done", payload_shape(sig, "done"), self.counter, self.rng)
        self.sources = (self.step_src, self.setup_src, self.mbar_src)
        self.written_layout = sig.members["written"].shape
        self.written: deque[tuple[int, int, int, list[int]]] = deque()  # (cycle, row, chunk, values) as written
        cocotb.start_soon(self._watch_written())
        dut.rb_addr.value = 0

    async def _watch_written(self) -> None:
        while True:
            await RisingEdge(self.dut.clk)
            value = self.dut.written.value
            if not value.is_resolvable:  # X before the first edges (Icarus); a word lost so shows as a mismatch
                continue
            word = self.written_layout.from_bits(int(value))
            if word.valid:
                self.written.append((self.counter.cycle + 1, int(word.row), int(word.chunk), list(word.values)))

    def written_matrix(self, until: int) -> np.ndarray:
        """M [n, P] from the words `written` showed up to cycle `until` (and takes them); rows the step
        did not write are zero, as row_valid says of them."""
        words = np.zeros((self.p.n, self.p.chunks, self.p.lanes), dtype=np.int64)
        while self.written and self.written[0][0] <= until:
            _, row, chunk, values = self.written.popleft()
            words[row, chunk] = values
        return words.reshape(self.p.n, -1)[:, : self.p.columns]

    def configure(self, case: dict) -> None:
        self.rng.seed(case["seed"])
        for s in self.sources:
            s.idle = case["backpressure"]
        self.done.stall = case["backpressure"]

    def flush(self) -> None:
        for s in self.sources:
            s.clear()
        self.done.clear()
        self.written.clear()

    def transactions(self, case: dict, t: int):
        return influence_transactions(self.p, *step_inputs(case["steps"][t], self.p.n), first=(t == 0))

    def start(self, case: dict, t: int) -> int:
        """Offer step t's header, setup and Mbar; returns the index of the header's handshake."""
        tx = self.transactions(case, t)
        sent = self.step_src.send(tx.header)
        for el in tx.setup:
            self.setup_src.send(el)
        for word in tx.mbar:
            self.mbar_src.send(word)
        return sent

    async def read_back(self) -> np.ndarray:
        """M_t through the read port (one word per cycle, data one cycle after the address)."""
        words = []
        for addr in range(self.p.depth):
            self.dut.rb_addr.value = addr
            await RisingEdge(self.dut.clk)
            await FallingEdge(self.dut.clk)
            words.append(list(self.word_layout.from_bits(int(self.dut.rb_data.value))))
        return influence_matrix(self.p, words, int(self.dut.row_valid.value))

    async def step(self, index: int, case: dict, t: int, M: np.ndarray) -> np.ndarray:
        sent = self.offer_step(case, t)
        done_cycle, done = await self.done.take()
        cycles = done_cycle - self.step_src.sent_cycles[sent] + 1
        s = case["steps"][t]
        rows, sources = int(np.sum(s["rows"])), len(s["sources"])
        predicted = influence_cycles(self.p, rows, sources)
        self.check_cycles(case, t, cycles, predicted, done.stalls)
        M = fx.influence_step(M, *step_inputs(s, self.p.n), self.p.fp)
        want = self.corrupt(index, t, M.copy())
        self.scoreboard.compare(case["name"], t, "M[k, q] as written", want, self.written_matrix(done_cycle))
        if t + 1 not in self.offered:  # the block is idle: read M_t back too
            got = await self.read_back()
            self.scoreboard.compare(case["name"], t, "M[k, q] (unit = k * P + q)", want, got)
        self.records.append(
            {
                "case": case["name"],
                "step": t,
                "cycles": cycles,
                "predicted": predicted,
                "stalls": done.stalls,
                "rows": rows,
                "sources": sources,
                "lane_macs": influence_lane_macs(self.p, rows, sources),
            }
        )
        return M


@cocotb.test()
async def run_job(dut):
    tb = InfluenceTB(dut)
    await tb.reset()
    for index, case in enumerate(tb.job["cases"]):
        tb.configure(case)
        M = np.zeros((tb.p.n, tb.p.columns), dtype=np.int64)
        if case["reset_step"] is not None:  # run into the step, reset half-way, then replay from the start
            for t in range(case["reset_step"]):
                M = await tb.step(index, case, t, M)
            tb.start(case, case["reset_step"])
            await tb.reset_during_step(case, 3 + tb.p.n)
            M = np.zeros_like(M)
        for t in range(len(case["steps"])):
            M = await tb.step(index, case, t, M)
    tb.finish()
