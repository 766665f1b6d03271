"""InputUnit: the input part of the gate pre-activations, a_g^in = W_g x + b_g, for the three gates
of every unit (golden.fixed_step.IntegerLearner.input_part gives the arithmetic):

    a_g^in[k] = round(sum_j W_g[k, j] x_j + b_g[k] 2^(w + s - p), w + s)           (fp.pre)

formed exactly at 2^-(w + s) and rounded and saturated once; the EventAccumulator's `init`.

Interfaces:
    load  In: {bias, gate (0 u, 1 r, 2 z), row, col, value} writes W_gate[row, col] (fp.weight) or,
          with bias = 1, b_gate[row] (fp.pre)
    x     In: the step's input x_t (fp.state)
    init  Out: {u, r, z} the input parts of all n units (fp.pre), the EventAccumulator's `init`
    busy  Out

Schedule: take x (1 cycle, row 0's weights read); per unit k one cycle with 3 n_in multipliers
(row k + 1 read meanwhile); offer `init`. Cycles: 2 + n (rtl.blocks.cycles.input_cycles).
"""

from __future__ import annotations

from amaranth import Module, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.fixedpoint import bits_for
from rtl.blocks.arith import rescale
from rtl.blocks.params import InputParams


def input_signature(p: InputParams) -> wiring.Signature:
    fp, n = p.fp, p.n
    value = signed(max(fp.weight.width, fp.pre.width))
    load = data.StructLayout(
        {
            "bias": 1,
            "gate": unsigned(2),
            "row": unsigned(bits_for(n)),
            "col": unsigned(bits_for(p.n_in)),
            "value": value,
        }
    )
    gates = data.StructLayout({g: data.ArrayLayout(signed(fp.pre.width), n) for g in "urz"})
    return wiring.Signature(
        {
            "load": In(stream.Signature(load)),
            "x": In(stream.Signature(data.ArrayLayout(signed(fp.state.width), p.n_in))),
            "init": Out(stream.Signature(gates)),
            "busy": Out(1),
        }
    )


class InputUnit(wiring.Component):
    def __init__(self, params: InputParams):
        self.p = params
        super().__init__(input_signature(params))

    def elaborate(self, platform):
        p, fp = self.p, self.p.fp
        n, n_in = p.n, p.n_in
        w, s = fp.weight.frac, fp.state.frac
        m = Module()
        ld = self.load.payload
        m.d.comb += self.load.ready.eq(1)

        def column(name: str, shape, selected) -> memory.ReadPort:
            """One memory per weight column W_g[:, j] and per bias b_g, all read at the same row."""
            mem = m.submodules[name] = memory.Memory(shape=shape, depth=n, init=[])
            wr = mem.write_port()
            m.d.comb += [wr.addr.eq(ld.row), wr.data.eq(ld.value), wr.en.eq(self.load.valid & selected)]
            return mem.read_port()

        W = [
            [
                column(f"W_{g}{j}", signed(fp.weight.width), ~ld.bias & (ld.gate == i) & (ld.col == j))
                for j in range(n_in)
            ]
            for i, g in enumerate("urz")
        ]
        b = [column(f"b_{g}", signed(fp.pre.width), ld.bias & (ld.gate == i)) for i, g in enumerate("urz")]
        ports = [port for gate in W for port in gate] + b
        addr = Signal(range(n + 1))
        m.d.comb += [port.addr.eq(addr) for port in ports]

        x = Signal.like(self.x.payload)
        k = Signal(range(n + 1))
        out = Signal.like(self.init.payload)
        shift = w + s - fp.pre.frac
        with m.FSM():
            with m.State("TAKE"):
                m.d.comb += [self.x.ready.eq(1), addr.eq(0)]
                with m.If(self.x.valid):
                    m.d.sync += [x.eq(self.x.payload), k.eq(0)]
                    m.next = "UNITS"
            with m.State("UNITS"):  # row k's words arrive; row k + 1 is read
                m.d.comb += [self.busy.eq(1), addr.eq(k + 1)]
                for gate, name in enumerate("urz"):
                    total = sum(W[gate][j].data * x[j] for j in range(n_in)) + (b[gate].data << shift)
                    m.d.sync += out[name][k].eq(rescale(total, w + s, fp.pre))
                m.d.sync += k.eq(k + 1)
                with m.If(k == n - 1):
                    m.next = "OUT"
            with m.State("OUT"):
                m.d.comb += [self.busy.eq(1), self.init.valid.eq(1), self.init.payload.eq(out)]
                with m.If(self.init.ready):
                    m.next = "TAKE"
        return m
