"""cocotb drivers for Amaranth `lib.stream` ports as they appear in the generated Verilog: a stream
`s` is flattened into `s__valid`, `s__ready` and `s__payload` (the payload's lib.data layout packed
LSB first, field after field). A source offers queued payloads with random idle cycles, a sink
takes them with random backpressure; both record the cycle of every handshake.

Handshakes are sampled right after the rising edge, before the design's registers update (the
cocotbext-axi convention), so valid and ready read there are the values the edge saw.
"""

from __future__ import annotations

import random
from collections import deque

import cocotb
from amaranth.lib import data
from cocotb.triggers import RisingEdge


def high(signal) -> bool:
    """A 1-bit signal is 1 (X or Z, as before the first clock edge, is not)."""
    return signal.value == 1


class CycleCounter:
    """Counts rising edges of the clock since start (the cycle a handshake happens in)."""

    def __init__(self, clk):
        self.clk = clk
        self.cycle = 0
        cocotb.start_soon(self._run())

    async def _run(self):
        while True:
            await RisingEdge(self.clk)
            self.cycle += 1


class _StreamPort:
    """The three flattened signals of stream `name`, its payload layout, the cycle counter and the
    random source of idle / not-ready cycles."""

    def __init__(self, dut, name: str, layout: data.Layout, counter: CycleCounter, rng: random.Random):
        self.valid = getattr(dut, f"{name}__valid")
        self.ready = getattr(dut, f"{name}__ready")
        self.payload = getattr(dut, f"{name}__payload")
        self.layout, self.counter, self.rng = layout, counter, rng


class StreamSource(_StreamPort):
    """Drives `<name>__valid/__payload` from a queue of payload values (dicts or lists)."""

    def __init__(self, dut, name: str, layout: data.Layout, counter: CycleCounter, rng: random.Random, idle=0.0):
        super().__init__(dut, name, layout, counter, rng)
        self.idle = idle
        self.queue: deque = deque()
        self.sent_cycles: list[int] = []
        self.valid.value = 0
        self._task = cocotb.start_soon(self._run())

    def send(self, value) -> int:
        """Queue a payload; returns the index its handshake cycle will have in sent_cycles (while the
        queue is not cleared before it is taken)."""
        self.queue.append(value)
        return len(self.sent_cycles) + len(self.queue) - 1

    def clear(self) -> None:
        """Drop everything queued (a reset of the design drops what is in flight)."""
        self.queue.clear()
        self.valid.value = 0

    def idle_now(self) -> bool:
        return not self.queue

    async def _run(self):
        while True:
            if self.queue and not (self.idle and self.rng.random() < self.idle):
                self.payload.value = self.layout.const(self.queue[0]).as_bits()
                self.valid.value = 1
            else:
                self.valid.value = 0
            await RisingEdge(self.counter.clk)
            if high(self.valid) and high(self.ready) and self.queue:
                self.queue.popleft()
                self.sent_cycles.append(self.counter.cycle + 1)


class StreamSink(_StreamPort):
    """Takes payloads from `<name>__valid/__payload`, driving `__ready` low on random cycles."""

    def __init__(self, dut, name: str, layout: data.Layout, counter: CycleCounter, rng: random.Random, stall=0.0):
        super().__init__(dut, name, layout, counter, rng)
        self.stall = stall
        self.received: deque = deque()  # (cycle, payload view)
        self.enabled = True
        self.ready.value = 0
        self._task = cocotb.start_soon(self._run())

    def clear(self) -> None:
        self.received.clear()

    async def _run(self):
        while True:
            ready = self.enabled and not (self.stall and self.rng.random() < self.stall)
            self.ready.value = int(ready)
            await RisingEdge(self.counter.clk)
            if ready and high(self.valid):
                if not self.payload.value.is_resolvable:
                    raise AssertionError(f"{self.payload._name} = {self.payload.value} at cycle {self.counter.cycle}")
                self.received.append((self.counter.cycle + 1, self.layout.from_bits(int(self.payload.value))))

    async def take(self):
        """The next payload and the cycle of its handshake."""
        while not self.received:
            await RisingEdge(self.counter.clk)
        return self.received.popleft()
