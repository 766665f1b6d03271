"""The valid/ready rule of lib.stream, as a property of one stream.

    rule:  valid_{t-1} and not ready_{t-1}  =>  valid_t and payload_t = payload_{t-1}

(once a source raises valid, it holds valid and the payload until the sink takes them). A harness
assumes it of the streams its block reads (the environment keeps it) and asserts it of the streams
the block drives.
"""

from __future__ import annotations

from amaranth import Module, Signal, Value
from amaranth.asserts import AnySeq  # amaranth.hdl does not export it in 0.5
from amaranth.hdl import Assert, Assume


def held_until_ready(m: Module, valid: Value, ready: Value, payload: Value, name: str) -> Value:
    """The rule's truth value this cycle (1 in the first cycle, which has no past)."""
    payload = Value.cast(payload)
    started = Signal(name=f"{name}_started")
    waiting = Signal(name=f"{name}_waiting")  # valid and not ready in the cycle before
    before = Signal(payload.shape(), name=f"{name}_before")
    m.d.sync += [started.eq(1), waiting.eq(valid & ~ready), before.eq(payload)]
    return ~(started & waiting) | (valid & (payload == before))


def assume_stream(m: Module, stream, name: str) -> None:
    """The environment keeps the rule on a stream the block reads."""
    m.d.comb += Assume(held_until_ready(m, stream.valid, stream.ready, stream.payload, name))


def assert_stream(m: Module, valid: Value, ready: Value, payload: Value, name: str) -> None:
    """The block keeps the rule on a stream it drives."""
    m.d.comb += Assert(held_until_ready(m, valid, ready, payload, name))


def arbitrary_stream(m: Module, port, name: str) -> tuple[Signal, Value, Signal]:
    """An environment's stream of `port`'s payload shape: valid and payload arbitrary every cycle
    (AnySeq) but keeping the rule. Returns (valid, payload, ready); the harness connects them to the
    block, straight or through a fault, and drives ready from the block's."""
    payload = Signal.like(port.payload, name=f"env_{name}")
    valid, ready = Signal(name=f"env_{name}_valid"), Signal(name=f"env_{name}_ready")
    m.d.comb += [valid.eq(AnySeq(1)), Value.cast(payload).eq(AnySeq(len(Value.cast(payload))))]
    m.d.comb += Assume(held_until_ready(m, valid, ready, payload, f"env_{name}"))
    return valid, payload, ready
