"""LinearizeUnit: the EGRU's linearisation of one step (golden.fixed_linearise.linearise gives the
arithmetic), turning the cell unit's records into the InfluenceUpdate's step, setup and mbar
streams (DESIGN.md contracts 4 and 6). With a prime for t - 1 and q the carried state (c', or
c' - theta o' for the subtractive reset):

    coef_u = (z - q) su,  coef_z = u dz,  ysr = y' sr,  ry = r y'                 (per unit, coef; ry state)
    decay = 1 - u,  or (1 - u)(1 - theta H'_{t-1}) for the subtractive reset         (coef)
    A_r[k, m] = coef_z[k] V_z[k, m] ysr_m          for the events m (y'_m != 0)      (coef; 0 elsewhere)
    G[k, l] = coef_u[k] V_u[k, l] + coef_z[k] V_z[k, l] r_l + sum_m A_r[k, m] V_r[m, l] - [k = l]
              for the active sources l (d'_l != 0); no - [k = l] for the subtractive reset  (coef)
    Mbar[k, q] = S[k, m_q] operand_q         (influence; S = coef_u or coef_z on row m_q only, A_r, G)
        W_g: operand x_j,  V_u, V_r: y'_j,  V_z: ry_j,  b_g: 1,
        theta: -c'_l H'_{t-1,l} [+ (1 - u_k)(theta_k H'_{t-1,k} - o'_k) on the diagonal, subtractive]

Each quantity is formed exactly and rounded and saturated once, to the format golden names.

Interfaces (all `lib.stream`, valid/ready, except clear and busy):
    weight  In: {gate (0 u, 1 r, 2 z), row, col, value} writes V_gate[row, col] (fp.weight, masked 0)
    theta   In: {index, theta} writes theta_index (fp.state)
    columns In: {chunk, columns[L]}: the compacted layout, L columns {block, m, j} per chunk
            (block: the index in golden.fixed_linearise.BLOCKS, PAD past the last column)
    clear   In: a strobe, taken while idle, that zeroes c', y', o', H'_{t-1}, d' (a sequence starts)
    x       In: the step's input x_t (fp.state)
    record  In: the CellUnit's records of the step, units 0 .. n - 1 in order
    step, setup, mbar  Out: the InfluenceUpdate's streams (rtl.blocks.influence): every row, the
            decay term and the active sources in ascending order, every Mbar word, the end word
    busy    Out: a step is being linearised

Schedule of one step: take x; take the n records, each forming its unit's per-unit words above
(1 cycle each) and replacing c', y', o', H', d'; offer the step header; then two sequencers run
side by side. The setup sequencer, row k: claim one of two row buffers, offer the decay element,
form A_r[k, :] over the events (1 cycle each, V_z read a cycle ahead), then per active source l
form G[k, l] from 1 + events terms (V_u, V_z, then V_r read a cycle ahead) and offer it with d'_l.
The Mbar sequencer, row k, once the setup of row k is done: one chunk per cycle, L lanes forming
L values from the chunk's column descriptors and the row buffer, offering every word (zeros too, so
that the InfluenceUpdate never waits on Mbar and the step's cycles do not depend on its values),
going on to row k + 1 without a cycle between when its setup is done; after row n - 1 the end word.
Double row buffers let setup run one row ahead of Mbar, as the InfluenceUpdate consumes them.
rtl.blocks.cycles.linearise_cycles gives the cycles per step.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.fixed_linearise import BLOCKS
from golden.fixedpoint import bits_for
from rtl.blocks.arith import rescale
from rtl.blocks.cell import record_layout
from rtl.blocks.influence import influence_signature, lowest_set
from rtl.blocks.layouts import payload_shape
from rtl.blocks.params import CellUnitParams, LinearizeParams
from rtl.blocks.transactions import PAD

CODE = {name: i for i, name in enumerate(BLOCKS)}


@dataclass
class _Shared:
    """What the collect phase hands the two sequencers: this step's per-unit words, the two row
    buffers, and the handshakes between them."""

    x: Signal
    coef_u: Signal
    coef_z: Signal
    ysr: Signal
    ry: Signal
    y_op: Signal  # y'
    r_gate: Signal
    d_src: Signal  # d'
    decay: Signal
    cdH: Signal
    diag: Signal | None
    events: Signal
    active: Signal
    A_r: Signal  # [2n]: rows k and k + 1 at par = k mod 2
    G: Signal
    start: Signal  # the header was taken: both sequencers start
    s_done: Signal  # rows whose setup is done
    m_done: Signal  # rows whose Mbar words are done
    mbar_end: Signal  # the end word was taken


def column_layout(p: LinearizeParams) -> data.StructLayout:
    """One compacted column: its parameter block, row m and column j within the block."""
    return data.StructLayout(
        {"block": unsigned(bits_for(PAD + 1)), "m": unsigned(bits_for(p.n)), "j": unsigned(bits_for(max(p.n, p.n_in)))}
    )


def linearise_signature(p: LinearizeParams) -> wiring.Signature:
    fp, n = p.fp, p.n
    influence = influence_signature(p.influence)
    index = unsigned(bits_for(n))
    weight = data.StructLayout({"gate": unsigned(2), "row": index, "col": index, "value": signed(fp.weight.width)})
    theta = data.StructLayout({"index": unsigned(bits_for(n)), "theta": signed(fp.state.width)})
    columns = data.StructLayout(
        {"chunk": unsigned(bits_for(p.chunks)), "columns": data.ArrayLayout(column_layout(p), p.lanes)}
    )
    records = record_layout(CellUnitParams(n=n, fp=fp))
    return wiring.Signature(
        {
            "weight": In(stream.Signature(weight)),
            "theta": In(stream.Signature(theta)),
            "columns": In(stream.Signature(columns)),
            "clear": In(1),
            "x": In(stream.Signature(data.ArrayLayout(signed(fp.state.width), p.n_in))),
            "record": In(stream.Signature(records)),
            "step": Out(stream.Signature(payload_shape(influence, "step"))),
            "setup": Out(stream.Signature(payload_shape(influence, "setup"))),
            "mbar": Out(stream.Signature(payload_shape(influence, "mbar"))),
            "busy": Out(1),
        }
    )


class LinearizeUnit(wiring.Component):
    def __init__(self, params: LinearizeParams):
        self.p = params
        super().__init__(linearise_signature(params))

    def elaborate(self, platform):
        p, fp = self.p, self.p.fp
        n, C = p.n, p.chunks
        g, s, c, f = fp.gate.frac, fp.state.frac, fp.coef.frac, fp.deriv.frac
        m = Module()

        def units(shape, name: str, count: int = n) -> Signal:
            return Signal(data.ArrayLayout(shape, count), name=name)

        # --- memories: the recurrent weights (dense, row-major) and the column descriptors --------
        V = {}
        for i, gate in enumerate("urz"):
            mem = m.submodules[f"V_{gate}"] = memory.Memory(shape=signed(fp.weight.width), depth=n * n, init=[])
            wr = mem.write_port()
            load = self.weight.payload
            m.d.comb += [
                wr.addr.eq(load.row * n + load.col),
                wr.data.eq(load.value),
                wr.en.eq(self.weight.valid & (load.gate == i)),
            ]
            V[gate] = mem.read_port()
        m.d.comb += self.weight.ready.eq(1)
        columns = m.submodules.columns = memory.Memory(
            shape=payload_shape(self.signature, "columns")["columns"].shape, depth=C, init=[]
        )
        col_wr, col_rd = columns.write_port(), columns.read_port()
        m.d.comb += [
            col_wr.addr.eq(self.columns.payload.chunk),
            col_wr.data.eq(self.columns.payload.columns),
            col_wr.en.eq(self.columns.valid),
            self.columns.ready.eq(1),
        ]

        theta = units(signed(fp.state.width), "theta")
        m.d.comb += self.theta.ready.eq(1)
        with m.If(self.theta.valid):
            m.d.sync += theta[self.theta.payload.index].eq(self.theta.payload.theta)

        # --- the previous step's record and this step's per-unit words ------------------------------
        c_prev, y_prev = units(signed(fp.state.width), "c_prev"), units(signed(fp.state.width), "y_prev")
        dH_prev, d_prev = units(signed(fp.deriv.width), "dH_prev"), units(signed(fp.deriv.width), "d_prev")
        o_prev = Signal(n)
        coef_u, coef_z = units(signed(fp.coef.width), "coef_u"), units(signed(fp.coef.width), "coef_z")
        ysr, decay = units(signed(fp.coef.width), "ysr"), units(signed(fp.coef.width), "decay")
        ry, y_op = units(signed(fp.state.width), "ry"), units(signed(fp.state.width), "y_op")  # y_op: y'
        r_gate, d_src = units(signed(fp.gate.width), "r"), units(signed(fp.deriv.width), "d_src")
        cdH = units(signed(fp.state.width + fp.deriv.width), "cdH")  # c' H'_{t-1}, exact at 2^-(s + f)
        diag_width = fp.gate.width + fp.state.width + fp.deriv.width + 3
        diag = units(signed(diag_width), "diag") if p.subtractive else None
        x = Signal.like(self.x.payload)
        events, active = Signal(n), Signal(n)
        sources = Signal(bits_for(n + 1))
        first = Signal(init=1)

        # --- row buffers (two rows, par = row mod 2) ------------------------------------------------
        A_r = units(signed(fp.coef.width), "A_r", 2 * n)
        G = units(signed(fp.coef.width), "G", 2 * n)
        s_done, m_done = Signal(bits_for(n + 1)), Signal(bits_for(n + 1))  # rows finished by each sequencer
        start = Signal()

        # --- collect: x, then the n records ---------------------------------------------------------
        rec = self.record.payload
        k_in = Signal(range(n))
        one_u = (1 << g) - rec.u
        th = theta[k_in]
        carried = c_prev[k_in] - Mux(o_prev.bit_select(k_in, 1), th, 0) if p.subtractive else c_prev[k_in]
        mbar_end = Signal()
        with m.FSM(name="collect"):
            with m.State("X"):
                m.d.comb += self.x.ready.eq(1)
                with m.If(self.clear):
                    m.d.sync += [c_prev.eq(0), y_prev.eq(0), o_prev.eq(0), dH_prev.eq(0), d_prev.eq(0), first.eq(1)]
                with m.If(self.x.valid):
                    m.d.sync += [x.eq(self.x.payload), k_in.eq(0), events.eq(0), active.eq(0), sources.eq(0)]
                    m.next = "RECORDS"
            with m.State("RECORDS"):
                m.d.comb += [self.busy.eq(1), self.record.ready.eq(1)]
                with m.If(self.record.valid):
                    y_old, d_old = y_prev[k_in], d_prev[k_in]
                    m.d.sync += [
                        coef_u[k_in].eq(rescale((rec.z - (carried << (g - s))) * rec.su, g + c, fp.coef)),
                        coef_z[k_in].eq(rescale(rec.u * rec.dz, g + c, fp.coef)),
                        ysr[k_in].eq(rescale(y_old * rec.sr, s + c, fp.coef)),
                        ry[k_in].eq(rescale(rec.r * y_old, g + s, fp.state)),
                        y_op[k_in].eq(y_old),
                        r_gate[k_in].eq(rec.r),
                        d_src[k_in].eq(d_old),
                        cdH[k_in].eq(c_prev[k_in] * dH_prev[k_in]),
                        events.bit_select(k_in, 1).eq(y_old != 0),
                        active.bit_select(k_in, 1).eq(d_old != 0),
                        sources.eq(sources + (d_old != 0)),
                        c_prev[k_in].eq(rec.c),
                        y_prev[k_in].eq(rec.y),
                        o_prev.bit_select(k_in, 1).eq(rec.o),
                        dH_prev[k_in].eq(rec.dH),
                        d_prev[k_in].eq(rec.d),
                    ]
                    if p.subtractive:
                        m.d.sync += [
                            decay[k_in].eq(rescale(one_u * ((1 << (s + f)) - th * dH_prev[k_in]), g + s + f, fp.coef)),
                            diag[k_in].eq(one_u * (th * dH_prev[k_in] - (o_prev.bit_select(k_in, 1) << (s + f)))),
                        ]
                    else:
                        m.d.sync += decay[k_in].eq(rescale(one_u, g, fp.coef))
                    with m.If(k_in == n - 1):
                        m.next = "HEADER"
                    with m.Else():
                        m.d.sync += k_in.eq(k_in + 1)
            with m.State("HEADER"):
                m.d.comb += [self.busy.eq(1), self.step.valid.eq(1)]
                hdr = self.step.payload
                m.d.comb += [hdr.rows.eq((1 << n) - 1), hdr.terms.eq(sources + 1), hdr.first.eq(first)]
                with m.If(self.step.ready):
                    m.d.comb += start.eq(1)
                    m.d.sync += first.eq(0)
                    m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += self.busy.eq(1)
                with m.If(mbar_end):
                    m.next = "X"

        shared = _Shared(
            x,
            coef_u,
            coef_z,
            ysr,
            ry,
            y_op,
            r_gate,
            d_src,
            decay,
            cdH,
            diag,
            events,
            active,
            A_r,
            G,
            start,
            s_done,
            m_done,
            mbar_end,
        )
        self.setup_sequencer(m, V, shared)
        self.mbar_sequencer(m, col_rd, shared)
        return m

    def setup_sequencer(self, m: Module, V: dict, sh: _Shared) -> None:
        """Rows of setup elements: decay, then G[k, l] d'_l for each active source (module docstring)."""
        p, fp = self.p, self.p.fp
        n, g, c, w = p.n, fp.gate.frac, fp.coef.frac, fp.weight.frac
        A_r, G, events, active = sh.A_r, sh.G, sh.events, sh.active
        coef_u, coef_z, ysr, r_gate = sh.coef_u, sh.coef_z, sh.ysr, sh.r_gate
        k = Signal(range(n), name="s_row")
        par = k[0] if n > 1 else 0
        ev_left, act_left = Signal(n, name="ev_left"), Signal(n, name="act_left")
        pend, pend_init, pend_m = Signal(name="pend"), Signal(name="pend_init"), Signal(range(n), name="pend_m")
        src = Signal(range(n), name="s_src")
        acc = Signal(signed(fp.coef.width + fp.weight.width + fp.gate.width + bits_for(n + 3) + 1), name="g_acc")
        next_ev, next_src = lowest_set(m, ev_left, n), lowest_set(m, act_left, n)
        el = self.setup.payload
        g_word = rescale(acc, c + w + g, fp.coef)
        eye = 0 if p.subtractive else Mux(k == src, 1 << (c + w + g), 0)
        with m.FSM(name="setup"):
            with m.State("IDLE"):
                with m.If(sh.start):
                    m.d.sync += [k.eq(0), sh.s_done.eq(0)]
                    m.next = "ROW"
            with m.State("ROW"):  # claim row buffer par: Mbar is done with row k - 2
                with m.If(k < sh.m_done + 2):
                    for i in range(2 * n):
                        with m.If(par == i // n):
                            m.d.sync += [A_r[i].eq(0), G[i].eq(0)]
                    m.d.sync += [ev_left.eq(events), act_left.eq(active)]
                    m.next = "DECAY"
            with m.State("DECAY"):
                m.d.comb += [self.setup.valid.eq(1), el.g.eq(sh.decay[k]), el.decay.eq(1)]
                with m.If(self.setup.ready):
                    m.next = "A_R"
            with m.State("A_R"):  # A_r[k, m] for the events m, V_z[k, m] read a cycle ahead
                with m.If(pend):
                    term = coef_z[k] * V["z"].data * ysr[pend_m]
                    m.d.sync += A_r[par * n + pend_m].eq(rescale(term, c + w + c, fp.coef))
                m.d.comb += V["z"].addr.eq(k * n + next_ev)
                m.d.sync += [pend.eq(ev_left != 0), pend_m.eq(next_ev), ev_left.eq(ev_left & (ev_left - 1))]
                with m.If(ev_left == 0):
                    m.next = "SOURCE"
            with m.State("SOURCE"):  # the next active source l, or the row is done
                m.d.comb += [V["u"].addr.eq(k * n + next_src), V["z"].addr.eq(k * n + next_src)]
                with m.If(act_left == 0):
                    m.d.sync += sh.s_done.eq(sh.s_done + 1)
                    with m.If(k == n - 1):
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += k.eq(k + 1)
                        m.next = "ROW"
                with m.Else():
                    m.d.sync += [
                        src.eq(next_src),
                        act_left.eq(act_left & (act_left - 1)),
                        ev_left.eq(events),
                        pend_init.eq(1),
                    ]
                    m.next = "G"
            with m.State("G"):  # G[k, l]'s terms: V_u and V_z, then V_r[m, l] per event m
                with m.If(pend_init):
                    own = ((coef_u[k] * V["u"].data) << g) + coef_z[k] * V["z"].data * r_gate[src]
                    m.d.sync += acc.eq(own - eye)
                with m.Elif(pend):
                    m.d.sync += acc.eq(acc + ((A_r[par * n + pend_m] * V["r"].data) << g))
                m.d.comb += V["r"].addr.eq(next_ev * n + src)
                m.d.sync += [
                    pend_init.eq(0),
                    pend.eq(ev_left != 0),
                    pend_m.eq(next_ev),
                    ev_left.eq(ev_left & (ev_left - 1)),
                ]
                with m.If(ev_left == 0):
                    m.next = "OFFER"
            with m.State("OFFER"):
                m.d.comb += [self.setup.valid.eq(1), el.g.eq(g_word), el.d.eq(sh.d_src[src]), el.src.eq(src)]
                with m.If(self.setup.ready):
                    m.d.sync += G[par * n + src].eq(g_word)
                    m.next = "SOURCE"

    def mbar_sequencer(self, m: Module, col_rd, sh: _Shared) -> None:
        """Rows of Mbar words, one chunk of L columns per cycle, zero words skipped (module docstring)."""
        p, fp = self.p, self.p.fp
        n, L, C = p.n, p.lanes, p.chunks
        g, s, c, f = fp.gate.frac, fp.state.frac, fp.coef.frac, fp.deriv.frac
        top = max(c, g)
        k = Signal(range(n), name="m_row")
        chunk = Signal(range(C), name="m_chunk")
        par = k[0] if n > 1 else 0
        word = self.mbar.payload
        values = []
        for lane in range(L):
            col = col_rd.data[lane]
            on_row = col.m == k
            own_u = Mux(on_row, sh.coef_u[k], 0)
            own_z = Mux(on_row, sh.coef_z[k], 0)
            S = Signal(signed(fp.coef.width), name=f"S{lane}")
            operand = Signal(signed(fp.state.width + fp.deriv.width + 1), name=f"operand{lane}")
            block = col.block
            with m.Switch(block):
                for name, code in CODE.items():
                    with m.Case(code):
                        gate = name[-1]
                        if name == "theta":
                            m.d.comb += [S.eq(sh.G[par * n + col.m]), operand.eq(-sh.cdH[col.m])]
                            continue
                        m.d.comb += S.eq({"u": own_u, "z": own_z, "r": sh.A_r[par * n + col.m]}[gate])
                        if name[0] == "W":
                            m.d.comb += operand.eq(sh.x[col.j])
                        elif name == "V_z":
                            m.d.comb += operand.eq(sh.ry[col.j])
                        elif name[0] == "V":
                            m.d.comb += operand.eq(sh.y_op[col.j])
                        else:
                            m.d.comb += operand.eq(1)
            product = S * operand
            theta_sum = product << (top - c)
            if p.subtractive:
                theta_sum = theta_sum + Mux(on_row, sh.diag[k] << (top - g), 0)
            value = Signal(signed(fp.influence.width), name=f"mbar{lane}")
            kind = Signal(2, name=f"kind{lane}")  # 0 W/V, 1 b, 2 theta, 3 past the last column
            m.d.comb += kind.eq(Mux(block == CODE["theta"], 2, Mux(block >= PAD, 3, Mux(block >= CODE["b_u"], 1, 0))))
            with m.Switch(kind):
                with m.Case(0):
                    m.d.comb += value.eq(rescale(product, c + s, fp.influence))
                with m.Case(1):
                    m.d.comb += value.eq(rescale(product, c, fp.influence))
                with m.Case(2):
                    m.d.comb += value.eq(rescale(theta_sum, top + s + f, fp.influence))
            values.append(value)
            m.d.comb += word.values[lane].eq(value)
        m.d.comb += [word.row.eq(k), word.chunk.eq(chunk)]
        next_ready = sh.s_done > k + 1  # the setup of row k + 1 is done: go on without a wait
        with m.FSM(name="mbar"):
            with m.State("IDLE"):
                with m.If(sh.start):
                    m.d.sync += [k.eq(0), sh.m_done.eq(0)]
                    m.next = "WAIT"
            with m.State("WAIT"):  # for the setup of row k (its A_r and G)
                m.d.comb += col_rd.addr.eq(0)
                with m.If(sh.s_done > k):
                    m.d.sync += chunk.eq(0)
                    m.next = "RUN"
            with m.State("RUN"):  # every word, zeros included: the consumer's pace alone sets the cycles
                last_chunk = chunk == C - 1
                m.d.comb += [
                    self.mbar.valid.eq(1),
                    col_rd.addr.eq(Mux(self.mbar.ready, Mux(last_chunk, 0, chunk + 1), chunk)),
                ]
                with m.If(self.mbar.ready):
                    with m.If(last_chunk):
                        m.d.sync += [sh.m_done.eq(sh.m_done + 1), chunk.eq(0)]
                        with m.If(k == n - 1):
                            m.next = "END"
                        with m.Else():
                            m.d.sync += k.eq(k + 1)
                            with m.If(~next_ready):
                                m.next = "WAIT"
                    with m.Else():
                        m.d.sync += chunk.eq(chunk + 1)
            with m.State("END"):
                m.d.comb += [self.mbar.valid.eq(1), word.end.eq(1), word.row.eq(0), word.chunk.eq(0)]
                for lane in range(L):
                    m.d.comb += word.values[lane].eq(0)
                with m.If(self.mbar.ready):
                    m.d.comb += sh.mbar_end.eq(1)
                    m.next = "IDLE"
