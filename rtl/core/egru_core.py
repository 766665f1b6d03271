"""EGRUCore: an EGRU that trains itself online with exact sparse RTRL, bit-exact against the integer
training step (golden.fixed_step.IntegerLearner, DESIGN.md contract 6; "The online-learning core").

    x_t --> InputUnit (W x + b) ---------------------------------> EventAccumulator --> CellUnit
    y_{t-1} --> EventRouter (events) ----------------------------------^                 |  records
                                                           (y_t back to the router) <-----+
    records --> LinearizeUnit --> step, setup, mbar --> InfluenceUpdate (M in two banks)
    records (c_T) --> ReadoutUnit --> pred;  credit --> GradientUnit <-- M_t's rows as written
    end of an update period: UpdateUnit (GradientUnit's and ReadoutUnit's sums, master and
    momentum words) --> the new forward words into every unit's memories

Weights, M, the gradient sums and the tables are on chip. The master words, the accumulator's
column table (laid out by mask) and the compacted columns are loaded through `load`; `init` then
writes every unit's forward words from the master words.

Interfaces:
    load    In: {target, body}: target 0 a master word (UpdateUnit's load), 1 an entry of the
            EventAccumulator's column table, 2 a word of the compacted columns (LinearizeUnit's)
    init    In: (no payload) write the forward words from the master words and zero the gradient
            sums (after loading, or to start afresh after a reset)
    seq     In: {target, learn} per sequence: the label, and whether to train on it or only predict
    x       In: the sequence's inputs x_1 .. x_T (fp.state), one per step
    pred    Out: {logit} per sequence (fp.pre), after its last step
    rb_addr / rb_data: the master and momentum word q (UpdateUnit's read port), while idle
    busy    Out: a sequence, an update or init is running
    unit_busy Out: each unit's busy flag {input, accumulate, cell, linearise, influence, readout,
            update}, for the share of cycles per unit

Schedule: one step at a time. A step takes x_t (and gives the readout its step header), runs the
forward pass (input part, events of y_{t-1}, the accumulator, the cell unit) and, when learning,
the linearisation and the influence update of M_t with the gradient accumulated from its writes;
the InfluenceUpdate takes the step only after the GradientUnit holds the step's credit. The step
ends with the InfluenceUpdate's done (learning) or the cell unit's y (predicting); at the end of an
update period (CoreParams.updates_after) the UpdateUnit runs, then the sums are cleared.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from rtl.blocks.accumulate import EventAccumulator, accumulate_signature
from rtl.blocks.cell import CellUnit
from rtl.blocks.gradient import GradientUnit
from rtl.blocks.influence import InfluenceUpdate
from rtl.blocks.input_part import InputUnit, input_signature
from rtl.blocks.layouts import payload_shape
from rtl.blocks.linearise import LinearizeUnit, linearise_signature
from rtl.blocks.readout import ReadoutUnit, readout_signature
from rtl.blocks.router import EventRouter
from rtl.blocks.update import B_OUT, CODE, W_OUT, UpdateUnit, update_signature
from rtl.core.params import CoreParams
from rtl.core.transactions import LOAD_COLUMNS, LOAD_MASTER, LOAD_TABLE

UNITS = ("input", "accumulate", "cell", "linearise", "influence", "readout", "update")


def core_signature(p: CoreParams) -> wiring.Signature:
    """EGRUCore's ports (module docstring), from its blocks' signatures."""
    update = update_signature(p.update).members
    body = data.UnionLayout(
        {
            "master": update["load"].signature.members["payload"].shape,
            "table": payload_shape(accumulate_signature(p.accumulate), "load"),
            "columns": payload_shape(linearise_signature(p.linearise), "columns"),
        }
    )
    return wiring.Signature(
        {
            "load": In(stream.Signature(data.StructLayout({"target": unsigned(2), "body": body}))),
            "init": In(stream.Signature(unsigned(1))),
            "seq": In(stream.Signature(data.StructLayout({"target": 1, "learn": 1}))),
            "x": In(stream.Signature(payload_shape(input_signature(p.input), "x"))),
            "pred": Out(stream.Signature(payload_shape(readout_signature(p.readout), "pred"))),
            "rb_addr": In(update["rb_addr"].shape),
            "rb_data": Out(update["rb_data"].shape),
            "busy": Out(1),
            "unit_busy": Out(data.StructLayout({name: 1 for name in UNITS})),
        }
    )


class EGRUCore(wiring.Component):
    def __init__(self, params: CoreParams):
        self.p = params
        super().__init__(core_signature(params))

    def elaborate(self, platform):
        p = self.p
        m = Module()
        self.units = u = {
            "input": InputUnit(p.input),
            "router": EventRouter(p.router),
            "accumulate": EventAccumulator(p.accumulate),
            "cell": CellUnit(p.cell),
            "linearise": LinearizeUnit(p.linearise),
            "influence": InfluenceUpdate(p.influence),
            "gradient": GradientUnit(p.gradient),
            "readout": ReadoutUnit(p.readout),
            "update": UpdateUnit(p.update),
        }
        for name, unit in u.items():
            m.submodules[name] = unit
        inp, router, acc, cell, lin, infl, grad, ro, upd = (u[k] for k in u)

        # --- fixed connections ------------------------------------------------------------------
        wiring.connect(m, inp.init, acc.init)
        wiring.connect(m, router.events[0], acc.events)
        wiring.connect(m, acc.pre, cell.pre)
        wiring.connect(m, lin.setup, infl.setup)
        wiring.connect(m, lin.mbar, infl.mbar)
        m.d.comb += [
            grad.tap.eq(infl.written),
            grad.rb_addr.eq(upd.acc_addr),
            upd.acc_data.eq(grad.rb_data),
            ro.rb_addr.eq(upd.ro_addr),
            upd.ro_data.eq(ro.rb_data),
            upd.rb_addr.eq(self.rb_addr),
            self.rb_data.eq(upd.rb_data),
            self.pred.payload.eq(ro.pred.payload),
            self.pred.valid.eq(ro.pred.valid),
            ro.pred.ready.eq(self.pred.ready),
            infl.done.ready.eq(1),
        ]
        for name in UNITS:
            m.d.comb += self.unit_busy[name].eq(u[name].busy)

        # --- sequence state -----------------------------------------------------------------------
        t = Signal(range(p.steps + 1))
        sample = Signal(range(p.batch + 1))
        learn, target = Signal(), Signal()
        last = Signal()
        m.d.comb += last.eq(t == p.steps - 1)
        zeros_due = Signal()  # y_0 = 0 still to be given to the router
        credit_given = Signal()  # the GradientUnit holds this step's credit

        # y: zeros at the first step, then the cell unit's y of the previous step; y_T is dropped
        m.d.comb += [
            router.y.valid.eq(zeros_due | (cell.y.valid & ~last)),
            router.y.payload.eq(Mux(zeros_due, 0, cell.y.payload)),
            cell.y.ready.eq(~zeros_due & (router.y.ready | last)),
        ]
        with m.If(zeros_due & router.y.ready):
            m.d.sync += zeros_due.eq(0)

        # records: to the LinearizeUnit when learning, c to the ReadoutUnit at the last step
        to_lin, to_ro = learn, last
        m.d.comb += [
            lin.record.payload.eq(cell.record.payload),
            ro.c.payload.c.eq(cell.record.payload.c),
            lin.record.valid.eq(cell.record.valid & to_lin & (ro.c.ready | ~to_ro)),
            ro.c.valid.eq(cell.record.valid & to_ro & (lin.record.ready | ~to_lin)),
            cell.record.ready.eq((lin.record.ready | ~to_lin) & (ro.c.ready | ~to_ro)),
        ]

        # credit before the step header: the GradientUnit's credit is replaced only between steps
        m.d.comb += [
            grad.credit.payload.eq(ro.credit.payload),
            grad.credit.valid.eq(ro.credit.valid & ~credit_given),
            ro.credit.ready.eq(grad.credit.ready & ~credit_given),
            infl.step.payload.eq(lin.step.payload),
            infl.step.valid.eq(lin.step.valid & credit_given),
            lin.step.ready.eq(infl.step.ready & credit_given),
        ]
        with m.If(grad.credit.valid & grad.credit.ready):
            m.d.sync += credit_given.eq(1)
        with m.If(infl.step.valid & infl.step.ready):
            m.d.sync += credit_given.eq(0)

        self.route_words(m)
        self.route_load(m)  # after route_words: a load overrides the words' drive of the accumulator's port

        # --- the sequencer ------------------------------------------------------------------------
        x_taken, header_taken, y_taken, done_seen = Signal(), Signal(), Signal(), Signal()
        m.d.comb += [
            inp.x.payload.eq(self.x.payload),
            lin.x.payload.eq(self.x.payload),
            ro.step.payload.last.eq(last),
            ro.step.payload.learn.eq(learn),
            ro.step.payload.target.eq(target),
            upd.start.payload.update.eq(1),
        ]
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += [self.load.ready.eq(self.load_ready), self.init.ready.eq(upd.start.ready)]
                with m.If(self.init.valid & ~self.load.valid):
                    m.d.comb += [upd.start.valid.eq(1), upd.start.payload.update.eq(0)]
                    with m.If(upd.start.ready):  # a fresh start: the gradient sums are zeroed too
                        m.d.comb += [grad.clear.eq(1), ro.clear.eq(1)]
                        m.next = "INIT"
                with m.Elif(self.seq.valid & ~self.load.valid):
                    m.d.comb += [self.seq.ready.eq(1), cell.clear.eq(1), lin.clear.eq(1)]
                    m.d.sync += [learn.eq(self.seq.payload.learn), target.eq(self.seq.payload.target), t.eq(0)]
                    m.d.sync += zeros_due.eq(1)
                    m.next = "STEP"
            with m.State("INIT"):  # the UpdateUnit took start in IDLE (it was idle)
                m.d.comb += self.busy.eq(1)
                with m.If(~upd.busy & ~grad.busy):
                    m.d.sync += sample.eq(0)
                    m.next = "IDLE"
            with m.State("STEP"):  # x to the input unit (and the linearisation), the readout's header
                m.d.comb += self.busy.eq(1)
                lin_x_ready = lin.x.ready | ~learn
                m.d.comb += [
                    inp.x.valid.eq(self.x.valid & ~x_taken & lin_x_ready),
                    lin.x.valid.eq(self.x.valid & ~x_taken & learn & inp.x.ready),
                    self.x.ready.eq(~x_taken & inp.x.ready & lin_x_ready),
                    ro.step.valid.eq(~header_taken),
                ]
                with m.If(self.x.valid & self.x.ready):
                    m.d.sync += x_taken.eq(1)
                with m.If(ro.step.ready):
                    m.d.sync += header_taken.eq(1)
                with m.If(cell.y.valid & cell.y.ready):
                    m.d.sync += y_taken.eq(1)
                with m.If(infl.done.valid):
                    m.d.sync += done_seen.eq(1)
                finished = y_taken & x_taken & header_taken & ~ro.busy & (done_seen | ~learn)
                with m.If(finished):
                    m.d.sync += [x_taken.eq(0), header_taken.eq(0), y_taken.eq(0), done_seen.eq(0), t.eq(t + 1)]
                    update_now = learn & Mux(last, sample == p.batch - 1, self.mid_sequence_update(t))
                    with m.If(update_now):
                        m.d.comb += upd.start.valid.eq(1)
                        m.next = "UPDATE"
                    with m.Elif(last):
                        m.d.sync += sample.eq(Mux(learn, sample + 1, sample))  # not the batch's last: no update
                        m.next = "IDLE"
            with m.State("UPDATE"):  # the UpdateUnit took start as the step finished
                m.d.comb += self.busy.eq(1)
                with m.If(~upd.busy):
                    m.d.comb += [grad.clear.eq(1), ro.clear.eq(1)]
                    m.next = "CLEAR"
            with m.State("CLEAR"):
                m.d.comb += self.busy.eq(1)
                with m.If(~grad.busy):
                    with m.If(t == p.steps):
                        m.d.sync += sample.eq(0)
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "STEP"
        return m

    @property
    def load_ready(self):
        u = self.units
        target = self.load.payload.target
        return Mux(
            target == LOAD_MASTER,
            u["update"].load.ready,
            Mux(target == LOAD_TABLE, u["accumulate"].load.ready, u["linearise"].columns.ready),
        )

    def mid_sequence_update(self, t):
        """An update after step t inside a sequence (batch 1, every update_every steps)."""
        k = self.p.update_every
        if not k:
            return 0
        return ((t + 1) % k) == 0

    def route_load(self, m: Module) -> None:
        """The load stream to the UpdateUnit's, the EventAccumulator's or the LinearizeUnit's port."""
        u = self.units
        ld = self.load.payload
        fire = self.load.valid & self.load.ready
        m.d.comb += [
            u["update"].load.payload.eq(ld.body.master),
            u["linearise"].columns.payload.eq(ld.body.columns),
            u["update"].load.valid.eq(fire & (ld.target == LOAD_MASTER)),
            u["linearise"].columns.valid.eq(fire & (ld.target == LOAD_COLUMNS)),
        ]
        with m.If(self.load.valid & (ld.target == LOAD_TABLE)):  # otherwise the port takes update words
            m.d.comb += [u["accumulate"].load.payload.eq(ld.body.table), u["accumulate"].load.valid.eq(fire)]

    def route_words(self, m: Module) -> None:
        """The UpdateUnit's forward words to the memories that hold them (block codes of
        rtl.blocks.update): W and b to the InputUnit, V to the LinearizeUnit and the
        EventAccumulator, theta to the CellUnit and the LinearizeUnit, w_out and b_out to the
        ReadoutUnit. Every one of those ports is ready while the core updates."""
        u = self.units
        word = u["update"].word
        w = word.payload
        block = w.block
        is_W = block <= CODE["W_z"]
        is_V = (block >= CODE["V_u"]) & (block <= CODE["V_z"])
        is_b = (block >= CODE["b_u"]) & (block <= CODE["b_z"])
        is_theta = block == CODE["theta"]
        is_out = (block == W_OUT) | (block == B_OUT)
        gate = Mux(is_W, block, Mux(is_V, block - CODE["V_u"], block - CODE["b_u"]))[:2]
        inp, acc, cell, lin, ro = u["input"], u["accumulate"], u["cell"], u["linearise"], u["readout"]
        entry = acc.load.payload.word[0]
        m.d.comb += [
            inp.load.payload.bias.eq(is_b),
            inp.load.payload.gate.eq(gate),
            inp.load.payload.row.eq(w.m),
            inp.load.payload.col.eq(w.j),
            inp.load.payload.value.eq(w.value),
            lin.weight.payload.gate.eq(gate),
            lin.weight.payload.row.eq(w.m),
            lin.weight.payload.col.eq(w.j),
            lin.weight.payload.value.eq(w.value),
            acc.load.payload.columns.eq(0),
            acc.load.payload.addr.eq(w.addr),
            entry.slot.eq(w.m),
            entry.gate.eq(gate),
            entry.weight.eq(w.value),
            entry.valid.eq(1),
            cell.load.payload.index.eq(w.m),
            cell.load.payload.theta.eq(w.value),
            lin.theta.payload.index.eq(w.m),
            lin.theta.payload.theta.eq(w.value),
            ro.load.payload.index.eq(w.m),
            ro.load.payload.value.eq(w.value),
        ]
        ready = Mux(is_V, acc.load.ready & lin.weight.ready, 1)
        fire = word.valid & ready
        m.d.comb += [
            word.ready.eq(ready),
            inp.load.valid.eq(fire & (is_W | is_b)),
            lin.weight.valid.eq(fire & is_V),
            acc.load.valid.eq(fire & is_V),
            cell.load.valid.eq(fire & is_theta),
            lin.theta.valid.eq(fire & is_theta),
            ro.load.valid.eq(fire & is_out),
        ]
