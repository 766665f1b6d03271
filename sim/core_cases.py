"""Cases for the online-learning core's simulations (Amaranth, cocotb, the native harness): a random
masked EGRU, batches of training sequences with a predict-only sequence after each, and what the
integer trainer (golden.fixed_step.IntegerLearner) says each sequence must produce: its prediction,
the master and momentum words after each update, and the cycles of every step
(rtl.core.cycles.sequence_cycles)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from golden.fixed_cell import PseudoDerivative
from golden.fixed_linearise import compacted_layout
from golden.fixed_step import IntegerLearner, ShiftRule
from golden.fixedpoint import DEFAULT, to_fixed
from rtl.blocks.transactions import master_vector
from rtl.core.cycles import mask_words, sequence_cycles
from rtl.core.params import CoreParams
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


@dataclass
class CoreCase:
    p: CoreParams
    loads: list[dict]
    sequences: list[tuple[int, bool, np.ndarray]]  # (target, learn, x [T, n_in])
    logits: list[int]
    states: list[list[tuple[int, int]] | None]  # (master, momentum) after the sequence, where known
    cycles: list[list[int]]  # per step


def core_case(
    subtractive: bool, kind: str, batch: int, update_every: int, n: int = 4, steps: int = 4, batches: int = 2
) -> CoreCase:
    n_in = 2
    master, masks = network(n, n_in, seed=batch)
    layout = compacted_layout(n, n_in, masks)
    rule = ShiftRule(kind, 6 if kind == "signum" else 1, 3)
    p = CoreParams(
        n, n_in, layout[-1].stop, steps, batch, update_every, lanes=4, gamma=0.7, epsilon=0.8,
        subtractive=subtractive, kind=kind, lr_shift=rule.lr_shift, momentum_shift=rule.momentum_shift,
    )  # fmt: skip
    learner = IntegerLearner(dict(master), layout, PseudoDerivative.of(0.7, 0.8), subtractive, DEFAULT)
    rng = np.random.default_rng(5)
    case = CoreCase(p, core_load(p, master, masks), [], [], [], [])
    words = mask_words(p, masks)
    for _ in range(batches):  # each batch followed by a predict-only sequence
        xs = to_fixed("x", rng.normal(0, 1.5, (steps, batch, n_in)), DEFAULT.state)
        targets = rng.integers(0, 2, batch)
        cells: list = []

        def observe(what: str, info: dict) -> None:
            if what == "step":
                cells.append(info["cell"])

        logits = learner.train_sequence(xs, targets, rule, update_every or None, observe).logit
        state = list(zip(master_vector(learner.master, layout), master_vector(learner.momentum, layout), strict=True))
        for b in range(batch):
            case.sequences.append((int(targets[b]), True, xs[:, b]))
            case.logits.append(int(logits[b]))
            case.states.append(state if b == batch - 1 else None)
            case.cycles.append(sequence_cycles(p, [(c.y[b], c.d[b]) for c in cells], words, True, b)[0])
        probe = to_fixed("x", rng.normal(0, 1.5, (steps, 1, n_in)), DEFAULT.state)
        case.sequences.append((0, False, probe[:, 0]))
        case.logits.append(int(learner.forward(probe).logit[0]))
        case.states.append(state)
        forward, prev, states = learner.words(), None, []
        for t in range(steps):
            prev = learner.cell(forward, prev, probe[t])
            states.append((prev.y[0], prev.d[0]))
        case.cycles.append(sequence_cycles(p, states, words, False, 0)[0])
    return case
