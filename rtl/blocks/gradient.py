"""GradientUnit: the exact RTRL gradient sum_t M_t^T credit_t, accumulated as the InfluenceUpdate
writes the rows of M_t, with no pass of its own over M (golden.fixed_step.accumulate_gradient):

    A_q += M_t[k, q] credit_t[k]        for every word of M_t written (row k, L columns q)

in exact accumulators of GradientParams.acc_width bits (influence x credit products, summed over
units, steps and samples between clears).

Interfaces:
    credit  In: the step's credit vector (fp.credit), taken before the step's first row is written
            (the core holds the InfluenceUpdate's step header back until it is); zero when the
            step has no loss
    tap     In: the InfluenceUpdate's `written` port {valid, row, chunk, values[L]} (no ready)
    clear   In: a strobe, taken while idle, that zeroes every accumulator (a sweep of `chunks`
            cycles, busy meanwhile)
    rb_addr / rb_data: read port of the accumulators, word `chunk` (L lanes), one cycle latency
    busy    Out: clearing

Schedule: a word written at cycle i is multiplied by credit[row] and its accumulator word read in
cycle i; the sum is written in cycle i + 1. The read is transparent to the write, so words written
in consecutive cycles to the same chunk (one chunk per row) add up. One word per cycle: the unit
never stalls the InfluenceUpdate.
"""

from __future__ import annotations

from amaranth import Module, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.fixedpoint import bits_for
from rtl.blocks.influence import influence_signature
from rtl.blocks.params import GradientParams, InfluenceParams


def gradient_signature(p: GradientParams) -> wiring.Signature:
    influence = influence_signature(InfluenceParams(n=p.n, columns=p.columns, lanes=p.lanes, fp=p.fp))
    return wiring.Signature(
        {
            "credit": In(stream.Signature(data.ArrayLayout(signed(p.fp.credit.width), p.n))),
            "tap": In(influence.members["written"].shape),
            "clear": In(1),
            "rb_addr": In(unsigned(bits_for(p.chunks))),
            "rb_data": Out(data.ArrayLayout(signed(p.acc_width), p.lanes)),
            "busy": Out(1),
        }
    )


class GradientUnit(wiring.Component):
    def __init__(self, params: GradientParams):
        self.p = params
        super().__init__(gradient_signature(params))

    def elaborate(self, platform):
        p = self.p
        L, C = p.lanes, p.chunks
        m = Module()
        word = data.ArrayLayout(signed(p.acc_width), L)
        acc = m.submodules.acc = memory.Memory(shape=word, depth=C, init=[])
        wr = acc.write_port()
        rd = acc.read_port(transparent_for=(wr,))
        rb = acc.read_port()
        m.d.comb += [rb.addr.eq(self.rb_addr), self.rb_data.eq(rb.data)]

        credit = Signal.like(self.credit.payload)
        m.d.comb += self.credit.ready.eq(1)
        with m.If(self.credit.valid):
            m.d.sync += credit.eq(self.credit.payload)

        tap = self.tap
        pending = Signal()  # a product waits to be added to the word read last cycle
        chunk = Signal.like(tap.chunk)
        products = Signal(data.ArrayLayout(signed(p.fp.influence.width + p.fp.credit.width), L))
        m.d.comb += rd.addr.eq(tap.chunk)
        m.d.sync += [pending.eq(tap.valid), chunk.eq(tap.chunk)]
        for lane in range(L):
            m.d.sync += products[lane].eq(tap.values[lane] * credit[tap.row])

        sweep = Signal(range(C + 1))
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.clear):
                    m.d.sync += sweep.eq(0)
                    m.next = "CLEAR"
                m.d.comb += [wr.addr.eq(chunk), wr.en.eq(pending)]
                for lane in range(L):
                    m.d.comb += wr.data[lane].eq(rd.data[lane] + products[lane])
            with m.State("CLEAR"):
                m.d.comb += [self.busy.eq(1), wr.addr.eq(sweep), wr.en.eq(1), wr.data.eq(0)]
                m.d.sync += sweep.eq(sweep + 1)
                with m.If(sweep == C - 1):
                    m.next = "IDLE"
        return m
