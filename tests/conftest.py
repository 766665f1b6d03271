"""Shared helpers: a random problem (parameters, inputs, dense random credits) for any cell."""

from __future__ import annotations

import pytest
import torch

from golden.cells import make_cell
from golden.config import CellConfig
from golden.params import CellParams

# (cell, reset) pairs every cell-generic test runs over
CELL_VARIANTS = [("egru", "paper"), ("egru", "subtractive"), ("trnn", "paper"), ("gru", "paper"), ("evnn", "paper")]


def make_problem(
    cell="egru", reset="paper", n=8, n_in=3, T=24, B=2, omega=0.0, epsilon=1.0, seed=0, dtype="float64", input_scale=1.0
):
    cfg = CellConfig(cell=cell, reset=reset, n=n, n_in=n_in, omega=omega, epsilon=epsilon, seed=seed, dtype=dtype)
    params = CellParams.initialise(cfg)
    gen = torch.Generator().manual_seed(1000 + seed)
    x = torch.randn(T, B, n_in, generator=gen, dtype=cfg.torch_dtype) * input_scale
    credits = {k: torch.randn(T, B, n, generator=gen, dtype=cfg.torch_dtype) for k in make_cell(cfg).credit_keys}
    return params, x, credits


def rel_error(a: dict, b: dict) -> dict[str, float]:
    """Per parameter: max|a - b| / max|b|; where b is all zero, max|a| (so a must be zero too)."""
    out = {}
    for k in b:
        diff, scale = (a[k] - b[k]).abs().max().item(), b[k].abs().max().item()
        out[k] = diff / scale if scale > 0 else diff
    return out


@pytest.fixture
def problem():
    return make_problem
