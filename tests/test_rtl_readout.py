"""ReadoutUnit (rtl.blocks.readout) in Amaranth's simulator against the integer readout
(golden.fixed_step.readout_logit and readout_credit): the logit, every credit word and the exact
gradient sums R bit-exact over a batch of sequences, learning and predicting, with and without
backpressure; zero credit on the steps without loss; cycles of the last step equal
rtl.blocks.cycles.readout_cycles when nothing stalls."""

from __future__ import annotations

import numpy as np
import pytest

from golden.fixed_step import readout_credit, readout_logit
from golden.fixedpoint import DEFAULT
from rtl.blocks.cycles import readout_cycles
from rtl.blocks.params import ReadoutParams
from rtl.blocks.simulation import simulate_readout


@pytest.mark.parametrize("n,stall", [(5, 0.0), (4, 0.4)])
def test_readout_unit_is_bit_exact_against_the_integer_readout(n, stall):
    fp = DEFAULT
    rng = np.random.default_rng(n)
    w_out = rng.integers(-(1 << fp.weight.frac), 1 << fp.weight.frac, n)
    b_out = int(rng.integers(-(1 << fp.pre.frac), 1 << fp.pre.frac))
    samples = [
        (
            int(rng.integers(1, 4)),
            bool(i != 2),
            int(rng.integers(0, 2)),
            rng.integers(fp.state.min, fp.state.max + 1, n),
        )
        for i in range(5)
    ]
    p = ReadoutParams(n=n, batch=4)
    results = simulate_readout(p, w_out, np.int64(b_out), samples, seed=2, stall=stall)
    R = np.zeros(n + 1, dtype=np.int64)
    for (steps, learn, target, c_T), got in zip(samples, results, strict=True):
        logit = readout_logit(w_out, np.array([b_out]), c_T[None, :], fp)
        assert got["logit"] == int(logit[0])
        error, credit = readout_credit(w_out, logit, np.array([target]), fp)
        if learn:
            assert got["credits"] == [[0] * n] * (steps - 1) + [credit[0].tolist()]
            R[:n] += error[0] * c_T
            R[n] += error[0]
        else:
            assert got["credits"] == []
        assert got["sums"] == R.tolist()
        if stall == 0:
            assert got["cycles"] == readout_cycles(p, True, learn)
    assert np.count_nonzero(R) > 0
