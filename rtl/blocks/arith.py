"""Fixed-point arithmetic shared by the blocks, the same operations as golden.fixedpoint:
round(q, s) = floor((q + 2^(s-1)) / 2^s) and saturate to a format's range."""

from __future__ import annotations

from amaranth import Cat, Mux, Value

from golden.fixedpoint import Fmt


def saturate(value: Value, fmt: Fmt) -> Value:
    """min(max(value, fmt.min), fmt.max) as a signed(fmt.width) value. The value fits when every bit
    from fmt's sign bit up equals value's sign bit, so no comparator (carry chain) is needed."""
    value = Value.cast(value)
    if len(value) <= fmt.width:
        return value.as_signed()
    top = value[fmt.width - 1 :]
    fits = (top == 0) | (top == (1 << len(top)) - 1)
    limit = Mux(
        value[-1], Cat(Value.cast(0).replicate(fmt.width - 1), 1), Cat(Value.cast(1).replicate(fmt.width - 1), 0)
    )
    return Mux(fits, value[: fmt.width], limit).as_signed()


def round_saturate(value: Value, shift: int, fmt: Fmt) -> Value:
    """saturate(round(value, shift), fmt) as a signed(fmt.width) value."""
    rounded = value if shift == 0 else (value + (1 << (shift - 1))) >> shift
    return saturate(rounded, fmt)


def rescale(value: Value, frac: int, fmt: Fmt) -> Value:
    """A value at 2^-frac as a word of fmt, rounded half up and saturated once (fixedpoint.round_to)."""
    if frac >= fmt.frac:
        return round_saturate(value, frac - fmt.frac, fmt)
    return saturate(Value.cast(value) << (fmt.frac - frac), fmt)
