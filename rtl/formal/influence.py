"""InfluenceUpdate's properties: a harness around the block whose inputs are left to the solver.

Environment: every input is arbitrary every cycle (AnySeq) but keeps the stream rule
(rtl.formal.streams) and the block's input contract: a step header has at most max_terms terms and
a setup element's source is a unit (src < n); `rows`, the coefficients, Mbar's words and the
readback address are arbitrary.

    one_done   every accepted step header is answered by exactly one done: no done without a step
               waiting for it, and no step header accepted while the step before has not been done;
               a step waits exactly while the block is busy with it or offers its done
    in_range   the block never addresses outside its memories: every read of M's banks while busy
               and every write has an address below n * chunks (src * chunks + chunk, checked before
               it meets the memory's address width, where it would wrap), every read and write of the
               coefficient memory a row below n and a term below max_terms, and every written word
               a row below n and a chunk below chunks

(The stream rule on `done` is rtl.formal.handshake's "handshake".) The watched addresses are the
block's `watch`, not ports.

Broken variants (FAULTS), each a fault between the environment and the block:
    double_done  a done shown to the environment a second time
    lost_done    a done taken from the block but never shown
    bad_source   a setup element's source replaced by the largest its field holds (>= n when n is
                 not a power of two)
"""

from __future__ import annotations

from amaranth import Module, Signal, Value
from amaranth.asserts import AnySeq  # amaranth.hdl does not export it in 0.5
from amaranth.hdl import Assert, Assume

from rtl.blocks.influence import InfluenceUpdate
from rtl.blocks.params import InfluenceParams
from rtl.formal.harness import PropertyHarness
from rtl.formal.streams import arbitrary_stream

PROPERTIES = ("one_done", "in_range")

FAULTS = {"double_done": "one_done", "lost_done": "one_done", "bad_source": "in_range"}


class InfluenceProof(PropertyHarness):
    """The harness for one property (PROPERTIES), optionally with one fault (FAULTS)."""

    PROPERTIES, FAULTS = PROPERTIES, FAULTS

    @classmethod
    def not_applicable(cls, params: InfluenceParams) -> dict[str, str]:
        """bad_source needs a source field that can name a unit that is not there."""
        if params.n & (params.n - 1):
            return {}
        return {"bad_source": f"at n = {params.n} a source field holds units only"}

    def elaborate(self, platform):
        p, n = self.p, self.p.n
        m = self.module()
        m.submodules.dut = dut = InfluenceUpdate(p)
        choose = Signal(name="fault_choice")
        m.d.comb += [choose.eq(AnySeq(1)), dut.rb_addr.eq(AnySeq(len(dut.rb_addr)))]

        step_valid, step, step_ready = arbitrary_stream(m, dut.step, "step")
        with m.If(step_valid):
            m.d.comb += Assume(step.terms <= p.max_terms)
        m.d.comb += [dut.step.valid.eq(step_valid), dut.step.payload.eq(step), step_ready.eq(dut.step.ready)]
        setup_valid, setup, setup_ready = arbitrary_stream(m, dut.setup, "setup")
        with m.If(setup_valid):
            m.d.comb += Assume(setup.src < n)
        m.d.comb += [dut.setup.valid.eq(setup_valid), dut.setup.payload.eq(setup), setup_ready.eq(dut.setup.ready)]
        if self.fault == "bad_source":
            with m.If(choose):
                m.d.comb += dut.setup.payload.src.eq(-1)
        mbar_valid, mbar, mbar_ready = arbitrary_stream(m, dut.mbar, "mbar")
        m.d.comb += [dut.mbar.valid.eq(mbar_valid), dut.mbar.payload.eq(mbar), mbar_ready.eq(dut.mbar.ready)]
        done_valid, done_ready = self._done(m, dut, choose)

        if self.prop == "one_done":
            waiting = Signal()  # a step accepted and not yet done
            with m.If(step_valid & step_ready):
                m.d.comb += Assert(~waiting)
                m.d.sync += waiting.eq(1)
            with m.If(done_valid & done_ready):
                m.d.comb += Assert(waiting)
                m.d.sync += waiting.eq(0)
            # and a step is waiting exactly while the block works on it or offers its done (what
            # lets k-induction close: without it, it starts from states no run reaches)
            m.d.comb += Assert(waiting == (dut.busy | dut.done.valid))

        if self.prop == "in_range":
            w, out = dut.watch, dut.written
            m.d.comb += [
                Assert(~w.read | (w.read_addr < p.depth)),
                Assert(~w.write | (w.write_addr < p.depth)),
                Assert(~w.coef_read | ((w.coef_read_row < n) & (w.coef_read_term < p.max_terms))),
                Assert(~w.coef_write | ((w.coef_write_row < n) & (w.coef_write_term < p.max_terms))),
                Assert(~out.valid | ((out.row < n) & (out.chunk < p.chunks))),
            ]
        return m

    def _done(self, m: Module, dut: InfluenceUpdate, choose: Value) -> tuple[Value, Value]:
        """(valid, ready) of done as the environment sees it: the block's, or through double_done /
        lost_done. ready is the solver's."""
        port = dut.done
        valid, ready = Signal(name="env_done_valid"), Signal(name="env_done_ready")
        m.d.comb += [ready.eq(AnySeq(1)), valid.eq(port.valid), port.ready.eq(ready)]
        if self.fault == "lost_done":
            hide = choose & port.valid
            m.d.comb += [valid.eq(port.valid & ~hide), port.ready.eq(ready | hide)]
        if self.fault == "double_done":
            again = Signal(name="repeating")
            with m.If(again):
                m.d.comb += [valid.eq(1), port.ready.eq(0)]
                with m.If(ready):
                    m.d.sync += again.eq(0)
            with m.Elif(port.valid & ready & choose):
                m.d.sync += again.eq(1)
        return valid, ready
