"""InputUnit (rtl.blocks.input_part) in Amaranth's simulator against the integer input part
(golden.fixed_step.input_part): every pre-activation bit-exact, saturation at both ends included,
with and without backpressure; cycles per step equal rtl.blocks.cycles.input_cycles."""

from __future__ import annotations

import numpy as np
import pytest

from golden.fixed_step import input_part
from golden.fixedpoint import DEFAULT
from rtl.blocks.cycles import input_cycles
from rtl.blocks.params import InputParams
from rtl.blocks.simulation import simulate_input


@pytest.mark.parametrize("n,n_in,stall", [(5, 2, 0.0), (3, 4, 0.4)])
def test_input_unit_is_bit_exact_against_the_integer_input_part(n, n_in, stall):
    fp = DEFAULT
    rng = np.random.default_rng(n)
    W = {g: rng.integers(fp.weight.min, fp.weight.max + 1, (n, n_in)) for g in "urz"}
    b = {g: rng.integers(fp.pre.min, fp.pre.max + 1, n) for g in "urz"}
    xs = [rng.integers(fp.state.min, fp.state.max + 1, n_in) >> rng.integers(0, 6) for _ in range(6)]
    p = InputParams(n=n, n_in=n_in)
    results = simulate_input(p, W, b, xs, seed=1, stall=stall)
    saturated = 0
    for x, result in zip(xs, results, strict=True):
        expected = input_part(W, b, x, fp)
        for g in "urz":
            assert result.output[g] == expected[g].tolist()
            saturated += int(np.sum(np.abs(expected[g]) >= fp.pre.max))
        assert result.cycles == input_cycles(p) if stall == 0 else result.cycles >= input_cycles(p)
    assert saturated > 0  # the random weights reach the format's ends
