"""EventRouter's properties: a harness around the block whose inputs are left to the solver.

Environment: y's valid and payload are arbitrary every cycle (AnySeq) except that they keep the
stream rule (rtl.formal.streams); every lane's ready is arbitrary; no reset after the first cycle.
One property per proof, over a step defined by the harness: a step begins when y is accepted
(valid and ready) and the harness keeps that y as y_step. (The stream rule on every lane, the
"handshake" property, is rtl.formal.handshake's, as for every block.)

    in_lane       an event on lane l has index i < n with i = l (mod L); an end marker has index 0
                  and value 0
    ascending     within a step, the indices a lane sends strictly increase
    exactly_once  for any unit k (AnyConst, so for every unit): within a step k is sent at most
                  once, and when k's lane sends its end marker, k was sent exactly when y_step[k] != 0
    values        an event's value is y_step[index]
    one_end       after its end marker a lane sends nothing more until the next y is accepted

Broken variants (FAULTS): the block with a fault at lane 0's port, between the block and the
harness's sink, each made to break the property it names; `rtl prove` proves the properties, the
tests show each fault caught (a property that cannot fail proves nothing).
"""

from __future__ import annotations

from amaranth import Array, Cat, Module, Mux, Signal, Value
from amaranth.asserts import AnyConst, AnySeq  # amaranth.hdl does not export these two in 0.5
from amaranth.hdl import Assert, Assume
from amaranth.lib import data

from golden.fixedpoint import bits_for
from rtl.blocks.layouts import event_layout
from rtl.blocks.router import EventRouter
from rtl.formal.harness import PropertyHarness
from rtl.formal.streams import assume_stream

PROPERTIES = ("in_lane", "ascending", "exactly_once", "values", "one_end")

FAULTS = {  # fault at lane 0's port -> the property it breaks
    "wrong_lane": "in_lane",  # an event's index moved to the next unit
    "stale_index": "ascending",  # an event shown with the index sent before it
    "duplicate": "exactly_once",  # an event sent, then shown again
    "skip": "exactly_once",  # an event taken from the block but never shown
    "corrupt_value": "values",  # an event's value with its lowest bit flipped
    "extra_end": "one_end",  # a second end marker after the first
}


class RouterProof(PropertyHarness):
    """The harness for one property (PROPERTIES), optionally with one fault (FAULTS)."""

    PROPERTIES, FAULTS = PROPERTIES, FAULTS

    def elaborate(self, platform):
        p = self.p
        m = self.module()
        m.submodules.dut = dut = EventRouter(p)
        m.d.comb += [dut.y.valid.eq(AnySeq(1)), dut.y.payload.eq(AnySeq(len(Value.cast(dut.y.payload))))]
        assume_stream(m, dut.y, "y")
        accepted = dut.y.valid & dut.y.ready
        y_step = Signal.like(Value.cast(dut.y.payload))
        with m.If(accepted):
            m.d.sync += y_step.eq(dut.y.payload)
        width = p.fp.state.width

        nonzero = Signal(p.n)  # y_step[k] != 0 for each unit (constant selects: cheap for the solver)
        m.d.comb += nonzero.eq(Cat(y_step.word_select(k, width) != 0 for k in range(p.n)))
        unit = AnyConst(bits_for(p.n))  # exactly_once's unit k
        m.d.comb += Assume(unit < p.n)
        sent_unit = Signal(2)  # times k was sent this step (saturating at 2)
        unit_sent_now = []

        for lane in range(p.lanes):
            valid, ready, event = self._port(m, dut, lane)
            fire = valid & ready
            if self.prop == "in_lane":
                with m.If(valid & event.end):
                    m.d.comb += Assert((event.index == 0) & (event.value == 0))
                with m.If(valid & ~event.end):
                    m.d.comb += Assert(Cat(event.index == k for k in p.lane_units(lane)).any())
            if self.prop == "ascending":
                last, has_last = Signal(len(event.index)), Signal()
                with m.If(accepted):
                    m.d.sync += has_last.eq(0)
                with m.Elif(fire & ~event.end):
                    m.d.sync += [last.eq(event.index), has_last.eq(1)]
                    m.d.comb += Assert(~has_last | (event.index > last))
            if self.prop == "values":
                with m.If(valid & ~event.end):
                    lane_values = Array(y_step.word_select(k, width).as_signed() for k in range(p.n))
                    m.d.comb += Assert(event.value == lane_values[event.index])
            if self.prop == "one_end":
                ended = Signal()
                with m.If(accepted):
                    m.d.sync += ended.eq(0)
                with m.Elif(fire & event.end):
                    m.d.sync += ended.eq(1)
                m.d.comb += Assert(~(ended & valid))
            if self.prop == "exactly_once":
                unit_sent_now.append(fire & ~event.end & (event.index == unit))
                with m.If(fire & event.end & Cat(unit == k for k in p.lane_units(lane)).any()):
                    m.d.comb += Assert(sent_unit == nonzero.bit_select(unit, 1))

        if self.prop == "exactly_once":
            now = sum(unit_sent_now)
            with m.If(accepted):
                m.d.sync += sent_unit.eq(0)
            with m.Elif(now != 0):
                m.d.sync += sent_unit.eq(Mux(sent_unit + now > 2, 2, sent_unit + now))
            m.d.comb += Assert(sent_unit <= 1)
        return m

    def _port(self, m: Module, dut: EventRouter, lane: int) -> tuple[Value, Value, data.View]:
        """(valid, ready, event) as the harness's sink sees lane `lane`: the block's own port, or for
        lane 0 of a broken variant the port through its fault. ready is the solver's."""
        out = dut.events[lane]
        ready = Signal(name=f"ready{lane}")
        m.d.comb += ready.eq(AnySeq(1))
        if lane != 0 or self.fault is None:
            m.d.comb += out.ready.eq(ready)
            return out.valid, ready, out.payload
        layout = event_layout(self.p.n, self.p.fp)
        valid, event = Signal(name="faulty_valid"), Signal(layout, name="faulty_event")
        choose = Signal(name="fault_choice")
        m.d.comb += [choose.eq(AnySeq(1)), valid.eq(out.valid), event.eq(out.payload), out.ready.eq(ready)]
        fault = self.fault
        if fault == "wrong_lane":
            with m.If(~out.payload.end):
                m.d.comb += event.index.eq(out.payload.index + 1)
        elif fault == "corrupt_value":
            with m.If(~out.payload.end):
                m.d.comb += event.value.eq(out.payload.value ^ 1)
        elif fault == "skip":
            hide = choose & out.valid & ~out.payload.end
            m.d.comb += [valid.eq(out.valid & ~hide), out.ready.eq(ready | hide)]
        elif fault in ("duplicate", "stale_index", "extra_end"):
            self._replay(m, out, ready, valid, event, choose)
        return valid, ready, event

    def _replay(self, m: Module, out, ready: Value, valid: Value, event: data.View, choose: Value) -> None:
        """Faults that show lane 0 something again: duplicate (the event just sent, whole), stale_index
        (the next event with the index sent before it) and extra_end (the end marker, after it)."""
        saved = Signal.like(out.payload, name="saved_event")
        again = Signal(name="replaying")
        fire = out.valid & ready
        if self.fault == "stale_index":
            have = Signal(name="have_saved")
            with m.If(fire & ~out.payload.end):
                m.d.sync += [saved.eq(out.payload), have.eq(1)]
            with m.If(have & choose & out.valid & ~out.payload.end):
                m.d.comb += event.index.eq(saved.index)
            return
        trigger = out.payload.end if self.fault == "extra_end" else ~out.payload.end
        with m.If(again):
            m.d.comb += [valid.eq(1), event.eq(saved), out.ready.eq(0)]
            with m.If(ready):
                m.d.sync += again.eq(0)
        with m.Elif(fire & trigger & choose):
            m.d.sync += [saved.eq(out.payload), again.eq(1)]
