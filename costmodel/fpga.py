"""FPGA resources of the accelerator (event router, gate accumulation, influence update) at a design
point, for one part:

    LUTs, FFs   sum over the three blocks of the fitted model of `python -m rtl sweep` (Yosys, each
                block alone; features in rtl.fpga.resource_model: 1, n, L, n L, and for the influence
                update the read multiplexers of its tiled M banks), the coefficients shipped in
                data/fpga_fit.json with each block's error on the sweep's held-back points
    memory      the influence update's two M banks (each n ceil(P / L) words of L influence values,
                P = influence words / n) as the RTL tiles them into the part's SPRAM or block RAM
                (rtl.fpga.parts.bank_tiling: exact); the rest of the storage in block RAM as
                ceil(bits / bits per block), a lower bound
    fits        every count within the part

Lanes beyond the swept 1..4 and n beyond 4..16 extrapolate the fitted model. Points beyond
MAX_N units or MAX_LANES lanes are refused: no part comes near them, and the tiling's integer
arithmetic (n x ceil(P / L) words, P ~ 3 n^2) must stay exact in 64 bits.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from costmodel.errors import UserError
from golden.fixedpoint import DEFAULT
from rtl.fpga.parts import PARTS as ALL_PARTS
from rtl.fpga.parts import spram_bits
from rtl.fpga.resource_model import features, influence_banks

FIT_FILE = Path(__file__).parent / "data" / "fpga_fit.json"
BLOCKS = ("router", "accumulate", "influence")
# the parts the synthesis sweep covers (data/fpga_fit.json has coefficients for these)
PARTS = {name: {**ALL_PARTS[name], "spram_bits": spram_bits(name)} for name in ("ice40-up5k", "ecp5-85k")}
UNITS = {
    "fpga_luts": "LUTs (fitted synthesis model)",
    "fpga_ffs": "flip-flops (fitted synthesis model)",
    "fpga_bram": "block RAMs (M banks as tiled; other storage: lower bound from bits)",
    "fpga_spram": "SPRAM blocks (M banks as tiled)",
    "fpga_fits": "1 if every count is within the part",
}


@lru_cache(maxsize=1)
def load_fit() -> dict[str, Any]:
    """The fit at the default word widths (the RTL's; fpga_fit.json also holds other widths' fits)."""
    return json.loads(FIT_FILE.read_text())["default"]


MAX_N = 1 << 16
MAX_LANES = 1 << 16


def check_range(n, lanes, where: str = "") -> None:
    """Refuse points outside the FPGA model's range, naming the value (UserError)."""
    for name, values, top in (("n", n, MAX_N), ("lanes", lanes, MAX_LANES)):
        values = np.asarray(values, dtype=np.float64)
        bad = ~(values <= top)
        if bad.any():
            raise UserError(
                f"{where}{name} = {values[bad].flat[0]:.6g} is outside the FPGA resource model's range; expected "
                f"{name} <= {top} with an FPGA device (drop the device for the other figures)"
            )


def check_part(part: str) -> None:
    fit = load_fit()
    missing = [b for b in BLOCKS if part not in fit.get(b, {})]
    if part not in PARTS or missing:
        known = [p for p in PARTS if all(p in fit.get(b, {}) for b in BLOCKS)]
        raise UserError(f"hardware.fpga_device: got {part!r}; expected one of {', '.join(known)}")


def block_model(
    block: str, part: str, resource: str, n, lanes, columns=0, value_bits: int = DEFAULT.influence.width
) -> np.ndarray:
    """sum_i c_i feature_i (rtl.fpga.resource_model) with the shipped coefficients of one block, part
    and resource, at every point of the broadcast arrays n, lanes, columns."""
    c = np.asarray(load_fit()[block][part][resource]["coefficients"])
    n, lanes, columns = np.broadcast_arrays(*(np.asarray(v, dtype=np.int64) for v in (n, lanes, columns)))
    out = np.empty(n.shape)
    for i in np.ndindex(n.shape):
        out[i] = c @ features(block, part, int(n[i]), int(lanes[i]), int(columns[i]), value_bits)
    return out


def bank_blocks(part: str, n, lanes, columns, value_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(SPRAM, block RAM) primitives of the two M banks at each point (rtl.fpga.resource_model.influence_banks)."""
    n, lanes, columns = np.broadcast_arrays(*(np.asarray(v, dtype=np.int64) for v in (n, lanes, columns)))
    spram, bram = np.zeros(n.shape), np.zeros(n.shape)
    for i in np.ndindex(n.shape):
        tiling = influence_banks(part, int(n[i]), int(lanes[i]), int(columns[i]), value_bits)
        (spram if tiling.kind == "spram" else bram)[i] = 2 * tiling.primitives
    return spram, bram


def fpga_figures(part: str, n, lanes, storage_bytes, influence_words, influence_bits: int) -> dict[str, np.ndarray]:
    """The columns of UNITS for one part at design points (arrays broadcast together); the
    influence update's P is influence_words / n (rounded up)."""
    spec = PARTS[part]
    n, lanes, influence_words = (np.asarray(v, dtype=np.float64) for v in (n, lanes, influence_words))
    check_range(n, lanes)
    columns = np.ceil(influence_words / n)
    luts = sum(block_model(b, part, "luts", n, lanes, columns, influence_bits) for b in BLOCKS)
    ffs = sum(block_model(b, part, "ffs", n, lanes, columns, influence_bits) for b in BLOCKS)
    spram, bank_bram = bank_blocks(part, n, lanes, columns, influence_bits)
    other_bits = np.asarray(storage_bytes, dtype=np.float64) * 8 - influence_words * influence_bits
    bram = bank_bram + np.ceil(np.maximum(other_bits, 0) / spec["bram_bits"])
    fits = (luts <= spec["luts"]) & (ffs <= spec["ffs"]) & (bram <= spec["bram"]) & (spram <= spec["spram"])
    return {
        "fpga_luts": np.round(luts),
        "fpga_ffs": np.round(ffs),
        "fpga_bram": bram,
        "fpga_spram": spram,
        "fpga_fits": fits.astype(np.float64),
    }
