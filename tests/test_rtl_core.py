"""EGRUCore (rtl.core) in Amaranth's simulator against the integer trainer
(golden.fixed_step.IntegerLearner): every prediction and every master and momentum word after every
sequence bit-exact, with and without random idle inputs and backpressure on pred, over batches of
sequences with updates at the end of each batch, with updates every k steps, predict-only sequences
between, both resets, Signum and SGD with momentum; the cycles of every step equal
rtl.core.cycles.core_step_cycles from the step's events and sources."""

from __future__ import annotations

import numpy as np
import pytest

from golden.fixed_cell import PseudoDerivative
from golden.fixed_linearise import compacted_layout
from golden.fixed_step import IntegerLearner, ShiftRule
from golden.fixedpoint import DEFAULT, to_fixed
from rtl.blocks.transactions import master_vector
from rtl.core.cycles import core_step_cycles, mask_words
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
    "subtractive,kind,batch,update_every,stall",
    [(False, "signum", 2, 0, 0.0), (True, "sgdm", 1, 2, 0.0), (False, "signum", 2, 0, 0.3)],
)
def test_core_trains_bit_exactly_as_the_integer_trainer(subtractive, kind, batch, update_every, stall):
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
    sequences, expected, cycles = [], [], []
    words = mask_words(p, masks)
    for _ in range(2):  # two batches, each followed by a predict-only sequence
        xs = to_fixed("x", rng.normal(0, 1.5, (T, batch, n_in)), DEFAULT.state)
        targets = rng.integers(0, 2, batch)
        for b in range(batch):
            sequences.append((int(targets[b]), True, xs[:, b]))
        cells = []
        logits = learner.train_sequence(
            xs,
            targets,
            rule,
            update_every or None,
            lambda kind, info: cells.append(info["cell"]) if kind == "step" else None,
        ).logit
        state = list(zip(master_vector(learner.master, layout), master_vector(learner.momentum, layout), strict=True))
        expected += [(int(logits[b]), state if b == batch - 1 else None) for b in range(batch)]
        for b in range(batch):
            cycles.append(step_cycles(p, [(c.y[b], c.d[b]) for c in cells], words, True, b))
        probe = to_fixed("x", rng.normal(0, 1.5, (T, 1, n_in)), DEFAULT.state)
        sequences.append((0, False, probe[:, 0]))
        expected.append((int(learner.forward(probe).logit[0]), state))
        words_now, prev, states = learner.words(), None, []
        for t in range(T):
            prev = learner.cell(words_now, prev, probe[t])
            states.append((prev.y[0], prev.d[0]))
        cycles.append(step_cycles(p, states, words, False, 0))
    results = simulate_core(p, core_load(p, master, masks), sequences, seed=4, stall=stall)
    for i, (result, (logit, state)) in enumerate(zip(results, expected, strict=True)):
        assert result.logit == logit, i
        if state is not None:
            assert result.master == state, i
        measured = [int(c) for c in result.step_cycles]
        if stall:
            assert all(m >= c for m, c in zip(measured, cycles[i], strict=True)), i
        else:
            assert measured == cycles[i], (i, measured, cycles[i])
    assert results[-1].master != results[0].master  # the weights moved


def step_cycles(p: CoreParams, states: list, words, learn: bool, sample: int) -> list[int]:
    """core_step_cycles of each step of a sequence from its (y_t, d_t) per step."""
    out = []
    zero = np.zeros(p.n, dtype=np.int64)
    for t in range(p.steps):
        y_prev, d_prev = states[t - 1] if t else (zero, zero)
        events = [int(j) for j in np.nonzero(y_prev)[0]]
        last = t == p.steps - 1
        update = learn and p.updates_after(t, sample)
        out.append(core_step_cycles(p, events, int(np.count_nonzero(d_prev)), words, learn, last, update))
    return out
