"""What each FPGA part offers, as nextpnr counts it (ICESTORM_LC, _RAM, _SPRAM, _DSP; TRELLIS_COMB,
_FF, DP16KD, MULT18X18D), with the size of its RAM blocks. Pure Python: the synthesis flow, the
largest-n search and the cost model's FPGA terms all read these, and the tiling of a memory into
the part's RAM primitives (`ram_tiling`) that the influence update's M banks are built from."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

PARTS: dict[str, dict[str, int]] = {
    "ice40-up5k": {
        "luts": 5280,  # logic cells (Yosys's LUT count is a lower bound on them)
        "ffs": 5280,
        "bram": 30,
        "bram_bits": 4096,  # SB_RAM40_4K
        "bram_shapes": ((2048, 2), (1024, 4), (512, 8), (256, 16)),  # (depth, width) configurations
        "spram": 4,
        "spram_width": 16,  # SB_SPRAM256KA: 16K x 16
        "spram_depth": 16384,
        "dsp": 8,
    },
}
ECP5_BRAM = {  # DP16KD (and PDPW16KD for 512 x 36)
    "bram_bits": 18432,
    "bram_shapes": ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)),
    "spram": 0,
}
PARTS["ecp5-25k"] = {"luts": 24288, "ffs": 24288, "bram": 56, **ECP5_BRAM, "dsp": 28}
PARTS["ecp5-85k"] = {"luts": 83640, "ffs": 83640, "bram": 208, **ECP5_BRAM, "dsp": 156}


def spram_bits(part: str) -> int:
    """Bits of one SPRAM block of the part (0 where it has none)."""
    spec = PARTS[part]
    return spec["spram_width"] * spec["spram_depth"] if spec["spram"] else 0


@dataclass(frozen=True)
class Tiling:
    """A depth x width memory built from `deep` x `wide` RAM primitives of tile_depth x tile_width
    (tile_depth a power of two): word address a is in primitive row a // tile_depth at a % tile_depth,
    bits [c w, (c + 1) w) of the word in primitive column c. Reading takes a deep:1 multiplexer per
    bit after the primitives (`mux_bits` = width (deep - 1) two-input multiplexers)."""

    depth: int
    width: int
    tile_depth: int
    tile_width: int
    kind: str = "bram"  # or "spram"

    @property
    def deep(self) -> int:
        return math.ceil(self.depth / self.tile_depth)

    @property
    def wide(self) -> int:
        return math.ceil(self.width / self.tile_width)

    @property
    def primitives(self) -> int:
        return self.deep * self.wide

    @property
    def mux_bits(self) -> int:
        return self.width * (self.deep - 1)


def ram_tiling(part: str, depth: int, width: int, spram: bool = False) -> Tiling:
    """The tiling of a depth x width memory into the part's SPRAM (16K x 16; `spram`) or into the
    block-RAM configuration that takes fewest primitives, ties going to the shallowest cascade (the
    fewest read multiplexers)."""
    spec = PARTS[part]
    if spram:
        return Tiling(depth, width, spec["spram_depth"], spec["spram_width"], "spram")
    tilings = [Tiling(depth, width, d, w) for d, w in spec["bram_shapes"]]
    return min(tilings, key=lambda t: (t.primitives, t.deep))


@functools.cache
def bank_tiling(part: str, depth: int, width: int) -> Tiling:
    """Each of the influence update's two M banks (single-ported): in SPRAM where the part has it and
    both banks fit there, else in block RAM."""
    if PARTS[part]["spram"]:
        spram = ram_tiling(part, depth, width, spram=True)
        if 2 * spram.primitives <= PARTS[part]["spram"]:
            return spram
    return ram_tiling(part, depth, width)
