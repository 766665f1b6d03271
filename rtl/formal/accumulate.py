"""EventAccumulator's properties: a harness around the block whose inputs are left to the solver.

Environment: every input is arbitrary every cycle (AnySeq) but keeps the stream rule
(rtl.formal.streams) and the block's input contract: a load writes inside the memories, and a
column entry's words lie inside the word memory (start + count <= weight depth); within a step
(from init accepted to the next) each unit sends at most one event, with an index below n, as the
router guarantees. A step's counts start when init is accepted.

    once_per_pass  for any unit j (AnyConst, so for every unit): when the pre-activations are
                   offered, column j of pass 1 (table entry j) and column j of pass 2 (entry n + j)
                   were each started exactly as many times as j's event was accepted (0 or 1)
    columns        every column start (any column, either pass) reads exactly the words of the
                   table entry it reads: `count` word reads at start, start + 1, ..., before the
                   next column or the output; and every word read lies inside the word memory

(The stream rule on `pre` is rtl.formal.handshake's "handshake".) The watched signals are the
block's `watch` (column table address and entry, the START state, word reads), not ports. That
the table returns what the loader wrote is the memory's own contract, not checked here: relating
each read to the last write through the memory costs the solver over ten times as long.

Broken variants (FAULTS):
    drop_event    an event taken from the environment but never shown to the block
    repeat_event  an event shown to the block a second time
    short_column  the block reading one word fewer of every column longer than one word (a
                  subclass whose column_words decodes the entry so)
    long_column   a loader writing a column entry one word longer than it sent, past the word
                  memory's end when the solver places it there
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, Value
from amaranth.asserts import AnyConst, AnySeq  # amaranth.hdl does not export these two in 0.5
from amaranth.hdl import Assert, Assume
from amaranth.lib import data

from golden.fixedpoint import bits_for
from rtl.blocks.accumulate import EventAccumulator
from rtl.formal.harness import PropertyHarness
from rtl.formal.streams import arbitrary_stream, assume_stream

PROPERTIES = ("once_per_pass", "columns")

FAULTS = {
    "drop_event": "once_per_pass",
    "repeat_event": "once_per_pass",
    "short_column": "columns",
    "long_column": "columns",
}


class ShortColumns(EventAccumulator):
    """The broken variant short_column: one word fewer of every column longer than one word."""

    def column_words(self, entry: data.View) -> tuple[Value, Value]:
        return entry.start, Mux(entry.count > 1, entry.count - 1, entry.count)


class AccumulateProof(PropertyHarness):
    """The harness for one property (PROPERTIES), optionally with one fault (FAULTS)."""

    PROPERTIES, FAULTS = PROPERTIES, FAULTS

    def elaborate(self, platform):
        p, n = self.p, self.p.n
        m = self.module()
        m.submodules.dut = dut = (ShortColumns if self.fault == "short_column" else EventAccumulator)(p)
        choose = Signal(name="fault_choice")
        m.d.comb += choose.eq(AnySeq(1))

        init = Value.cast(dut.init.payload)
        m.d.comb += [dut.init.valid.eq(AnySeq(1)), init.eq(AnySeq(len(init)))]
        assume_stream(m, dut.init, "init")
        m.d.comb += dut.pre.ready.eq(AnySeq(1))
        step = dut.init.valid & dut.init.ready

        # load: inside the memories, column entries inside the word memory
        ld_valid, ld, ld_ready = arbitrary_stream(m, dut.load, "load")
        with m.If(ld_valid & ld.columns):
            m.d.comb += Assume((ld.addr < 2 * n) & (ld.column.start + ld.column.count <= p.weight_depth))
        with m.If(ld_valid & ~ld.columns):
            m.d.comb += Assume(ld.addr < p.weight_depth)
        m.d.comb += [dut.load.valid.eq(ld_valid), dut.load.payload.eq(ld), ld_ready.eq(dut.load.ready)]
        if self.fault == "long_column":
            with m.If(choose & ld.columns):
                m.d.comb += dut.load.payload.column.count.eq(ld.column.count + 1)

        # events: at most one per unit and step, indices below n
        ev_valid, ev, ev_ready = arbitrary_stream(m, dut.events, "events")
        seen = Signal(n)
        with m.If(ev_valid & ~ev.end):
            m.d.comb += Assume((ev.index < n) & ~seen.bit_select(ev.index, 1))
        taken = ev_valid & ev_ready
        with m.If(step):
            m.d.sync += seen.eq(0)
        with m.Elif(taken & ~ev.end):
            m.d.sync += seen.eq(seen | (1 << ev.index))
        self._events(m, dut, ev_valid, ev, ev_ready, choose)

        unit = AnyConst(bits_for(n))
        m.d.comb += Assume(unit < n)
        watch = dut.watch
        column = Signal.like(watch.column_addr)  # the entry START uses: read the cycle before
        m.d.sync += column.eq(watch.column_addr)
        offered = dut.pre.valid

        if self.prop == "once_per_pass":
            accepted, first, second = (Signal(2, name=f"count_{what}") for what in ("events", "pass1", "pass2"))
            for counter, hit in (
                (accepted, taken & ~ev.end & (ev.index == unit)),
                (first, watch.start & (column == unit)),
                (second, watch.start & (column == n + unit)),
            ):
                with m.If(step):
                    m.d.sync += counter.eq(0)
                with m.Elif(hit & (counter != 3)):
                    m.d.sync += counter.eq(counter + 1)
            with m.If(offered):
                m.d.comb += Assert((first == accepted) & (second == accepted))

        if self.prop == "columns":
            self._columns(m, dut)
        return m

    def _events(self, m: Module, dut: EventAccumulator, valid, event, ready, choose) -> None:
        """The environment's events to the block: straight, or through drop_event / repeat_event."""
        port = dut.events
        m.d.comb += [port.valid.eq(valid), port.payload.eq(event), ready.eq(port.ready)]
        if self.fault == "drop_event":
            hide = choose & valid & ~event.end
            m.d.comb += [port.valid.eq(valid & ~hide), ready.eq(port.ready | hide)]
        if self.fault == "repeat_event":
            saved, again = Signal.like(event, name="saved_event"), Signal(name="repeating")
            with m.If(again):
                m.d.comb += [port.valid.eq(1), port.payload.eq(saved), ready.eq(0)]
                with m.If(port.ready):
                    m.d.sync += again.eq(0)
            with m.Elif(valid & port.ready & ~event.end & choose):
                m.d.sync += [saved.eq(event), again.eq(1)]

    def _columns(self, m: Module, dut: EventAccumulator) -> None:
        """The `columns` property: each column start reads the words of the entry it read."""
        p, watch = self.p, dut.watch
        m.d.comb += Assert(~watch.issue | (watch.word_addr < p.weight_depth))
        tracking = Signal()  # a column's words are being read
        following, left = Signal.like(watch.word_addr), Signal.like(watch.column.count)
        with m.If(watch.start | dut.pre.valid):  # the column before ends here
            m.d.comb += Assert(~tracking | (left == 0))
        with m.If(watch.start):
            start, count = watch.column.start, watch.column.count
            m.d.sync += tracking.eq(1)
            m.d.comb += Assert(watch.issue == (count != 0))
            with m.If(count != 0):
                m.d.comb += Assert(watch.word_addr == start)
            m.d.sync += [following.eq(start + 1), left.eq(Mux(count != 0, count - 1, 0))]
        with m.Elif(tracking & watch.issue):
            m.d.comb += Assert((left != 0) & (watch.word_addr == following))
            m.d.sync += [following.eq(following + 1), left.eq(left - 1)]
