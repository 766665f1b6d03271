"""ReadoutUnit: the spiral's readout of c_T, its loss credit, and the readout's own gradient sums
(golden.fixed_step.readout_logit and readout_credit give the arithmetic):

    logit = round(sum_k w_out[k] c_k + b_out 2^(s + w - p), s + w)                     (fp.pre)
    e = sigmoid_table(logit) - target 2^g                                                (exact)
    credit_k = round(e w_out[k], g + w)                                                  (fp.credit)
    R_k += e c_k,  R_b += e          exact, over the samples between clears (the update unit's input)

Interfaces:
    load    In: {index, value}: w_out[index] (fp.weight), or b_out for index = n (fp.pre)
    step    In: {last, learn, target} per time step: a step that is not the sequence's last
            gets a zero credit vector (when learning); the last step reads c_T from `c`
    c       In: {c}: the cell unit's c of units 0 .. n - 1 in order, at the last step only
    pred    Out: {logit} of each sequence (fp.pre)
    credit  Out: the step's credit vector (fp.credit), when learning
    clear   In: a strobe, taken while idle, that zeroes R
    rb_addr / rb_data: R_k (k < n) or R_b (k = n), combinational
    busy    Out

Schedule of a last step: n cycles taking c (one MAC each), then `pred` offered (the sigmoid table
read meanwhile), 1 cycle forming e, n cycles forming credit_k and R_k (one multiplier each), then
`credit` offered: 2 n + 4 cycles from the step header to the credit (rtl.blocks.cycles.readout_cycles).
"""

from __future__ import annotations

from amaranth import Module, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.fixedpoint import bits_for, sigmoid_table
from rtl.blocks.arith import rescale
from rtl.blocks.params import ReadoutParams


def readout_signature(p: ReadoutParams) -> wiring.Signature:
    fp, n = p.fp, p.n
    load = data.StructLayout({"index": unsigned(bits_for(n + 1)), "value": signed(max(fp.weight.width, fp.pre.width))})
    return wiring.Signature(
        {
            "load": In(stream.Signature(load)),
            "step": In(stream.Signature(data.StructLayout({"last": 1, "learn": 1, "target": 1}))),
            "c": In(stream.Signature(data.StructLayout({"c": signed(fp.state.width)}))),
            "pred": Out(stream.Signature(data.StructLayout({"logit": signed(fp.pre.width)}))),
            "credit": Out(stream.Signature(data.ArrayLayout(signed(fp.credit.width), n))),
            "clear": In(1),
            "rb_addr": In(unsigned(bits_for(n + 1))),
            "rb_data": Out(signed(p.sum_width)),
            "busy": Out(1),
        }
    )


class ReadoutUnit(wiring.Component):
    def __init__(self, params: ReadoutParams):
        self.p = params
        super().__init__(readout_signature(params))

    def elaborate(self, platform):
        p, fp = self.p, self.p.fp
        n, s, w, g = p.n, fp.state.frac, fp.weight.frac, fp.gate.frac
        m = Module()
        w_out = Signal(data.ArrayLayout(signed(fp.weight.width), n))
        b_out = Signal(signed(fp.pre.width))
        ld = self.load.payload
        m.d.comb += self.load.ready.eq(1)
        with m.If(self.load.valid):
            with m.If(ld.index == n):
                m.d.sync += b_out.eq(ld.value)
            with m.Else():
                m.d.sync += w_out[ld.index].eq(ld.value)

        sums = Signal(data.ArrayLayout(signed(p.sum_width), n + 1))  # R_0 .. R_{n-1}, R_b
        m.d.comb += self.rb_data.eq(sums[self.rb_addr])

        table = m.submodules.sigmoid = memory.Memory(
            shape=signed(fp.gate.width), depth=1 << fp.lut_bits, init=[int(v) for v in sigmoid_table(fp)]
        )
        rom = table.read_port()
        c_T = Signal(data.ArrayLayout(signed(fp.state.width), n))
        acc = Signal(signed(fp.state.width + fp.weight.width + bits_for(n + 1) + 1))
        logit = Signal(signed(fp.pre.width))
        error = Signal(signed(fp.gate.width + 2))
        credit = Signal.like(self.credit.payload)
        k = Signal(range(n))
        learn, target = Signal(), Signal()
        shift = s + w - fp.pre.frac
        m.d.comb += [
            rom.addr.eq(logit.as_unsigned()[fp.pre.width - fp.lut_bits :]),
            self.pred.payload.logit.eq(logit),
            self.credit.payload.eq(credit),
        ]
        with m.FSM():
            with m.State("STEP"):
                m.d.comb += self.step.ready.eq(1)
                with m.If(self.clear):
                    m.d.sync += sums.eq(0)
                with m.If(self.step.valid):
                    hdr = self.step.payload
                    m.d.sync += [learn.eq(hdr.learn), target.eq(hdr.target), k.eq(0), acc.eq(b_out << shift)]
                    with m.If(hdr.last):
                        m.next = "LOGIT"
                    with m.Elif(hdr.learn):
                        m.d.sync += credit.eq(0)
                        m.next = "OFFER"
            with m.State("LOGIT"):  # c_k arrives: one MAC per unit
                m.d.comb += [self.busy.eq(1), self.c.ready.eq(1)]
                with m.If(self.c.valid):
                    c = self.c.payload.c
                    total = acc + c * w_out[k]
                    m.d.sync += [acc.eq(total), c_T[k].eq(c), k.eq(k + 1)]
                    with m.If(k == n - 1):
                        m.d.sync += [logit.eq(rescale(total, s + w, fp.pre)), k.eq(0)]
                        m.next = "PRED"
            with m.State("PRED"):  # the table is read from the logit meanwhile
                m.d.comb += [self.busy.eq(1), self.pred.valid.eq(1)]
                with m.If(self.pred.ready & learn):
                    m.next = "ERROR"
                with m.Elif(self.pred.ready):
                    m.next = "STEP"
            with m.State("ERROR"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += error.eq(rom.data - (target << g))
                m.next = "CREDIT"
            with m.State("CREDIT"):  # credit_k and R_k, one unit per cycle
                m.d.comb += self.busy.eq(1)
                m.d.sync += [
                    credit[k].eq(rescale(error * w_out[k], g + w, fp.credit)),
                    sums[k].eq(sums[k] + error * c_T[k]),
                    k.eq(k + 1),
                ]
                with m.If(k == n - 1):
                    m.d.sync += sums[n].eq(sums[n] + error)
                    m.next = "OFFER"
            with m.State("OFFER"):
                m.d.comb += [self.busy.eq(1), self.credit.valid.eq(1)]
                with m.If(self.credit.ready):
                    m.next = "STEP"
        return m
