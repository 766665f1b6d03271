"""The features of the linear FPGA resource model that `python -m rtl sweep` fits and the cost model
evaluates (resource = sum_i c_i feature_i, per block, part and resource). Pure Python.

    every block      1, n, L, n L                                      (n units, L lanes)
    influence update + mux = 2 width (deep - 1): the read multiplexers after the two M banks, as
                       rtl.fpga.parts.bank_tiling builds them for the part (depth n ceil(P / L) words of
                       L influence values); zero where a bank is one row of primitives
"""

from __future__ import annotations

import math

from golden.fixedpoint import DEFAULT
from rtl.fpga.parts import Tiling, bank_tiling

BASE = ("1", "n", "L", "n*L")
FEATURES = {"router": BASE, "accumulate": BASE, "influence": (*BASE, "mux")}


def influence_banks(part: str, n: int, lanes: int, columns: int, value_bits: int) -> Tiling:
    """Each M bank of the influence update at a design point: n ceil(P / L) words of L values of
    value_bits, tiled for the part as the RTL builds it (rtl.fpga.parts.bank_tiling)."""
    return bank_tiling(part, n * math.ceil(columns / lanes), lanes * value_bits)


def features(
    block: str, part: str, n: int, lanes: int, columns: int = 0, value_bits: int = DEFAULT.influence.width
) -> list[float]:
    """The block's feature vector at one design point (columns: the influence update's P;
    value_bits: its influence word width)."""
    base = [1.0, float(n), float(lanes), float(n * lanes)]
    if block == "influence":
        return [*base, float(2 * influence_banks(part, n, lanes, columns, value_bits).mux_bits)]
    return base
