"""Data layouts shared by the blocks (lib.data)."""

from __future__ import annotations

from amaranth import signed, unsigned
from amaranth.lib import data

from golden.fixedpoint import FixedPointConfig, bits_for


def event_layout(n: int, fp: FixedPointConfig) -> data.StructLayout:
    """One event: unit index, its output value (fp.state), and end = 1 for the end-of-step marker
    (index and value are then 0)."""
    return data.StructLayout({"index": unsigned(bits_for(n)), "value": signed(fp.state.width), "end": 1})
