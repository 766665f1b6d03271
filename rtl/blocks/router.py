"""EventRouter: one step's output vector y in, a stream of (unit, value) events per lane out.

Lane l serves the units k = l, l + L, l + 2L, ... (k mod L = l). Each lane emits its non-zero units
in ascending index order, one event per cycle while its sink is ready, then one end-of-step marker
(end = 1). Lanes run independently, so across lanes events of one step interleave in time; only
the order within a lane is defined (an event's index says where it belongs). A new y is accepted
once every lane has sent its marker: rtl.blocks.cycles.router_cycles gives the cycles per step,
1 + max_l (events_l + 1), with no backpressure. `count` counts the events sent since reset.
"""

from __future__ import annotations

from amaranth import Cat, Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from rtl.blocks.layouts import event_layout
from rtl.blocks.params import RouterParams


def router_signature(params: RouterParams) -> wiring.Signature:
    """EventRouter's ports (also what the self-test packs its ROM words for)."""
    return wiring.Signature(
        {
            "y": In(stream.Signature(data.ArrayLayout(signed(params.fp.state.width), params.n))),
            "events": Out(stream.Signature(event_layout(params.n, params.fp))).array(params.lanes),
            "count": Out(unsigned(32)),
            "busy": Out(1),
        }
    )


class EventRouter(wiring.Component):
    def __init__(self, params: RouterParams):
        self.p = params
        super().__init__(router_signature(params))

    def elaborate(self, platform):
        p = self.p
        m = Module()
        values = Signal.like(self.y.payload)
        running = Signal()
        finished = Signal(p.lanes)  # lanes that have sent this step's marker
        ends = Signal(p.lanes)  # lanes sending their marker in this cycle
        sent = Signal(p.lanes)  # lanes sending an event in this cycle
        m.d.comb += [self.y.ready.eq(~running), self.busy.eq(running)]

        for lane in range(p.lanes):
            units = list(p.lane_units(lane))
            pending = Signal(len(units), name=f"pending{lane}")  # non-zero units not yet sent
            index = Signal.like(self.events[lane].payload.index, name=f"index{lane}")
            value = Signal(signed(p.fp.state.width), name=f"value{lane}")
            for bit, unit in reversed(list(enumerate(units))):  # lowest pending unit wins
                with m.If(pending[bit]):
                    m.d.comb += [index.eq(unit), value.eq(values[unit])]
            out = self.events[lane]
            m.d.comb += [
                out.valid.eq(running & ~finished[lane]),
                out.payload.end.eq(pending == 0),
                out.payload.index.eq(index),
                out.payload.value.eq(value),
            ]
            with m.If(self.y.valid & self.y.ready):
                m.d.sync += pending.eq(Cat(*(self.y.payload[k] != 0 for k in units)))
            with m.If(out.valid & out.ready):
                with m.If(pending == 0):
                    m.d.comb += ends[lane].eq(1)
                with m.Else():
                    m.d.comb += sent[lane].eq(1)
                    m.d.sync += pending.eq(pending & (pending - 1))  # clear the lowest set bit

        with m.If(self.y.valid & self.y.ready):
            m.d.sync += [values.eq(self.y.payload), running.eq(1), finished.eq(0)]
        with m.Elif(running):
            m.d.sync += finished.eq(finished | ends)
            with m.If((finished | ends).all()):
                m.d.sync += running.eq(0)
        m.d.sync += self.count.eq(self.count + sum(sent[i] for i in range(p.lanes)))
        return m
