"""Fixed-point arithmetic shared by the blocks, the same operations as golden.fixedpoint:
round(q, s) = floor((q + 2^(s-1)) / 2^s) and saturate to a format's range."""

from __future__ import annotations

from amaranth import Mux, Value

from golden.fixedpoint import Fmt


def round_saturate(value: Value, shift: int, fmt: Fmt) -> Value:
    """saturate(round(value, shift), fmt) as a signed(fmt.width) value."""
    rounded = value if shift == 0 else (value + (1 << (shift - 1))) >> shift
    clipped = Mux(rounded > fmt.max, fmt.max, Mux(rounded < fmt.min, fmt.min, rounded))
    return clipped[: fmt.width].as_signed()
