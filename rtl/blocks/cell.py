"""CellUnit: the EGRU's cell update of one step, one unit at a time (golden.fixed_cell.cell_step
gives the arithmetic; every quantity is formed exactly and rounded and saturated once).

    u = sigmoid_table(a_u),  r = sigmoid_table(a_r),  z = tanh_table(a_z)             (fp.gate)
    c = u z + (1 - u) q - y'     q = c' (paper reset); c' - theta o' with no - y' (subtractive)
    o = [c - theta > 0],  y = c o                                                       (fp.state)
    H' = max(0, gamma - (gamma / epsilon) |c - theta|),  d = o + c H'                   (fp.deriv)
    u (1 - u),  r (1 - r),  1 - z^2                                                      (fp.coef)

Interfaces:
    load    In: {index, theta} writes theta_index (fp.state); before use
    clear   In: a strobe, taken while idle, that zeroes c', y' and o' (a sequence starts)
    pre     In: a step's a_u, a_r, a_z (fp.pre), the EventAccumulator's `pre` stream
    record  Out: per unit k in ascending order, {index, u, r, z, c, o, y, dH, d, su, sr, dz}: what
            the linearisation unit needs of the step
    y       Out: the step's output vector (fp.state), for the EventRouter
The previous step's c', y', o' and theta live in registers; the tables are ROMs of 2^lut_bits
words (two read ports on the sigmoid's).

Schedule of one step:
    take    accept `pre` (1 cycle)
    read    unit k's table addresses from a_u[k], a_r[k], a_z[k] (1 cycle)
    compute the table words arrive; the record of unit k is formed and offered until taken, and then
            c', y', o' of unit k are replaced; the next unit is read, or after unit n - 1:
    out     offer `y` until taken
Cycles per step with no backpressure: 2 + 2 n (rtl.blocks.cycles.cell_cycles).
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.fixed_cell import tanh_table
from golden.fixedpoint import bits_for, sigmoid_table
from rtl.blocks.arith import rescale
from rtl.blocks.params import CellUnitParams


def record_layout(p: CellUnitParams) -> data.StructLayout:
    fp = p.fp
    fields = {"index": unsigned(bits_for(p.n))}
    fields.update({k: signed(fp.gate.width) for k in ("u", "r", "z")})
    fields.update({"c": signed(fp.state.width), "o": 1, "y": signed(fp.state.width)})
    fields.update({k: signed(fp.deriv.width) for k in ("dH", "d")})
    fields.update({k: signed(fp.coef.width) for k in ("su", "sr", "dz")})
    return data.StructLayout(fields)


def cell_signature(p: CellUnitParams) -> wiring.Signature:
    fp = p.fp
    gates = data.StructLayout({g: data.ArrayLayout(signed(fp.pre.width), p.n) for g in "urz"})
    load = data.StructLayout({"index": unsigned(bits_for(p.n)), "theta": signed(fp.state.width)})
    return wiring.Signature(
        {
            "load": In(stream.Signature(load)),
            "clear": In(1),
            "pre": In(stream.Signature(gates)),
            "record": Out(stream.Signature(record_layout(p))),
            "y": Out(stream.Signature(data.ArrayLayout(signed(fp.state.width), p.n))),
            "busy": Out(1),
        }
    )


class CellUnit(wiring.Component):
    def __init__(self, params: CellUnitParams):
        self.p = params
        super().__init__(cell_signature(params))

    def elaborate(self, platform):
        p, fp = self.p, self.p.fp
        g, s, f, k_c = fp.gate.frac, fp.state.frac, fp.deriv.frac, fp.const.frac
        h = p.constants
        m = Module()

        def table(name: str, values, ports: int):
            rom = memory.Memory(shape=signed(fp.gate.width), depth=len(values), init=[int(v) for v in values])
            m.submodules[name] = rom
            return [rom.read_port() for _ in range(ports)]

        sig_u, sig_r = table("sigmoid", sigmoid_table(fp), 2)
        (tanh_z,) = table("tanh", tanh_table(fp), 1)

        state_word = data.ArrayLayout(signed(fp.state.width), p.n)
        theta, c_prev, y_prev = Signal(state_word), Signal(state_word), Signal(state_word)
        o_prev = Signal(p.n)
        pre = Signal.like(self.pre.payload)
        k = Signal(range(p.n))

        top = fp.pre.width - fp.lut_bits  # a table's index: the pre-activation's top lut_bits bits
        m.d.comb += [
            sig_u.addr.eq(pre.u[k].as_unsigned()[top:]),
            sig_r.addr.eq(pre.r[k].as_unsigned()[top:]),
            tanh_z.addr.eq(pre.z[k].as_unsigned()[top:]),
        ]
        u, r, z = sig_u.data, sig_r.data, tanh_z.data

        # the record of unit k from the table words and the registers (module docstring)
        c_old, y_old, o_old, th = c_prev[k], y_prev[k], o_prev.bit_select(k, 1), theta[k]
        one = 1 << g
        if p.subtractive:
            carried = c_old - Mux(o_old, th, 0)
            acc = u * z + (((one - u) * carried) << (g - s))
        else:
            acc = u * z + (((one - u) * c_old) << (g - s)) - (y_old << (2 * g - s))
        c = Signal(signed(fp.state.width))
        v = Signal(signed(fp.state.width + 1))
        o = Signal()
        dH = Signal(signed(fp.deriv.width))
        m.d.comb += [c.eq(rescale(acc, 2 * g, fp.state)), v.eq(c - th), o.eq(v > 0)]
        dH_acc = Signal(signed(fp.const.width + fp.state.width + 2))  # gamma 2^s - slope |v| at 2^-(k + s)
        m.d.comb += [
            dH_acc.eq((h.gamma << s) - h.slope * Mux(v < 0, -v, v)),
            dH.eq(rescale(Mux(dH_acc > 0, dH_acc, 0), k_c + s, fp.deriv)),
        ]
        rec = self.record.payload
        m.d.comb += [
            rec.index.eq(k),
            rec.u.eq(u),
            rec.r.eq(r),
            rec.z.eq(z),
            rec.c.eq(c),
            rec.o.eq(o),
            rec.y.eq(Mux(o, c, 0)),
            rec.dH.eq(dH),
            rec.d.eq(rescale((o << (f + s)) + c * dH, f + s, fp.deriv)),
            rec.su.eq(rescale(u * (one - u), 2 * g, fp.coef)),
            rec.sr.eq(rescale(r * (one - r), 2 * g, fp.coef)),
            rec.dz.eq(rescale((1 << (2 * g)) - z * z, 2 * g, fp.coef)),
            self.y.payload.eq(y_prev),
        ]

        m.d.comb += self.load.ready.eq(1)
        with m.If(self.load.valid):
            m.d.sync += theta[self.load.payload.index].eq(self.load.payload.theta)

        with m.FSM():
            with m.State("take"):
                m.d.comb += self.pre.ready.eq(1)
                with m.If(self.clear):
                    m.d.sync += [c_prev.eq(0), y_prev.eq(0), o_prev.eq(0)]
                with m.If(self.pre.valid):
                    m.d.sync += [pre.eq(self.pre.payload), k.eq(0)]
                    m.next = "read"
            with m.State("read"):
                m.d.comb += self.busy.eq(1)
                m.next = "compute"
            with m.State("compute"):
                m.d.comb += [self.busy.eq(1), self.record.valid.eq(1)]
                with m.If(self.record.ready):
                    m.d.sync += [c_prev[k].eq(c), y_prev[k].eq(rec.y), o_prev.bit_select(k, 1).eq(o)]
                    with m.If(k == p.n - 1):
                        m.next = "out"
                    with m.Else():
                        m.d.sync += k.eq(k + 1)
                        m.next = "read"
            with m.State("out"):
                m.d.comb += [self.busy.eq(1), self.y.valid.eq(1)]
                with m.If(self.y.ready):
                    m.next = "take"
        return m
