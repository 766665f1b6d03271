"""What each FPGA part offers, as nextpnr counts it (ICESTORM_LC, _RAM, _SPRAM, _DSP; TRELLIS_COMB,
_FF, DP16KD, MULT18X18D), with the size of its RAM blocks. Pure Python: the synthesis flow, the
largest-n search and the cost model's FPGA terms all read these."""

from __future__ import annotations

PARTS: dict[str, dict[str, int]] = {
    "ice40-up5k": {
        "luts": 5280,  # logic cells (Yosys's LUT count is a lower bound on them)
        "ffs": 5280,
        "bram": 30,
        "bram_bits": 4096,  # SB_RAM40_4K
        "spram": 4,
        "spram_width": 16,  # SB_SPRAM256KA: 16K x 16
        "spram_depth": 16384,
        "dsp": 8,
    },
    "ecp5-25k": {"luts": 24288, "ffs": 24288, "bram": 56, "bram_bits": 18432, "spram": 0, "dsp": 28},
    "ecp5-85k": {"luts": 83640, "ffs": 83640, "bram": 208, "bram_bits": 18432, "spram": 0, "dsp": 156},
}


def spram_bits(part: str) -> int:
    """Bits of one SPRAM block of the part (0 where it has none)."""
    spec = PARTS[part]
    return spec["spram_width"] * spec["spram_depth"] if spec["spram"] else 0
