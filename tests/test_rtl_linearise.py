"""LinearizeUnit (rtl.blocks.linearise) in Amaranth's simulator against the integer linearisation
(golden.fixed_linearise.linearise): the step header, every setup element (decay, G[k, l] with d'_l)
and every Mbar word bit-exact, over sequences of a random masked EGRU carried by the integer cell
unit (golden.fixed_cell), both resets, with clears, with and without backpressure; cycles per step
equal rtl.blocks.cycles.linearise_cycles when nothing stalls; and the unit feeding the real
InfluenceUpdate, whose written rows feed the GradientUnit, it produces golden's M and gradient."""

from __future__ import annotations

import numpy as np
import pytest

from golden.errors import UserError
from golden.fixed_cell import PseudoDerivative, cell_step
from golden.fixed_linearise import compacted_layout, linearise
from golden.fixed_step import accumulate_gradient
from golden.fixedpoint import DEFAULT, influence_step, round_to, to_fixed
from rtl.blocks.cycles import linearise_cycles
from rtl.blocks.params import LinearizeParams
from rtl.blocks.simulation import simulate_learning_path, simulate_linearise
from rtl.blocks.transactions import cell_records, linearise_load, linearise_transactions


def egru_sequences(n: int, n_in: int, steps: int, subtractive: bool, seed: int, every: int = 5, cfg=DEFAULT):
    """A random EGRU (V masked at omega 0.4) run by the integer cell unit, a new sequence every
    `every` steps. Returns (params, load, unit steps (clear, x, records), golden LinearSteps, firsts)."""
    rng = np.random.default_rng(seed)
    masks = {f"V_{g}": (rng.random((n, n)) > 0.4).astype(np.uint8) for g in "urz"}
    V = {g: to_fixed(f"V_{g}", rng.uniform(-1.5, 1.5, (n, n)) * masks[f"V_{g}"], cfg.weight) for g in "urz"}
    W = {g: to_fixed(f"W_{g}", rng.uniform(-1, 1, (n, n_in)), cfg.weight) for g in "urz"}
    b = {g: to_fixed(f"b_{g}", rng.uniform(-0.3, 0.3, n), cfg.pre) for g in "urz"}
    theta = to_fixed("theta", rng.uniform(0.05, 0.5, n), cfg.state)
    xs = to_fixed("x", rng.normal(0, 1.2, (steps, n_in)), cfg.state)
    h = PseudoDerivative.of(0.7, 0.8, cfg)
    layout = compacted_layout(n, n_in, masks)
    p = LinearizeParams(n=n, n_in=n_in, columns=layout[-1].stop, lanes=4, subtractive=subtractive, fp=cfg)
    unit_steps, golden_steps, firsts = [], [], []
    prev = None
    shift = cfg.weight.frac + cfg.state.frac - cfg.pre.frac
    for t in range(steps):
        clear = t % every == 0
        if clear:
            prev = None
        part = {g: round_to(W[g] @ xs[t] + (b[g] << shift), shift + cfg.pre.frac, cfg.pre, "a") for g in "urz"}
        zero = np.zeros(n, dtype=np.int64)
        c_p, y_p, o_p = (zero, zero, zero) if prev is None else (prev.c, prev.y, prev.o)
        step = cell_step(c_p, y_p, o_p, V, part, theta, h, subtractive=subtractive, cfg=cfg)
        golden_steps.append(linearise(prev, step, xs[t], V, theta, layout, subtractive=subtractive, cfg=cfg))
        unit_steps.append((clear, [int(v) for v in xs[t]], cell_records(step)))
        firsts.append(clear)
        prev = step
    return p, linearise_load(p, V, theta, layout), unit_steps, golden_steps, firsts


@pytest.mark.parametrize(
    "n,subtractive,stall",
    [(5, False, 0.0), (6, True, 0.0), (4, False, 0.4), (5, True, 0.3)],
)
def test_linearise_unit_is_bit_exact_against_the_integer_linearisation(n, subtractive, stall):
    p, load, steps, golden, firsts = egru_sequences(n, 2, 10, subtractive, seed=n + 7 * subtractive)
    results = simulate_linearise(p, load, steps, seed=2, stall=stall)
    sources = events = 0
    for t, (result, lin, first) in enumerate(zip(results, golden, firsts, strict=True)):
        expected = linearise_transactions(p, lin, first)
        header, setup, mbar = result.output
        assert header == expected.header, t
        assert setup == expected.setup, t
        assert mbar == expected.mbar, t
        active = int(np.count_nonzero(lin.d_prev))
        fired = 0 if first else sum(1 for rec in steps[t - 1][2] if rec["y"] != 0)  # events: y' != 0
        sources, events = sources + active, events + fired
        if stall == 0:
            assert result.cycles == linearise_cycles(p, fired, active), t
        else:
            assert result.cycles >= linearise_cycles(p, fired, active), t
    assert sources > 0 and events > 0  # the steps have active sources and events


def test_linearise_parameters_are_checked():
    with pytest.raises(UserError, match="columns: got 10"):
        LinearizeParams(n=4, n_in=2, columns=10)
    with pytest.raises(UserError, match="lanes: got 0"):
        LinearizeParams(n=4, n_in=2, columns=60, lanes=0)


@pytest.mark.parametrize("subtractive,stall", [(False, 0.0), (True, 0.3)])
def test_linearise_influence_and_gradient_units_produce_the_integer_m_and_gradient(subtractive, stall):
    """The three blocks connected as in the core: M_t read back after every step equals
    golden.fixedpoint.influence_step applied to golden's linearisation (M_0 = 0 at each clear), and
    the gradient unit's accumulators equal golden.fixed_step.accumulate_gradient over the
    sequence's steps, with random credit vectors (some steps without loss)."""
    p, load, steps, golden, firsts = egru_sequences(4, 2, 7, subtractive, seed=11, every=4)
    rng = np.random.default_rng(3)
    credits = [
        (rng.integers(p.fp.credit.min, p.fp.credit.max + 1, p.n) * (t % 3 != 1)).astype(np.int64) for t in range(7)
    ]
    results = simulate_learning_path(p, load, steps, [c.tolist() for c in credits], seed=5, stall=stall)
    M = acc = None
    nonzero_sums = 0
    for t, (result, lin, first) in enumerate(zip(results, golden, firsts, strict=True)):
        if first:
            M = np.zeros((p.n, p.columns), dtype=np.int64)
            acc = np.zeros(p.columns, dtype=np.int64)
        sources = np.nonzero(lin.d_prev)[0]
        M = influence_step(M, lin.decay, sources, lin.d_prev[sources], lin.G[:, sources], lin.Mbar, np.ones(p.n, bool))
        acc = accumulate_gradient(acc, credits[t][None, :], M[None])
        got_M, got_acc = result.output
        assert np.array_equal(got_M, M), t
        assert got_acc.tolist() == acc.tolist(), t
        assert np.count_nonzero(M) > 0
        nonzero_sums += np.count_nonzero(acc)
    assert nonzero_sums > 0
