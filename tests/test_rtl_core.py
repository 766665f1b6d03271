"""EGRUCore (rtl.core) in Amaranth's simulator against the integer trainer
(golden.fixed_step.IntegerLearner): every prediction and every master and momentum word after every
sequence bit-exact, over batches of sequences with updates at the end of each batch, with updates
every k steps, predict-only sequences between, both resets, Signum and SGD with momentum."""

from __future__ import annotations

import numpy as np
import pytest

from golden.fixed_cell import PseudoDerivative
from golden.fixed_linearise import compacted_layout
from golden.fixed_step import IntegerLearner, ShiftRule
from golden.fixedpoint import DEFAULT, to_fixed
from rtl.blocks.transactions import master_vector
from rtl.core.params import CoreParams
from rtl.core.simulation import simulate_core
from rtl.core.transactions import core_load


def network(n: int, n_in: int, seed: int, cfg=DEFAULT):
    """Random master words of a masked EGRU (omega 0.4), scaled so that units fire and fall silent."""
    rng = np.random.default_rng(seed)
    masks = {f"V_{g}": rng.random((n, n)) > 0.4 for g in "urz"}
    master = {f"W_{g}": rng.uniform(-1.5, 1.5, (n, n_in)) for g in "urz"}
    master.update({f"V_{g}": rng.uniform(-1, 1, (n, n)) * masks[f"V_{g}"] for g in "urz"})
    master.update({f"b_{g}": rng.uniform(-0.5, 0.5, n) for g in "urz"})
    master.update(tau=rng.uniform(-2.5, -0.5, n), w_out=rng.uniform(-1, 1, n), b_out=rng.uniform(-0.2, 0.2, 1))
    return {k: to_fixed(k, v, cfg.master) for k, v in master.items()}, masks


@pytest.mark.parametrize(
    "subtractive,kind,batch,update_every",
    [(False, "signum", 2, 0), (True, "sgdm", 1, 2)],
)
def test_core_trains_bit_exactly_as_the_integer_trainer(subtractive, kind, batch, update_every):
    n, n_in, T = 4, 2, 4
    master, masks = network(n, n_in, seed=batch)
    layout = compacted_layout(n, n_in, masks)
    rule = ShiftRule(kind, 6 if kind == "signum" else 1, 3)
    p = CoreParams(
        n,
        n_in,
        layout[-1].stop,
        T,
        batch,
        update_every,
        lanes=4,
        gamma=0.7,
        epsilon=0.8,
        subtractive=subtractive,
        kind=kind,
        lr_shift=rule.lr_shift,
        momentum_shift=rule.momentum_shift,
    )
    learner = IntegerLearner(dict(master), layout, PseudoDerivative.of(0.7, 0.8), subtractive, DEFAULT)
    rng = np.random.default_rng(5)
    sequences, expected = [], []
    for _ in range(2):  # two batches, each followed by a predict-only sequence
        xs = to_fixed("x", rng.normal(0, 1.5, (T, batch, n_in)), DEFAULT.state)
        targets = rng.integers(0, 2, batch)
        for b in range(batch):
            sequences.append((int(targets[b]), True, xs[:, b]))
        logits = learner.train_sequence(xs, targets, rule, update_every or None).logit
        state = list(zip(master_vector(learner.master, layout), master_vector(learner.momentum, layout), strict=True))
        expected += [(int(logits[b]), state if b == batch - 1 else None) for b in range(batch)]
        probe = to_fixed("x", rng.normal(0, 1.5, (T, 1, n_in)), DEFAULT.state)
        sequences.append((0, False, probe[:, 0]))
        expected.append((int(learner.forward(probe).logit[0]), state))
    results = simulate_core(p, core_load(p, master, masks), sequences)
    for i, (result, (logit, state)) in enumerate(zip(results, expected, strict=True)):
        assert result.logit == logit, i
        if state is not None:
            assert result.master == state, i
    assert results[-1].master != results[0].master  # the weights moved
