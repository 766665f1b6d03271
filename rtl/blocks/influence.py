"""InfluenceUpdate: the sparse, row-gated influence-matrix update of exact RTRL (DESIGN.md contract 4).

Per step, over the P compacted (unmasked) parameter columns, with M double-buffered (read M_{t-1}
from one bank, write M_t to the other):

    M_t[k, :] = decay_k M_{t-1}[k, :] + sum_i coef[k, i] M_{t-1}[l_i, :] + Mbar_t[k, :]     for rows k in `rows`
    coef[k, i] = round(G_t[k, l_i] d_{t-1, l_i})                         (golden.fixedpoint.influence_step)

Only the rows of active source units l_i (d_{t-1, l} != 0) are read, and for the threshold RNN only
the rows with d_t != 0 are written (the others are flagged zero in `row_valid`).

Interfaces (all `lib.stream`, valid/ready):
    step   header: rows (n bits), terms (decay term + active sources), first (M_{t-1} = 0)
    setup  terms elements for each row k in `rows`, rows ascending: {g, d, src, decay}: the decay
           term (decay = 1, g = decay_k; first, when the block has one) then one per source l_i
           (g = G[k, l_i], d = d_{l_i}, src = l_i), sources in the same order for every row
    mbar   words {row, chunk, values[L], end} of Mbar_t in ascending (row, chunk), only words with a
           non-zero value need be sent, then one word with end = 1
    done   one transfer per step; payload: the cycles spent waiting on an input stream (stalls)
    written  every word of M_t as it is written {valid, row, chunk, values[L]} (no ready: it cannot
           stall the block), for the gradient unit
    rb_addr / rb_data: read port of the latest M (word row * chunks + chunk, one cycle latency),
           usable while busy = 0; row_valid: rows of the latest M that hold values (others are 0)

Schedule: for each row k in `rows` (ascending), each chunk c of L columns, each term i: one cycle in
which the L lanes multiply coef[k, i] by M_{t-1}[src_i, cL .. cL + L - 1] into wide accumulators. A
three-stage pipeline (issue reads, multiply-accumulate, round/add Mbar/write) keeps the lanes busy
every cycle. The setup runs beside it, one element per cycle (one multiplier forms coef), a row
ahead: a row is issued once its coefficients are written, so only the first row's setup adds
cycles. rtl.blocks.cycles.influence_cycles gives the count; `stalls` counts cycles spent waiting on an
empty stream (setup, Mbar). Cycles waiting on done's ready are not in it: the payload is fixed once
done is offered (lib.stream's rule, which `rtl prove` checks); they count in the step's cycles only.
"""

from __future__ import annotations

from amaranth import Array, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.fixedpoint import bits_for
from rtl.blocks.arith import round_saturate
from rtl.blocks.params import InfluenceParams
from rtl.blocks.tiled_memory import TiledMemory


def watch_layout(p: InfluenceParams) -> data.StructLayout:
    """Internal signals a formal harness watches (rtl.formal.influence); not ports, so synthesis
    drops them: the addresses of M's banks (read while busy, write) before they meet the memories'
    address width, and the (row, term) addresses of the coefficient memory's reads and writes."""
    n = p.n
    address = unsigned(bits_for(n) + bits_for(p.chunks))  # holds any src * chunks + chunk
    term, row = unsigned(bits_for(p.max_terms + 1)), unsigned(bits_for(n))
    return data.StructLayout(
        {
            "read": 1,
            "read_addr": address,
            "write": 1,
            "write_addr": address,
            "coef_read": 1,
            "coef_read_row": row,
            "coef_read_term": term,
            "coef_write": 1,
            "coef_write_row": row,
            "coef_write_term": term,
        }
    )


def influence_signature(p: InfluenceParams) -> wiring.Signature:
    """InfluenceUpdate's ports (also what the self-test packs its ROM words for)."""
    fp, n = p.fp, p.n
    word = data.ArrayLayout(signed(fp.influence.width), p.lanes)
    step = data.StructLayout({"rows": unsigned(n), "terms": unsigned(bits_for(p.max_terms + 1)), "first": 1})
    setup = data.StructLayout(
        {"g": signed(fp.coef.width), "d": signed(fp.deriv.width), "src": unsigned(bits_for(n)), "decay": 1}
    )
    mbar = data.StructLayout(
        {"row": unsigned(bits_for(n)), "chunk": unsigned(bits_for(p.chunks)), "values": word, "end": 1}
    )
    written = data.StructLayout(
        {"valid": 1, "row": unsigned(bits_for(n)), "chunk": unsigned(bits_for(p.chunks)), "values": word}
    )
    return wiring.Signature(
        {
            "step": In(stream.Signature(step)),
            "setup": In(stream.Signature(setup)),
            "mbar": In(stream.Signature(mbar)),
            "done": Out(stream.Signature(data.StructLayout({"stalls": unsigned(32)}))),
            "written": Out(written),
            "rb_addr": In(unsigned(bits_for(p.depth))),
            "rb_data": Out(word),
            "row_valid": Out(unsigned(n)),
            "busy": Out(1),
        }
    )


class InfluenceUpdate(wiring.Component):
    def __init__(self, params: InfluenceParams):
        self.p = params
        signature = influence_signature(params)
        self.word = signature.members["rb_data"].shape
        self.watch = Signal(watch_layout(params))
        super().__init__(signature)

    def elaborate(self, platform):
        p, fp = self.p, self.p.fp
        n, L, C = p.n, p.lanes, p.chunks
        m = Module()

        banks = [TiledMemory(m, f"bank{i}", self.word, p.depth, p.banks) for i in range(2)]
        coefs = m.submodules.coefs = memory.Memory(shape=signed(fp.coef.width), depth=n << p.term_bits, init=[])
        coef_rd, coef_wr = coefs.read_port(), coefs.write_port()

        bank = Signal()  # bank holding M_{t-1} (read); ~bank receives M_t
        valid = Array([Signal(n, name="valid0"), Signal(n, name="valid1")])  # rows holding values, per bank
        terms = Signal.like(self.step.payload.terms)
        srcs = Array([Signal(bits_for(n), name=f"src{i}") for i in range(p.max_terms)])
        selfs = Signal(p.max_terms)  # term i reads row k itself (the decay term)
        stalls = Signal(32)
        busy = Signal()

        # --- setup writer: coefficients row by row, one element per cycle -------------------------
        w_active, w_first_row = Signal(), Signal()
        w_row, w_term, w_pending = Signal(bits_for(n)), Signal.like(terms), Signal(n)
        w_done = Signal(n)  # rows whose coefficients are all written
        el = self.setup.payload
        m.d.comb += [
            self.setup.ready.eq(w_active),
            coef_wr.addr.eq(Cat(w_term[: p.term_bits], w_row)),
            coef_wr.data.eq(Mux(el.decay, el.g, round_saturate(el.g * el.d, fp.deriv.frac, fp.coef))),
            coef_wr.en.eq(w_active & self.setup.valid),
        ]
        with m.If(w_active & self.setup.valid):
            with m.If(w_first_row):  # the sources are the same for every row: keep the first row's
                m.d.sync += [srcs[w_term].eq(el.src), selfs.bit_select(w_term, 1).eq(el.decay)]
            with m.If(w_term + 1 >= terms):
                m.d.sync += [w_term.eq(0), w_done.eq(w_done | (1 << w_row)), w_first_row.eq(0)]
                m.d.sync += [w_row.eq(lowest_set(m, w_pending, n)), w_pending.eq(w_pending & (w_pending - 1))]
                with m.If(w_pending == 0):
                    m.d.sync += w_active.eq(0)
            with m.Else():
                m.d.sync += w_term.eq(w_term + 1)

        # --- stage A: issue (row, chunk, term) --------------------------------------------------
        row, chunk, term, pending = Signal(bits_for(n)), Signal(bits_for(C)), Signal.like(terms), Signal(n)
        last_term, coef_ready = Signal(), Signal()
        m.d.comb += [last_term.eq(term + 1 >= terms), coef_ready.eq((terms == 0) | w_done.bit_select(row, 1))]
        # --- stage B registers (the issued reads' metadata) ----------------------------------------
        b_valid, b_first, b_last, b_zero, b_src_valid = Signal(), Signal(), Signal(), Signal(), Signal()
        b_row, b_chunk = Signal.like(row), Signal.like(chunk)
        acc_shape = signed(fp.influence_acc_width(n))
        acc = [Signal(acc_shape, name=f"acc{i}") for i in range(L)]
        # --- stage C registers (a finished word waiting for Mbar and the write) -------------------
        c_valid = Signal()
        c_row, c_chunk = Signal.like(row), Signal.like(chunk)
        c_acc = [Signal(acc_shape, name=f"c_acc{i}") for i in range(L)]

        mbar = self.mbar.payload
        mbar_match = Signal()
        m.d.comb += mbar_match.eq(~mbar.end & (mbar.row == c_row) & (mbar.chunk == c_chunk))
        stall = Signal()  # stage C needs to know whether Mbar has a word for it
        m.d.comb += stall.eq(c_valid & ~self.mbar.valid)

        # Read port of the M_{t-1} bank: issue address while busy, readback address when idle.
        issue_src = Signal(bits_for(n))
        m.d.comb += issue_src.eq(Mux(selfs.bit_select(term, 1), row, srcs[term]))
        issue_addr = Signal.like(self.rb_addr)
        m.d.comb += issue_addr.eq(Mux(busy, issue_src * C + chunk, self.rb_addr))
        # Each bank is single-ported (one address, read or written in a step, never both), so it maps
        # to single-port RAM where the part has it (the iCE40 UP5K's SPRAM) as well as to block RAM.
        write_addr = Signal.like(self.rb_addr)
        # The bank being written is not read (single-port RAM such as SPRAM keeps its output then).
        for i, writing in enumerate((bank, ~bank)):  # bank 0 receives M_t while bank = 1, and vice versa
            address = Mux(writing, write_addr, issue_addr)
            m.d.comb += [banks[i].read_addr.eq(address), banks[i].write_addr.eq(address)]
            m.d.comb += banks[i].read_en.eq(~stall & ~writing)
        watch = self.watch
        m.d.comb += [
            watch.read.eq(busy & ~stall),
            watch.read_addr.eq(issue_src * C + chunk),
            watch.coef_read.eq(busy & ~stall),
            watch.coef_read_row.eq(row),
            watch.coef_read_term.eq(term),
            watch.coef_write.eq(coef_wr.en),
            watch.coef_write_row.eq(w_row),
            watch.coef_write_term.eq(w_term),
        ]
        m_word = Signal(self.word)  # M_{t-1} as read: the issued word while busy, readback when idle
        m.d.comb += m_word.eq(Mux(bank, banks[1].read_data, banks[0].read_data))
        m.d.comb += [
            self.rb_data.eq(m_word),
            self.row_valid.eq(valid[bank]),
            self.busy.eq(busy),
            coef_rd.addr.eq(Cat(term[: p.term_bits], row)),
            coef_rd.en.eq(~stall),
        ]

        # --- stage B: multiply-accumulate, hand the finished word to stage C ----------------------
        with m.If(~stall):
            m.d.sync += c_valid.eq(b_valid & b_last)
            with m.If(b_valid):
                for i in range(L):
                    operand = Mux(b_src_valid & ~b_zero, m_word[i], 0)
                    total = Mux(b_first, 0, acc[i]) + coef_rd.data * operand
                    m.d.sync += acc[i].eq(total)
                    with m.If(b_last):
                        m.d.sync += c_acc[i].eq(total)
                with m.If(b_last):
                    m.d.sync += [c_row.eq(b_row), c_chunk.eq(b_chunk)]

        # --- stage C: add Mbar, round and saturate once, write M_t --------------------------------
        written_at = c_row * C + c_chunk
        m.d.comb += [write_addr.eq(written_at), watch.write_addr.eq(written_at)]
        out = self.written
        m.d.comb += [out.row.eq(c_row), out.chunk.eq(c_chunk), out.valid.eq(c_valid & self.mbar.valid)]
        for lane in range(L):
            mbar_term = Mux(mbar_match, mbar.values[lane], 0)
            total = c_acc[lane] + (mbar_term << fp.coef.frac)
            m.d.comb += out.values[lane].eq(round_saturate(total, fp.coef.frac, fp.influence))
            for i in range(2):
                m.d.comb += banks[i].write_data[lane].eq(out.values[lane])
        with m.If(c_valid & self.mbar.valid):
            m.d.comb += [self.mbar.ready.eq(mbar_match), banks[0].write_en.eq(bank), banks[1].write_en.eq(~bank)]
            m.d.comb += watch.write.eq(1)
            m.d.sync += valid[~bank].eq(valid[~bank] | (1 << c_row))

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.step.ready.eq(1)
                with m.If(self.step.valid):
                    hdr = self.step.payload
                    m.d.sync += [
                        pending.eq(hdr.rows),
                        terms.eq(hdr.terms),
                        term.eq(0),
                        stalls.eq(0),
                        valid[~bank].eq(0),
                        selfs.eq(0),
                        w_active.eq((hdr.terms != 0) & (hdr.rows != 0)),
                        w_first_row.eq(1),
                        w_term.eq(0),
                        w_row.eq(lowest_set(m, hdr.rows, n)),
                        w_pending.eq(hdr.rows & (hdr.rows - 1)),
                        w_done.eq(0),
                    ]
                    with m.If(hdr.first):
                        m.d.sync += valid[bank].eq(0)
                    m.next = "START"
            with m.State("START"):  # pick the first row (one cycle)
                m.d.comb += busy.eq(1)
                m.d.sync += [row.eq(lowest_set(m, pending, n)), pending.eq(pending & (pending - 1)), chunk.eq(0)]
                with m.If(pending == 0):
                    m.next = "FLUSH"
                with m.Else():
                    m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += busy.eq(1)
                with m.If(stall):
                    m.d.sync += stalls.eq(stalls + 1)
                with m.Else():
                    m.d.sync += b_valid.eq(coef_ready)
                    with m.If(~coef_ready & ~self.setup.valid):
                        m.d.sync += stalls.eq(stalls + 1)
                with m.If(~stall & coef_ready):
                    m.d.sync += [
                        b_first.eq(term == 0),
                        b_last.eq(last_term),
                        b_zero.eq(terms == 0),
                        b_row.eq(row),
                        b_chunk.eq(chunk),
                        b_src_valid.eq(valid[bank].bit_select(issue_src, 1)),
                    ]
                    with m.If(~last_term):
                        m.d.sync += term.eq(term + 1)
                    with m.Else():
                        m.d.sync += term.eq(0)
                        with m.If(chunk != C - 1):
                            m.d.sync += chunk.eq(chunk + 1)
                        with m.Else():
                            m.d.sync += [
                                chunk.eq(0),
                                row.eq(lowest_set(m, pending, n)),
                                pending.eq(pending & (pending - 1)),
                            ]
                            with m.If(pending == 0):
                                m.next = "FLUSH"
            with m.State("FLUSH"):  # drain stages B and C, then take Mbar's end-of-step word
                m.d.comb += busy.eq(1)
                with m.If(~stall):
                    m.d.sync += b_valid.eq(0)
                with m.If(stall):
                    m.d.sync += stalls.eq(stalls + 1)
                with m.Elif(~b_valid & ~c_valid):
                    with m.If(self.mbar.valid & mbar.end):
                        m.d.comb += self.mbar.ready.eq(1)
                        m.d.sync += bank.eq(~bank)
                        m.next = "DONE"
                    with m.Else():
                        m.d.sync += stalls.eq(stalls + 1)
            with m.State("DONE"):  # stalls holds while done waits: a stream's payload may not change
                m.d.comb += [self.done.valid.eq(1), self.done.payload.stalls.eq(stalls)]
                with m.If(self.done.ready):
                    m.next = "IDLE"
        return m


def lowest_set(m: Module, value, width: int) -> Signal:
    """Index of the lowest set bit of value (0 when none): a priority encoder."""
    index = Signal(bits_for(width))
    for k in reversed(range(width)):
        with m.If(value[k]):
            m.d.comb += index.eq(k)
    return index
