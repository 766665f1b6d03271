"""UpdateUnit: the weight update by shifts at the end of an update period, and the forward words
rounded from the master words (golden.fixed_step.IntegerLearner's gradients, _update and words):
per parameter q (the compacted columns, then w_out, then b_out), with i, cr, gr, mf the influence,
credit, grad and master fraction bits and 2^beta the batch:

    g = round(A_q, i + cr + beta)                 (grad; A_q from the GradientUnit)
        tau: g = round(g slope(theta_gate_m), gr + c),  slope = round(s (1 - s), 2 g)   (coef)
        w_out, b_out: round(R_k, g + s + beta), round(R_b, g + beta)   (R from the ReadoutUnit)
    m <- saturate(m - round(m, mu) + g)            (grad: momentum 1 - 2^-mu)
    signum: w <- saturate(w - sign(m) 2^(mf - lambda));  sgdm: w <- saturate(w - round(m, gr + lambda - mf))
    forward word: W, V, w_out round(w, mf) (weight); b, b_out round(w, mf) (pre);
        tau: theta_gate = sigmoid_table(round(w, mf) in pre), theta = round(theta_gate, g) (state)

A start without `update` emits the forward words of the master words as they are (after loading).
Masked weights have no column, so they are never written and stay zero.

Interfaces:
    load    In: {index, master, column {block, m, j, addr}}: master word q (momentum zeroed) and,
            for q < P, its column (rtl.blocks.transactions.update_load); addr: the
            EventAccumulator's word of a V entry
    start   In: {update}: one pass over every parameter
    acc_addr / acc_data: the GradientUnit's read port (word q // L, one cycle latency)
    ro_addr / ro_data: the ReadoutUnit's read port (combinational)
    word    Out: every parameter's new forward word {block, m, j, addr, value}: block as in
            golden.fixed_linearise.BLOCKS (the theta block carries theta), W_OUT, B_OUT
    rb_addr / rb_data: read port of {master, momentum} q (one cycle latency), while idle
    busy    Out

Schedule per parameter: read (1 cycle), compute and write master and momentum (1 cycle), offer the
word (1 cycle without backpressure): 3 cycles, 1 + 3 (P + n + 1) a pass (rtl.blocks.cycles.update_cycles).
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.fixed_linearise import BLOCKS
from golden.fixedpoint import bits_for, sigmoid_table
from rtl.blocks.arith import rescale, saturate
from rtl.blocks.params import UpdateParams

CODE = {name: i for i, name in enumerate(BLOCKS)}
W_OUT, B_OUT = len(BLOCKS), len(BLOCKS) + 1


def update_column_layout(p: UpdateParams) -> data.StructLayout:
    return data.StructLayout(
        {
            "block": unsigned(4),
            "m": unsigned(bits_for(p.n + 1)),
            "j": unsigned(bits_for(max(p.n, p.n_in))),
            "addr": unsigned(bits_for(p.accumulate_depth)),
        }
    )


def update_signature(p: UpdateParams) -> wiring.Signature:
    fp = p.fp
    column = update_column_layout(p)
    load = data.StructLayout(
        {"index": unsigned(bits_for(p.parameters)), "master": signed(fp.master.width), "column": column}
    )
    value = signed(max(fp.weight.width, fp.pre.width, fp.state.width))
    word = data.StructLayout({**dict(column.members.items()), "value": value})
    return wiring.Signature(
        {
            "load": In(stream.Signature(load)),
            "start": In(stream.Signature(data.StructLayout({"update": 1}))),
            "acc_addr": Out(unsigned(bits_for(p.chunks))),
            "acc_data": In(data.ArrayLayout(signed(p.acc_width), p.lanes)),
            "ro_addr": Out(unsigned(bits_for(p.n + 1))),
            "ro_data": In(signed(p.sum_width)),
            "word": Out(stream.Signature(word)),
            "rb_addr": In(unsigned(bits_for(p.parameters))),
            "rb_data": Out(data.StructLayout({"master": signed(fp.master.width), "momentum": signed(fp.grad.width)})),
            "busy": Out(1),
        }
    )


class UpdateUnit(wiring.Component):
    def __init__(self, params: UpdateParams):
        self.p = params
        super().__init__(update_signature(params))

    def elaborate(self, platform):
        p, fp = self.p, self.p.fp
        n, L, P, Q = p.n, p.lanes, p.columns, p.parameters
        i_f, cr, gr, mf, g, s, c = (
            fp.influence.frac,
            fp.credit.frac,
            fp.grad.frac,
            fp.master.frac,
            fp.gate.frac,
            fp.state.frac,
            fp.coef.frac,
        )
        beta = p.batch.bit_length() - 1
        m = Module()

        def store(name: str, shape, depth: int):
            mem = m.submodules[name] = memory.Memory(shape=shape, depth=depth, init=[])
            return mem.write_port(), mem.read_port()

        master_wr, master_rd = store("master", signed(fp.master.width), Q)
        mom_wr, mom_rd = store("momentum", signed(fp.grad.width), Q)
        col_wr, col_rd = store("columns", update_column_layout(p), P)
        table = m.submodules.sigmoid = memory.Memory(
            shape=signed(fp.gate.width), depth=1 << fp.lut_bits, init=[int(v) for v in sigmoid_table(fp)]
        )
        rom = table.read_port()
        theta_gate = Signal(data.ArrayLayout(signed(fp.gate.width), n))

        q = Signal(range(Q + 1))
        chunk, lane = Signal(range(p.chunks + 1)), Signal(range(L))  # q = chunk L + lane
        updating = Signal()  # this pass applies the rule (else it only writes the forward words)
        ld = self.load.payload
        rb = self.rb_data
        m.d.comb += [
            master_rd.addr.eq(Mux(self.busy, q, self.rb_addr)),
            mom_rd.addr.eq(Mux(self.busy, q, self.rb_addr)),
            col_rd.addr.eq(q),
            rb.master.eq(master_rd.data),
            rb.momentum.eq(mom_rd.data),
            self.acc_addr.eq(chunk),
            self.ro_addr.eq(q - P),
        ]

        # the parameter's column: the compacted layout's, or the readout's
        col = Signal(update_column_layout(p))
        with m.If(q < P):
            m.d.comb += col.eq(col_rd.data)
        with m.Else():
            m.d.comb += [col.block.eq(Mux(q == Q - 1, B_OUT, W_OUT)), col.m.eq(q - P)]
        is_tau = col.block == CODE["theta"]
        is_bias = ((col.block >= CODE["b_u"]) & (col.block <= CODE["b_z"])) | (col.block == B_OUT)

        # the gradient g of the parameter (grad), then momentum and master
        g_acc = rescale(self.acc_data[lane], i_f + cr + beta, fp.grad)
        tg = theta_gate[col.m]
        slope = rescale(tg * ((1 << g) - tg), 2 * g, fp.coef)
        g_tau = rescale(g_acc * slope, gr + c, fp.grad)
        g_w_out = rescale(self.ro_data, g + s + beta, fp.grad)
        g_b_out = rescale(self.ro_data, g + beta, fp.grad)
        grad = Signal(signed(fp.grad.width))
        m.d.comb += grad.eq(Mux(q >= P, Mux(col.block == B_OUT, g_b_out, g_w_out), Mux(is_tau, g_tau, g_acc)))
        mom = mom_rd.data
        decay = (mom + (1 << (p.momentum_shift - 1))) >> p.momentum_shift if p.momentum_shift else mom
        new_mom = Signal(signed(fp.grad.width))
        m.d.comb += new_mom.eq(saturate(mom - decay + grad, fp.grad))
        if p.kind == "signum":
            lr = 1 << (mf - p.lr_shift)
            step = Mux(new_mom > 0, lr, Mux(new_mom < 0, -lr, 0))
        else:
            step = rescale(new_mom, gr + p.lr_shift, fp.master)
        new_master = Signal(signed(fp.master.width))
        m.d.comb += new_master.eq(Mux(updating, saturate(master_rd.data - step, fp.master), master_rd.data))

        # the forward word; for tau the table is read as the word is formed and holds its output
        out = self.word.payload
        word = Signal.like(out)
        tau = Signal()
        tau_pre = rescale(new_master, mf, fp.pre)
        forward = Mux(is_bias | is_tau, tau_pre, rescale(new_master, mf, fp.weight))
        m.d.comb += [rom.addr.eq(tau_pre.as_unsigned()[fp.pre.width - fp.lut_bits :]), rom.en.eq(0), out.eq(word)]
        with m.If(tau):
            m.d.comb += out.value.eq(rescale(rom.data, g, fp.state))

        m.d.comb += [
            master_wr.addr.eq(Mux(self.busy, q, ld.index)),
            mom_wr.addr.eq(Mux(self.busy, q, ld.index)),
            col_wr.addr.eq(ld.index),
            col_wr.data.eq(ld.column),
        ]
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += [self.load.ready.eq(1), self.start.ready.eq(~self.load.valid)]
                with m.If(self.load.valid):
                    m.d.comb += [
                        master_wr.data.eq(ld.master),
                        master_wr.en.eq(1),
                        mom_wr.data.eq(0),
                        mom_wr.en.eq(1),
                        col_wr.en.eq(ld.index < P),
                    ]
                with m.Elif(self.start.valid):
                    m.d.sync += [updating.eq(self.start.payload.update), q.eq(0), chunk.eq(0), lane.eq(0)]
                    m.next = "READ"
            with m.State("READ"):
                m.d.comb += self.busy.eq(1)
                m.next = "COMPUTE"
            with m.State("COMPUTE"):
                m.d.comb += [self.busy.eq(1), master_wr.data.eq(new_master), mom_wr.data.eq(new_mom), rom.en.eq(1)]
                m.d.comb += [master_wr.en.eq(updating), mom_wr.en.eq(updating)]
                m.d.sync += [tau.eq(is_tau), word.value.eq(forward)]
                m.d.sync += [word.block.eq(col.block), word.m.eq(col.m), word.j.eq(col.j), word.addr.eq(col.addr)]
                m.next = "OFFER"
            with m.State("OFFER"):
                m.d.comb += [self.busy.eq(1), self.word.valid.eq(1)]
                with m.If(self.word.ready):
                    with m.If(tau):
                        m.d.sync += theta_gate[word.m].eq(rom.data)
                    m.d.sync += [q.eq(q + 1), lane.eq(Mux(lane == L - 1, 0, lane + 1))]
                    with m.If(lane == L - 1):
                        m.d.sync += chunk.eq(chunk + 1)
                    with m.If(q == Q - 1):
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "READ"
        return m
