"""Data layouts shared by the blocks (lib.data)."""

from __future__ import annotations

from amaranth import signed, unsigned
from amaranth.lib import data

from golden.fixedpoint import FixedPointConfig, bits_for


def event_layout(n: int, fp: FixedPointConfig) -> data.StructLayout:
    """One event: unit index, its output value (fp.state), and end = 1 for the end-of-step marker
    (index and value are then 0)."""
    return data.StructLayout({"index": unsigned(bits_for(n)), "value": signed(fp.state.width), "end": 1})


def payload_shape(signature, port: str):
    """The payload layout of a stream port of a block's signature (for an array of streams, such as
    the router's lanes, that of each element)."""
    return signature.members[port].signature.members["payload"].shape
