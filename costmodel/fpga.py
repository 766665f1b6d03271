"""FPGA resources of the accelerator (event router, gate accumulation, influence update) at a design
point, for one part:

    LUTs, FFs   sum over the three blocks of the fitted  c0 + c1 n + c2 L + c3 n L  (L = lanes), the
                coefficients of `python -m rtl sweep` (Yosys, each block alone) shipped in
                data/fpga_fit.json with each block's error on the sweep's held-back points
    memory      the design point's storage in bits, its influence part in SPRAM where the part has
                SPRAM and it fits there (the M banks are single-ported), the rest in block RAM:
                ceil(bits / bits per block), a lower bound (synthesis rounds each memory's width and
                depth up to the block's shapes)
    fits        every count within the part

Lanes beyond the swept 1..4 and n beyond 4..16 extrapolate the fitted lines.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from costmodel.errors import UserError
from rtl.parts import PARTS as ALL_PARTS
from rtl.parts import spram_bits

FIT_FILE = Path(__file__).parent / "data" / "fpga_fit.json"
BLOCKS = ("router", "accumulate", "influence")
# the parts the synthesis sweep covers (data/fpga_fit.json has coefficients for these)
PARTS = {name: {**ALL_PARTS[name], "spram_bits": spram_bits(name)} for name in ("ice40-up5k", "ecp5-85k")}
UNITS = {
    "fpga_luts": "LUTs (fitted synthesis model)",
    "fpga_ffs": "flip-flops (fitted synthesis model)",
    "fpga_bram": "block RAMs (lower bound from bits)",
    "fpga_spram": "SPRAM blocks (lower bound from bits)",
    "fpga_fits": "1 if every count is within the part",
}


@lru_cache(maxsize=1)
def load_fit() -> dict[str, Any]:
    return json.loads(FIT_FILE.read_text())


def check_part(part: str) -> None:
    fit = load_fit()
    missing = [b for b in BLOCKS if part not in fit.get(b, {})]
    if part not in PARTS or missing:
        known = [p for p in PARTS if all(p in fit.get(b, {}) for b in BLOCKS)]
        raise UserError(f"hardware.fpga_device: got {part!r}; expected one of {', '.join(known)}")


def block_model(block: str, part: str, resource: str, n, lanes) -> np.ndarray:
    """c0 + c1 n + c2 L + c3 n L with the shipped coefficients of one block, part and resource."""
    c = load_fit()[block][part][resource]["coefficients"]
    n, lanes = np.asarray(n, dtype=np.float64), np.asarray(lanes, dtype=np.float64)
    return c[0] + c[1] * n + c[2] * lanes + c[3] * n * lanes


def fpga_figures(part: str, n, lanes, storage_bytes, influence_bytes) -> dict[str, np.ndarray]:
    """The columns of UNITS for one part at design points (arrays broadcast together)."""
    spec = PARTS[part]
    luts = sum(block_model(b, part, "luts", n, lanes) for b in BLOCKS)
    ffs = sum(block_model(b, part, "ffs", n, lanes) for b in BLOCKS)
    storage_bits = np.asarray(storage_bytes, dtype=np.float64) * 8
    influence_bits = np.asarray(influence_bytes, dtype=np.float64) * 8
    spram = np.zeros_like(storage_bits)
    if spec["spram"]:
        needed = np.ceil(influence_bits / 2 / spec["spram_bits"]) * 2  # two banks, each its own blocks
        spram = np.where(needed <= spec["spram"], needed, 0)
    in_bram = storage_bits - np.where(spram > 0, influence_bits, 0)
    bram = np.ceil(in_bram / spec["bram_bits"])
    fits = (luts <= spec["luts"]) & (ffs <= spec["ffs"]) & (bram <= spec["bram"]) & (spram <= spec["spram"])
    return {
        "fpga_luts": np.round(luts),
        "fpga_ffs": np.round(ffs),
        "fpga_bram": bram,
        "fpga_spram": spram,
        "fpga_fits": fits.astype(np.float64),
    }
