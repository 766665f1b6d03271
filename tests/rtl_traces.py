"""Golden traces for the RTL tests: small random ones (n = 8, T = 8) at omega 0 / 0.8 and a large /
small epsilon, and the committed spiral-trained EGRU trace (tests/data, n = 8, omega 0.5, T = 10;
regenerate with `python -m golden trace --checkpoint tests/data/spiral_egru_n8_w0.5.pt
--inputs tests/data/spiral_x_T10_B4.npy --out tests/data/spiral_egru_n8_w0.5.npz`)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import torch

from golden.cells import make_cell
from golden.config import CellConfig
from golden.params import CellParams
from golden.trace import Trace, load_trace, make_trace

DATA = Path(__file__).parent / "data"
SPIRAL = "spiral_egru_n8_w0.5"
SPIRAL_PATH = f"tests/data/{SPIRAL}.npz"  # as the CLIs take it, from the repository root


@lru_cache(maxsize=None)
def trace_for(name: str) -> Trace:
    """`spiral_egru_n8_w0.5`, or `<cell>_w<omega>_e<epsilon>`: a seeded random trace, n = 8, T = 8, B = 1."""
    if name == SPIRAL:
        return load_trace(DATA / f"{name}.npz")
    cell, omega, epsilon = re.fullmatch(r"(\w+?)_w([\d.]+)_e([\d.]+)", name).groups()
    cfg = CellConfig(cell=cell, n=8, n_in=2, omega=float(omega), epsilon=float(epsilon), seed=3)
    params = CellParams.initialise(cfg)
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(8, 1, cfg.n_in, generator=gen, dtype=cfg.torch_dtype) * 2.0
    credits = {k: torch.randn(8, 1, cfg.n, generator=gen, dtype=cfg.torch_dtype) for k in make_cell(cfg).credit_keys}
    return make_trace(params, x, credits)
