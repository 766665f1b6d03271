"""Data layouts shared by the blocks (lib.data)."""

from __future__ import annotations

from amaranth import signed, unsigned
from amaranth.lib import data, stream, wiring

from golden.fixedpoint import FixedPointConfig, bits_for


def event_layout(n: int, fp: FixedPointConfig) -> data.StructLayout:
    """One event: unit index, its output value (fp.state), and end = 1 for the end-of-step marker
    (index and value are then 0)."""
    return data.StructLayout({"index": unsigned(bits_for(n)), "value": signed(fp.state.width), "end": 1})


def payload_shape(signature, port: str):
    """The payload layout of a stream port of a block's signature (for an array of streams, such as
    the router's lanes, that of each element)."""
    return signature.members[port].signature.members["payload"].shape


def stream_ports(block: wiring.Component) -> list[tuple[str, wiring.Member, stream.Interface]]:
    """(Verilog name, member, interface) of every stream port of a block, arrays of streams element
    by element: `pre`, `events__0` (Amaranth joins a port's path with '__')."""
    found = []
    for name, member in block.signature.members.items():
        if not (member.is_signature and isinstance(member.signature, stream.Signature)):
            continue
        interface = getattr(block, name)
        if member.dimensions:
            found += [(f"{name}__{i}", member, element) for i, element in enumerate(interface)]
        else:
            found.append((name, member, interface))
    return found
