"""The stream rule on every stream of any block (rtl.formal.streams), from its signature alone.

Environment: every input of the block is arbitrary every cycle (AnySeq): the valid and payload of
the streams it reads (which keep the rule: assumed), the ready of the streams it drives, and its
plain inputs; no reset after the first cycle. Property: every stream the block drives keeps the rule
(asserted), whatever the payloads it is fed. Broken variant ("drop_valid"): the first stream the block
drives, with valid falling for a cycle while a payload waits.
"""

from __future__ import annotations

from amaranth import Elaboratable, Signal, Value
from amaranth.asserts import AnySeq  # amaranth.hdl does not export it in 0.5
from amaranth.lib import wiring

from rtl.blocks.layouts import stream_ports
from rtl.formal.harness import PropertyHarness
from rtl.formal.streams import assert_stream, assume_stream


class StreamRules(Elaboratable):
    """The harness (module doc) around `block`, optionally with the drop_valid fault."""

    def __init__(self, block: wiring.Component, fault: str | None = None):
        if fault not in (None, "drop_valid"):
            raise ValueError(f"fault {fault!r}; expected drop_valid")
        self.block, self.fault = block, fault

    def elaborate(self, platform):
        m = PropertyHarness.module()
        m.submodules.dut = dut = self.block
        streams = stream_ports(dut)
        stream_names = {name for name, member in dut.signature.members.items() if member.is_signature}
        for name, member in dut.signature.members.items():  # plain inputs: arbitrary
            if name not in stream_names and member.flow == wiring.In:
                port = Value.cast(getattr(dut, name))
                m.d.comb += port.eq(AnySeq(len(port)))
        faulted = False
        for name, member, port in streams:
            payload = Value.cast(port.payload)
            if member.flow == wiring.In:  # the block reads it
                m.d.comb += [port.valid.eq(AnySeq(1)), payload.eq(AnySeq(len(payload)))]
                assume_stream(m, port, name)
                continue
            ready = Signal(name=f"{name}_sink_ready")
            m.d.comb += ready.eq(AnySeq(1))
            valid = port.valid
            if self.fault == "drop_valid" and not faulted:
                faulted, drop = True, Signal(name="fault_choice")
                valid = Signal(name=f"{name}_faulty_valid")
                m.d.comb += [drop.eq(AnySeq(1)), valid.eq(port.valid & ~drop), port.ready.eq(ready & ~drop)]
            else:
                m.d.comb += port.ready.eq(ready)
            assert_stream(m, valid, ready, payload, name)
        return m
