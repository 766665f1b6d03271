"""EventAccumulator: event-driven gate pre-activations of the EGRU (paper form, r * y inside V_z).

The recurrent matrices are stored column-compressed: column j of a pass is a run of weight words,
each of L entries {slot, gate, weight, valid}, holding only the unmasked weights, so masked weights
take no cycles and a silent unit's column is never read. The accumulators are banked by lane: lane i
owns rows k = i (mod L) (slot k // L), so each lane updates only its own registers and no two lanes
ever meet; a column costs as many words as its fullest lane has weights. The column table holds each column's
(start word, word count). Both are written through the `load` stream before use
(rtl.blocks.transactions.accumulate_load packs a network's masked weights).

Schedule of one step (golden.fixedpoint.accumulate_gates gives the arithmetic):
    init    take the input parts W_g x + b_g (fp.pre) into the accumulators, scaled to their frac,
            plus half an output LSB (so the final round half up is a shift)
    pass 1  for each event (j, y_j) of the `events` stream, in arrival order: read column j of
            [V_u; V_r], one word per cycle; lane i adds weight * y_j to acc_u / acc_r [slot L + i];
            the events are kept in a buffer; the stream's end-of-step marker ends the pass
    pass 2  for each buffered event: r_j = sigmoid table[round(acc_r[j])], ry_j = round(r_j y_j),
            then column j of V_z, one word per cycle, adding weight * ry_j to acc_z
    out     the pre-activations, rounded and saturated once (fp.pre), on the `pre` stream
Each event costs 1 cycle plus max(words, 1) per pass (rtl.blocks.cycles.accumulate_cycles).
"""

from __future__ import annotations

from amaranth import Array, Module, Signal, Value, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.fixedpoint import bits_for, sigmoid_table
from rtl.blocks.arith import round_saturate, saturate
from rtl.blocks.layouts import event_layout
from rtl.blocks.params import AccumulateParams

GATE_CODES = {"u": 0, "r": 1, "z": 2}


def weight_entry_layout(p: AccumulateParams) -> data.StructLayout:
    return data.StructLayout(
        {"slot": unsigned(p.slot_bits), "gate": unsigned(2), "weight": signed(p.fp.weight.width), "valid": 1}
    )


def column_layout(p: AccumulateParams) -> data.StructLayout:
    return data.StructLayout(
        {"start": unsigned(bits_for(p.weight_depth + 1)), "count": unsigned(bits_for(p.words_pass1 + 1))}
    )


def watch_layout(p: AccumulateParams) -> data.StructLayout:
    """Internal signals a formal harness watches (rtl.formal.accumulate); not ports, so synthesis
    drops them: the column table's read address, the START state (a column entry arrives, read at
    the address of the cycle before), and each word read issued with its address."""
    return data.StructLayout(
        {
            "column_addr": unsigned(bits_for(2 * p.n)),
            "start": 1,
            "column": column_layout(p),
            "issue": 1,
            "word_addr": unsigned(bits_for(p.weight_depth + 1)),
        }
    )


def accumulate_signature(p: AccumulateParams) -> wiring.Signature:
    """EventAccumulator's ports (also what the self-test packs its ROM words for)."""
    gates = data.StructLayout({g: data.ArrayLayout(signed(p.fp.pre.width), p.n) for g in "urz"})
    load = data.StructLayout(
        {
            "columns": 1,  # 0: word memory, 1: column table (address pass * n + j)
            "addr": unsigned(bits_for(max(p.weight_depth, 2 * p.n))),
            "word": data.ArrayLayout(weight_entry_layout(p), p.lanes),
            "column": column_layout(p),
        }
    )
    return wiring.Signature(
        {
            "load": In(stream.Signature(load)),
            "init": In(stream.Signature(gates)),
            "events": In(stream.Signature(event_layout(p.n, p.fp))),
            "pre": Out(stream.Signature(gates)),
            "busy": Out(1),
        }
    )


class EventAccumulator(wiring.Component):
    def __init__(self, params: AccumulateParams):
        self.p = params
        self.word = data.ArrayLayout(weight_entry_layout(params), params.lanes)
        self.column = column_layout(params)
        self.watch = Signal(watch_layout(params))
        super().__init__(accumulate_signature(params))

    def column_words(self, entry: data.View) -> tuple[Value, Value]:
        """(first word, words) of a column as its table entry gives them (rtl.formal.accumulate's
        broken variant short_column overrides this to read one word fewer)."""
        return entry.start, entry.count

    def elaborate(self, platform):
        p, fp = self.p, self.p.fp
        n, L = p.n, p.lanes
        m = Module()
        words = m.submodules.words = memory.Memory(shape=self.word, depth=p.weight_depth, init=[])
        columns = m.submodules.columns = memory.Memory(shape=self.column, depth=2 * n, init=[])
        table = m.submodules.sigmoid = memory.Memory(
            shape=signed(fp.gate.width), depth=1 << fp.lut_bits, init=[int(v) for v in sigmoid_table(fp)]
        )
        word_rd, word_wr = words.read_port(), words.write_port()
        col_rd, col_wr = columns.read_port(), columns.write_port()
        table_rd = table.read_port()

        shift = fp.weight.frac + fp.state.frac - fp.pre.frac
        acc_shape = signed(fp.forward_acc_width(n))
        # acc[g][k] for row k; lane i reaches its rows through bank[g][i][slot] (k = slot L + i)
        acc = {g: [Signal(acc_shape, name=f"acc_{g}{k}") for k in range(n)] for g in "urz"}
        bank = {g: [Array(acc[g][lane::L]) for lane in range(L)] for g in "urz"}
        buf_index = Array([Signal(p.index_bits, name=f"ev_index{i}") for i in range(n)])
        buf_value = Array([Signal(signed(fp.state.width), name=f"ev_value{i}") for i in range(n)])
        n_events = Signal(bits_for(n + 1))
        cursor = Signal(bits_for(n + 1))  # pass 2: next buffered event
        second = Signal()  # in pass 2
        operand = Signal(signed(fp.state.width))  # y_j (pass 1) or r_j y_j (pass 2)
        next_word, words_left = Signal.like(col_rd.data.start), Signal.like(col_rd.data.count)
        mac = Signal()  # a word read was issued last cycle: its data is on word_rd.data now
        issue = Signal()

        m.d.comb += [word_rd.addr.eq(next_word), word_rd.en.eq(1), col_rd.en.eq(1), table_rd.en.eq(1)]
        m.d.sync += mac.eq(issue)
        m.d.comb += [
            self.watch.column_addr.eq(col_rd.addr),
            self.watch.column.eq(col_rd.data),
            self.watch.issue.eq(issue),
            self.watch.word_addr.eq(word_rd.addr),
        ]

        # Multiply-accumulate: lane i adds weight * operand to its own bank's register of the slot.
        with m.If(mac):
            for lane in range(L):
                entry = word_rd.data[lane]
                product = Signal(signed(fp.weight.width + fp.state.width), name=f"product{lane}")
                m.d.comb += product.eq(entry.weight * operand)
                with m.If(entry.valid):
                    for g, code in GATE_CODES.items():
                        with m.If(entry.gate == code):
                            target = bank[g][lane][entry.slot]
                            m.d.sync += target.eq(target + product)

        # The accumulators start at input << shift plus half an output LSB, so rounding half up is
        # a plain shift here (floor((x + 2^(s-1)) / 2^s) either way) and costs no adder per unit.
        half = (1 << (shift - 1)) if shift else 0
        for g in "urz":
            for k in range(n):
                m.d.comb += self.pre.payload[g][k].eq(saturate(acc[g][k] >> shift, fp.pre))

        # The loader writes either memory while the block is idle.
        ld = self.load.payload
        m.d.comb += [
            word_wr.addr.eq(ld.addr),
            word_wr.data.eq(ld.word),
            col_wr.addr.eq(ld.addr),
            col_wr.data.eq(ld.column),
        ]

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += [self.init.ready.eq(1), self.load.ready.eq(~self.init.valid)]
                with m.If(self.load.valid & ~self.init.valid):
                    m.d.comb += [word_wr.en.eq(~ld.columns), col_wr.en.eq(ld.columns)]
                with m.If(self.init.valid):
                    for g in "urz":
                        for k in range(n):
                            m.d.sync += acc[g][k].eq((self.init.payload[g][k] << shift) + half)
                    m.d.sync += [n_events.eq(0), cursor.eq(0), second.eq(0)]
                    m.next = "EVENT"
            with m.State("EVENT"):
                m.d.comb += self.busy.eq(1)
                with m.If(~second):  # pass 1: take the next event from the stream
                    ev = self.events.payload
                    m.d.comb += [self.events.ready.eq(1), col_rd.addr.eq(ev.index)]
                    with m.If(self.events.valid):
                        with m.If(ev.end):
                            m.d.sync += second.eq(1)
                            with m.If(n_events == 0):
                                m.next = "OUT"
                        with m.Else():
                            m.d.sync += [
                                buf_index[n_events].eq(ev.index),
                                buf_value[n_events].eq(ev.value),
                                n_events.eq(n_events + 1),
                                operand.eq(ev.value),
                            ]
                            m.next = "START"
                with m.Else():  # pass 2: the next buffered event, its r from the sigmoid table
                    j = buf_index[cursor]
                    pre_r = saturate(Array(acc["r"])[j] >> shift, fp.pre)
                    m.d.comb += [col_rd.addr.eq(n + j), table_rd.addr.eq(pre_r[fp.pre.width - fp.lut_bits :])]
                    with m.If(cursor == n_events):
                        m.next = "OUT"
                    with m.Else():
                        m.next = "START"
            with m.State("START"):  # column entry (and r_j) arrive; issue the first word
                m.d.comb += [self.busy.eq(1), self.watch.start.eq(1)]
                with m.If(second):
                    ry = round_saturate(table_rd.data * buf_value[cursor], fp.gate.frac, fp.state)
                    m.d.sync += [operand.eq(ry), cursor.eq(cursor + 1)]
                start, count = self.column_words(col_rd.data)
                m.d.comb += [word_rd.addr.eq(start), issue.eq(count != 0)]
                m.d.sync += [next_word.eq(start + 1), words_left.eq(count - 1)]
                with m.If(count > 1):
                    m.next = "WORDS"
                with m.Else():
                    m.next = "EVENT"
            with m.State("WORDS"):
                m.d.comb += [self.busy.eq(1), issue.eq(1)]
                m.d.sync += [next_word.eq(next_word + 1), words_left.eq(words_left - 1)]
                with m.If(words_left == 1):
                    m.next = "EVENT"
            with m.State("OUT"):
                m.d.comb += [self.busy.eq(1), self.pre.valid.eq(1)]
                with m.If(self.pre.ready):
                    m.next = "IDLE"
        return m
