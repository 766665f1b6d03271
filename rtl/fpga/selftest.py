"""The on-board golden self-test: each block replays a golden trace stored in ROM and its outputs are
compared, word by word, with the expected integer outputs also in ROM.

Per block (BlockSelfTest): one RomSource per input stream, one RomChecker per output stream, and a
16-bit LFSR that holds sources idle and checkers not ready on about one cycle in four, so the test
also exercises backpressure. The influence update's result is read back after each step's `done`
(InfluenceReadback) as a stream of words, rows not flagged in row_valid read as zero. SelfTest
gathers the blocks: done when every checker has taken all its words, passed when done with no
mismatch. Vectors come from the same golden conversion the cocotb jobs use (rtl.blocks.stimulus) and from
golden.fixedpoint's integer reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth import Cat, Module, Mux, Signal, Value, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from golden import fixedpoint as fx
from golden.errors import UserError
from golden.hw_stimulus import recurrent_weights
from golden.trace import Trace
from rtl.blocks.accumulate import EventAccumulator, accumulate_signature
from rtl.blocks.influence import InfluenceUpdate, influence_signature
from rtl.blocks.layouts import payload_shape
from rtl.blocks.params import AccumulateParams, InfluenceParams, RouterParams
from rtl.blocks.router import EventRouter, router_signature
from rtl.blocks.stimulus import STEPS_OF, block_params
from rtl.blocks.transactions import accumulate_load, influence_transactions

BLOCKS = {"router": EventRouter, "accumulate": EventAccumulator, "influence": InfluenceUpdate}
ERROR_BITS = 16
COUNT_BITS = 32


class RomCursor(wiring.Component):
    """words[i] for a cursor i that starts at 0 and steps on `advance`. The ROM's read port is
    synchronous and is addressed with the cursor's next value, so `word` is words[i] from the first
    cycle after reset (`primed`) on; `finished` once i = len(words)."""

    def __init__(self, width: int, words: list[int]):
        self.words = list(words)
        super().__init__({"advance": In(1), "word": Out(width), "primed": Out(1), "finished": Out(1)})

    def elaborate(self, platform):
        m = Module()
        count = len(self.words)
        rom = m.submodules.rom = memory.Memory(shape=unsigned(len(self.word)), depth=max(count, 1), init=self.words)
        rd = rom.read_port()
        index = Signal(range(count + 1))
        following = Mux(self.advance, index + 1, index)
        m.d.comb += [rd.addr.eq(following), self.word.eq(rd.data), self.finished.eq(index == count)]
        m.d.sync += [index.eq(following), self.primed.eq(1)]
        return m


class RomSource(wiring.Component):
    """Offers words[0], words[1], ... on `stream`, each once, while `enable` is high."""

    def __init__(self, width: int, words: list[int]):
        self.cursor = RomCursor(width, words)
        super().__init__({"stream": Out(stream.Signature(unsigned(width))), "enable": In(1), "finished": Out(1)})

    def elaborate(self, platform):
        m = Module()
        c = m.submodules.cursor = self.cursor
        m.d.comb += [
            c.advance.eq(self.stream.valid & self.stream.ready),
            self.stream.payload.eq(c.word),
            self.stream.valid.eq(c.primed & self.enable & ~c.finished),
            self.finished.eq(c.finished),
        ]
        return m


class RomChecker(wiring.Component):
    """Takes len(words) words from `stream` (ready unless `stall`) and compares word i with words[i]:
    `errors` counts mismatches (saturating), `finished` once every word has arrived."""

    def __init__(self, width: int, words: list[int]):
        self.cursor = RomCursor(width, words)
        super().__init__(
            {
                "stream": In(stream.Signature(unsigned(width))),
                "stall": In(1),
                "errors": Out(ERROR_BITS),
                "finished": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        c = m.submodules.cursor = self.cursor
        taken = self.stream.valid & self.stream.ready
        m.d.comb += [
            c.advance.eq(taken),
            self.stream.ready.eq(c.primed & ~self.stall & ~c.finished),
            self.finished.eq(c.finished),
        ]
        with m.If(taken & (self.stream.payload != c.word) & (self.errors != (1 << ERROR_BITS) - 1)):
            m.d.sync += self.errors.eq(self.errors + 1)
        return m


class InfluenceReadback(wiring.Component):
    """After each `done` of the influence update, reads M_t back (addresses 0 .. depth - 1, one cycle
    latency) and offers the words on `words`, a row not flagged in row_valid as zero; `last` is high
    in the cycle the step's last word is taken (the next step may start)."""

    def __init__(self, p: InfluenceParams, word_width: int):
        self.p = p
        super().__init__(
            {
                "done": In(stream.Signature(payload_shape(influence_signature(p), "done"))),
                "rb_addr": Out(range(p.depth + 1)),
                "rb_data": In(word_width),
                "row_valid": In(p.n),
                "words": Out(stream.Signature(unsigned(word_width))),
                "last": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.p
        addr = Signal(range(p.depth + 1))
        row = Signal(range(p.n + 1))
        chunk = Signal(range(p.chunks))
        primed = Signal()  # rb_data holds the word at addr
        sweeping = Signal()
        taken = self.words.valid & self.words.ready
        m.d.comb += [
            self.done.ready.eq(~sweeping),
            self.rb_addr.eq(Mux(taken, addr + 1, addr)),
            self.words.valid.eq(sweeping & primed),
            self.words.payload.eq(Mux(self.row_valid.bit_select(row, 1), self.rb_data, 0)),
            self.last.eq(taken & (addr == p.depth - 1)),
        ]
        with m.If(self.done.valid & self.done.ready):
            m.d.sync += [sweeping.eq(1), primed.eq(0), addr.eq(0), row.eq(0), chunk.eq(0)]
        with m.Elif(sweeping):
            m.d.sync += primed.eq(1)
            with m.If(taken):
                m.d.sync += addr.eq(addr + 1)
                with m.If(chunk == p.chunks - 1):
                    m.d.sync += [chunk.eq(0), row.eq(row + 1)]
                with m.Else():
                    m.d.sync += chunk.eq(chunk + 1)
                with m.If(self.last):
                    m.d.sync += sweeping.eq(0)
        return m


class Lfsr16(wiring.Component):
    """x^16 + x^14 + x^13 + x^11 + 1 (maximal length), one shift per cycle; `stall` is high when the
    two low bits are both 1 (about one cycle in four)."""

    def __init__(self, seed: int):
        self.seed = seed & 0xFFFF or 1
        super().__init__({"stall": Out(1)})

    def elaborate(self, platform):
        m = Module()
        state = Signal(16, init=self.seed)
        feedback = state[15] ^ state[13] ^ state[12] ^ state[10]
        m.d.sync += state.eq(Cat(feedback, state[:15]))
        m.d.comb += self.stall.eq(state[0] & state[1])
        return m


def payload_bits(shape, value) -> int:
    """A payload value (dict, list or int) as the integer of its bits in `shape`."""
    return data.Layout.cast(shape).const(value).as_bits() if isinstance(value, (dict, list)) else int(value)


@dataclass
class BlockVectors:
    """One block's self-test: its parameters, the words of each input stream and the expected words of
    each output stream (stream names as the block's ports; router lanes as events0, events1, ...;
    the influence read-back as readback)."""

    block: str
    params: RouterParams | AccumulateParams | InfluenceParams
    inputs: dict[str, list[int]]
    expected: dict[str, list[int]]

    @property
    def checked_words(self) -> int:
        return sum(len(w) for w in self.expected.values())


def _router_vectors(p: RouterParams, steps: list[dict]) -> tuple[dict, dict]:
    sig = router_signature(p)
    ev = payload_shape(sig, "events")
    inputs = {"y": [payload_bits(payload_shape(sig, "y"), s["y"]) for s in steps]}
    expected: dict[str, list[int]] = {f"events{lane}": [] for lane in range(p.lanes)}
    for s in steps:
        for lane, events in enumerate(fx.route_events(np.asarray(s["y"]), p.lanes)):
            words = [{"index": k, "value": v, "end": 0} for k, v in events] + [{"index": 0, "value": 0, "end": 1}]
            expected[f"events{lane}"] += [payload_bits(ev, w) for w in words]
    return inputs, expected


def _accumulate_vectors(p: AccumulateParams, steps: list[dict], V: dict[str, np.ndarray]) -> tuple[dict, dict]:
    sig = accumulate_signature(p)
    gates, ev = payload_shape(sig, "init"), payload_shape(sig, "events")
    inputs = {
        "load": [payload_bits(payload_shape(sig, "load"), w) for w in accumulate_load(p, V)],
        "init": [],
        "events": [],
    }
    expected: dict[str, list[int]] = {"pre": []}
    for s in steps:
        y = np.asarray(s["y"])
        inputs["init"].append(payload_bits(gates, {g: s["inputs"][g] for g in "urz"}))
        events = [{"index": j, "value": v, "end": 0} for j, v in fx.route_events(y, 1)[0]]
        inputs["events"] += [payload_bits(ev, w) for w in events + [{"index": 0, "value": 0, "end": 1}]]
        ref = fx.accumulate_gates(y, V, {g: np.asarray(v) for g, v in s["inputs"].items()}, p.fp)
        expected["pre"].append(payload_bits(gates, {g: [int(v) for v in getattr(ref, g)] for g in "urz"}))
    return inputs, expected


def _influence_vectors(p: InfluenceParams, steps: list[dict]) -> tuple[dict, dict]:
    sig = influence_signature(p)
    inputs: dict[str, list[int]] = {"step": [], "setup": [], "mbar": []}
    expected: dict[str, list[int]] = {"readback": []}
    M = np.zeros((p.n, p.columns), dtype=np.int64)
    for t, s in enumerate(steps):
        arrays = (
            None if s["decay"] is None else np.asarray(s["decay"]),
            np.asarray(s["sources"], dtype=np.int64),
            np.asarray(s["d_src"], dtype=np.int64),
            np.asarray(s["G_cols"], dtype=np.int64).reshape(p.n, -1),
            np.asarray(s["Mbar"], dtype=np.int64),
            np.asarray(s["rows"], dtype=bool),
        )
        tx = influence_transactions(p, *arrays, first=(t == 0))
        inputs["step"].append(payload_bits(payload_shape(sig, "step"), tx.header))
        inputs["setup"] += [payload_bits(payload_shape(sig, "setup"), e) for e in tx.setup]
        inputs["mbar"] += [payload_bits(payload_shape(sig, "mbar"), w) for w in tx.mbar]
        M = fx.influence_step(M, *arrays, p.fp)
        padded = np.zeros((p.n, p.chunks * p.lanes), dtype=np.int64)
        padded[:, : p.columns] = M
        expected["readback"] += [
            payload_bits(sig.members["rb_data"].shape, [int(v) for v in word]) for word in padded.reshape(-1, p.lanes)
        ]
    return inputs, expected


def block_vectors(block: str, trace: Trace, sample: int, lanes: int, steps: int | None) -> BlockVectors:
    """The self-test vectors of `block` for the first `steps` steps (all if None) of a trace's sample."""
    if not 0 <= sample < trace.meta["B"]:
        raise UserError(f"--sample: {sample}, expected 0..{trace.meta['B'] - 1}")
    if steps is not None and not 1 <= steps <= trace.meta["T"]:
        raise UserError(f"--steps: {steps}, expected 1..{trace.meta['T']} (the trace's steps)")
    p = block_params(block, trace, lanes)
    replay = STEPS_OF[block](trace, sample, p)[:steps]
    if block == "router":
        inputs, expected = _router_vectors(p, replay)
    elif block == "accumulate":
        inputs, expected = _accumulate_vectors(p, replay, recurrent_weights(trace, p.fp))
    else:
        inputs, expected = _influence_vectors(p, replay)
    return BlockVectors(block, p, inputs, expected)


class BlockSelfTest(wiring.Component):
    """One block between its ROM sources and ROM checkers (see the module docstring)."""

    def __init__(self, vectors: BlockVectors, seed: int = 1):
        self.vectors = vectors
        self.seed = seed
        super().__init__({"finished": Out(1), "errors": Out(ERROR_BITS + 4)})

    def elaborate(self, platform):
        m = Module()
        v = self.vectors
        dut = m.submodules.dut = BLOCKS[v.block](v.params)
        m.submodules.lfsr = lfsr = Lfsr16(self.seed)
        sources: dict[str, RomSource] = {}
        for name, words in v.inputs.items():
            port = getattr(dut, name)
            src = m.submodules[f"src_{name}"] = RomSource(len(Value.cast(port.payload)), words)
            sources[name] = src
            m.d.comb += [
                port.valid.eq(src.stream.valid & ~lfsr.stall),
                port.payload.eq(src.stream.payload),
                src.stream.ready.eq(port.ready & ~lfsr.stall),
            ]
        outputs = self._outputs(m, dut, sources)
        checkers = []
        for name, words in v.expected.items():
            out = outputs[name]
            chk = m.submodules[f"chk_{name}"] = RomChecker(len(Value.cast(out.payload)), words)
            m.d.comb += [
                chk.stall.eq(lfsr.stall),
                chk.stream.valid.eq(out.valid),
                chk.stream.payload.eq(out.payload),
                out.ready.eq(chk.stream.ready),
            ]
            checkers.append(chk)
        m.d.comb += [
            self.finished.eq(Cat(c.finished for c in checkers).all()),
            self.errors.eq(sum(c.errors for c in checkers)),
        ]
        return m

    def _outputs(self, m: Module, dut, sources: dict[str, RomSource]) -> dict:
        """The block's output streams by name, and the sequencing of its sources."""
        block = self.vectors.block
        for src in sources.values():
            m.d.comb += src.enable.eq(1)
        if block == "router":
            return {f"events{lane}": dut.events[lane] for lane in range(len(dut.events))}
        if block == "accumulate":  # the weights are loaded before the first step starts
            m.d.comb += sources["init"].enable.eq(sources["load"].finished)
            return {"pre": dut.pre}
        rb = m.submodules.readback = InfluenceReadback(dut.p, len(Value.cast(dut.rb_data)))
        in_flight = Signal()  # a step was started and its read-back has not finished
        step = sources["step"].stream
        with m.If(step.valid & step.ready):
            m.d.sync += in_flight.eq(1)
        with m.Elif(rb.last):
            m.d.sync += in_flight.eq(0)
        m.d.comb += [
            sources["step"].enable.eq(~in_flight),
            rb.done.valid.eq(dut.done.valid),
            rb.done.payload.eq(dut.done.payload),
            dut.done.ready.eq(rb.done.ready),
            dut.rb_addr.eq(rb.rb_addr),
            rb.rb_data.eq(dut.rb_data),
            rb.row_valid.eq(dut.row_valid),
        ]
        return {"readback": rb.words}


class SelfTest(wiring.Component):
    """Every block's self-test side by side: done when all have finished, passed if none mismatched."""

    def __init__(self, vectors: list[BlockVectors]):
        if not vectors:
            raise UserError("--block: expected at least one block for the self-test")
        self.vectors = vectors
        super().__init__({"done": Out(1), "passed": Out(1), "errors": Out(ERROR_BITS + 4), "checked": Out(COUNT_BITS)})

    @property
    def checked_words(self) -> int:
        return sum(v.checked_words for v in self.vectors)

    def report_text(self) -> list:
        """The report's characters (rtl.fpga.boards.SelfTestReport): ints are ASCII codes, the rest
        expressions of the result."""
        from rtl.fpga.boards import hex_digits

        text = [ord(c) for c in "EGRU self-test "]
        text += [Mux(self.passed, ord(p), ord(f)) for p, f in zip("PASS", "FAIL")]
        text += [ord(c) for c in " words "] + hex_digits(self.checked, 8)
        text += [ord(c) for c in " errors "] + hex_digits(self.errors, 5)
        return text + [ord("\r"), ord("\n")]

    def elaborate(self, platform):
        m = Module()
        tests = [BlockSelfTest(v, seed=0xACE1 + 0x1F3 * i) for i, v in enumerate(self.vectors)]
        for t in tests:
            m.submodules[t.vectors.block] = t
        errors = Signal.like(self.errors)
        m.d.comb += [
            self.done.eq(Cat(t.finished for t in tests).all()),
            errors.eq(sum(t.errors for t in tests)),
            self.errors.eq(errors),
            self.passed.eq(self.done & (errors == 0)),
            self.checked.eq(self.checked_words),
        ]
        return m


def corrupt(vectors: list[BlockVectors], where: str) -> None:
    """Flip the low bit of one expected word, named BLOCK:STREAM:INDEX (a test that must then fail)."""
    parts = where.split(":")
    by_block = {v.block: v for v in vectors}
    if len(parts) != 3 or parts[0] not in by_block or not parts[2].isdigit():
        raise UserError(f"--corrupt: {where!r}; expected BLOCK:STREAM:INDEX with BLOCK one of {', '.join(by_block)}")
    v = by_block[parts[0]]
    words = v.expected.get(parts[1])
    if words is None or int(parts[2]) >= len(words):
        have = ", ".join(f"{k} (0..{len(w) - 1})" for k, w in v.expected.items())
        raise UserError(f"--corrupt: {where!r}; {parts[0]} has the expected streams {have}")
    words[int(parts[2])] ^= 1
