"""UpdateUnit (rtl.blocks.update) in Amaranth's simulator against the integer trainer's update
(golden.fixed_step.IntegerLearner: gradients, _update, words): every forward word it emits, and
every master and momentum word read back, bit-exact after an initial pass and several updates from
random gradient accumulators and readout sums, Signum and SGD with momentum, a batch of 4 and of 1,
with and without backpressure; cycles equal rtl.blocks.cycles.update_cycles."""

from __future__ import annotations

import numpy as np
import pytest

from golden.fixed_cell import PseudoDerivative
from golden.fixed_linearise import compacted_layout
from golden.fixed_step import IntegerLearner, ShiftRule
from golden.fixedpoint import DEFAULT, to_fixed
from rtl.blocks.cycles import update_cycles
from rtl.blocks.params import UpdateParams
from rtl.blocks.simulation import simulate_update
from rtl.blocks.transactions import accumulate_mask_load, forward_words, master_vector, update_load


def _learner(n: int, n_in: int, seed: int) -> tuple[IntegerLearner, dict, list]:
    rng = np.random.default_rng(seed)
    masks = {f"V_{g}": rng.random((n, n)) > 0.4 for g in "urz"}
    master = {f"W_{g}": rng.uniform(-1, 1, (n, n_in)) for g in "urz"}
    master.update({f"V_{g}": rng.uniform(-1, 1, (n, n)) * masks[f"V_{g}"] for g in "urz"})
    master.update({f"b_{g}": rng.uniform(-0.5, 0.5, n) for g in "urz"})
    master.update(tau=rng.uniform(-3, 0, n), w_out=rng.uniform(-1, 1, n), b_out=rng.uniform(-0.2, 0.2, 1))
    master = {k: to_fixed(k, v, DEFAULT.master) for k, v in master.items()}
    layout = compacted_layout(n, n_in, masks)
    learner = IntegerLearner(master, layout, PseudoDerivative.of(0.7, 1.0), False, DEFAULT)
    return learner, masks, layout


@pytest.mark.parametrize("kind,batch,stall", [("signum", 4, 0.0), ("sgdm", 1, 0.4)])
def test_update_unit_is_bit_exact_against_the_integer_update(kind, batch, stall):
    n, n_in = 4, 2
    learner, masks, layout = _learner(n, n_in, seed=batch)
    rule = ShiftRule(kind, 6 if kind == "signum" else 2, 3)
    P = layout[-1].stop
    p = UpdateParams(n, n_in, P, lanes=3, batch=batch, steps=5, kind=kind, lr_shift=rule.lr_shift, momentum_shift=3)
    _, address = accumulate_mask_load(n, masks)
    load = update_load(learner.master, layout, address)
    rng = np.random.default_rng(7)
    fp = DEFAULT
    passes, expected = [(False, [0] * P, [0] * (n + 1))], [forward_words(learner.words(), layout, address)]
    states = [[(v, 0) for v in master_vector(learner.master, layout)]]
    for _ in range(3):
        words = learner.words()
        scale = 1 << (fp.influence.frac + fp.credit.frac)
        A = rng.integers(-scale, scale, P) * rng.integers(0, 4, P)  # some zero gradients
        R = rng.integers(-(1 << (fp.gate.frac + fp.state.frac)), 1 << (fp.gate.frac + fp.state.frac), n + 1)
        beta = batch.bit_length() - 1
        grads = learner.gradients(A, (R[:n], R[n:]), words, beta)
        learner._update(grads, rule)
        passes.append((True, [int(v) for v in A], [int(v) for v in R]))
        expected.append(forward_words(learner.words(), layout, address))
        momentum = master_vector(learner.momentum, layout)
        states.append(list(zip(master_vector(learner.master, layout), momentum, strict=True)))
    results = simulate_update(p, load, passes, seed=3, stall=stall)
    for t, (result, words, state) in enumerate(zip(results, expected, states, strict=True)):
        got_words, got_state = result.output
        assert got_words == words, t
        assert got_state == state, t
        if stall == 0:
            assert result.cycles == update_cycles(p)
    assert states[-1] != states[0]
