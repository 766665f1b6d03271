"""EGRUCore (rtl.core) in Amaranth's simulator against the integer trainer
(golden.fixed_step.IntegerLearner): every prediction and every master and momentum word after every
sequence bit-exact, with and without random idle inputs and backpressure on pred, over batches of
sequences with updates at the end of each batch, with updates every k steps, predict-only sequences
between, both resets, Signum and SGD with momentum; the cycles of every step equal
rtl.core.cycles.core_step_cycles from the step's events and sources."""

from __future__ import annotations

import pytest

from rtl.core.simulation import simulate_core
from sim.core_cases import core_case


@pytest.mark.parametrize(
    "subtractive,kind,batch,update_every,stall",
    [(False, "signum", 2, 0, 0.0), (True, "sgdm", 1, 2, 0.0), (False, "signum", 2, 0, 0.3)],
)
def test_core_trains_bit_exactly_as_the_integer_trainer(subtractive, kind, batch, update_every, stall):
    case = core_case(subtractive, kind, batch, update_every)
    results = simulate_core(case.p, case.loads, case.sequences, seed=4, stall=stall)
    for i, result in enumerate(results):
        assert result.logit == case.logits[i], i
        if case.states[i] is not None:
            assert result.master == case.states[i], i
        measured = [int(c) for c in result.step_cycles]
        if stall:
            assert all(m >= c for m, c in zip(measured, case.cycles[i], strict=True)), i
        else:
            assert measured == case.cycles[i], (i, measured, case.cycles[i])
    assert results[-1].master != results[0].master  # the weights moved
