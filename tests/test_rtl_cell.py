"""CellUnit (rtl.blocks.cell) in Amaranth's simulator against the integer cell unit
(golden.fixed_cell.cell_step): every record word and every y bit-exact over sequences with clears,
both resets, default and narrower formats, with and without backpressure; cycles per step equal
rtl.blocks.cycles.cell_cycles when nothing stalls; parameters the block cannot take are refused."""

from __future__ import annotations

import numpy as np
import pytest

from golden.errors import UserError
from golden.fixed_cell import cell_step
from golden.fixedpoint import DEFAULT, FixedPointConfig, Fmt
from rtl.blocks.cycles import cell_cycles
from rtl.blocks.params import CellUnitParams
from rtl.blocks.simulation import simulate_cell

NARROW = FixedPointConfig(state=Fmt(12, 7), gate=Fmt(12, 10), coef=Fmt(14, 10), deriv=Fmt(14, 10), const=Fmt(14, 8))
FIELDS = ("u", "r", "z", "c", "o", "y", "dH", "d", "su", "sr", "dz")


def _steps(p: CellUnitParams, count: int, seed: int):
    """Random pre-activations over the whole pre range (saturated ends included), a clear every 5
    steps, theta in (0, 1)."""
    rng = np.random.default_rng(seed)
    fp = p.fp
    theta = rng.integers(1, 1 << fp.state.frac, p.n)
    steps = []
    for t in range(count):
        scale = rng.choice([0.05, 0.3, 1.0])  # mostly moderate pre-activations, some at the extremes
        pre = {
            g: np.clip(rng.normal(0, scale * fp.pre.max, p.n), fp.pre.min, fp.pre.max).astype(np.int64) for g in "urz"
        }
        steps.append((t % 5 == 0, pre))
    return theta, steps


def _reference(p: CellUnitParams, theta: np.ndarray, steps):
    """golden.fixed_cell.cell_step with V = 0 and the pre-activations as its input part: the gate
    accumulation then passes them through unchanged."""
    zero_V = {g: np.zeros((p.n, p.n), dtype=np.int64) for g in "urz"}
    c = y = o = np.zeros(p.n, dtype=np.int64)
    out = []
    for clear, pre in steps:
        if clear:
            c = y = o = np.zeros(p.n, dtype=np.int64)
        st = cell_step(c, y, o, zero_V, pre, theta, p.constants, subtractive=p.subtractive, cfg=p.fp)
        assert all(np.array_equal(getattr(st, "a_" + g), pre[g]) for g in "urz")
        out.append(st)
        c, y, o = st.c, st.y, st.o
    return out


@pytest.mark.parametrize(
    "n,subtractive,fp,stall",
    [(5, False, DEFAULT, 0.0), (6, True, DEFAULT, 0.0), (4, False, NARROW, 0.0), (5, True, DEFAULT, 0.4)],
)
def test_cell_unit_is_bit_exact_against_the_integer_cell(n, subtractive, fp, stall):
    p = CellUnitParams(n=n, gamma=0.7, epsilon=0.6, subtractive=subtractive, fp=fp)
    theta, steps = _steps(p, 12, seed=n + 10 * subtractive)
    results = simulate_cell(p, theta, steps, seed=3, stall=stall)
    reference = _reference(p, theta, steps)
    events = 0
    for result, st in zip(results, reference, strict=True):
        records, y = result.output
        for k, rec in enumerate(records):
            for name in FIELDS:
                assert rec[name] == int(getattr(st, name)[k]), (name, k)
        assert y == st.y.tolist()
        events += int(st.o.sum())
        if stall == 0:
            assert result.cycles == cell_cycles(p)
        else:
            assert result.cycles >= cell_cycles(p)
    assert 0 < events < 12 * n  # the run has events and silent units


def test_cell_unit_parameters_are_checked():
    with pytest.raises(UserError, match="gamma: got -1"):
        CellUnitParams(n=4, gamma=-1)
    with pytest.raises(UserError, match="gamma / epsilon"):
        CellUnitParams(n=4, gamma=0.7, epsilon=1e-4)  # 7000 does not fit Q(18, 12)
    with pytest.raises(UserError, match="gate.frac >= state.frac"):
        CellUnitParams(n=4, fp=FixedPointConfig(gate=Fmt(16, 8)))
