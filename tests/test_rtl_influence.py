"""InfluenceUpdate in Amaranth's simulator: bit-exact against golden.fixedpoint.influence_step on
golden traces and random stimulus (with random idle cycles and backpressure), cycles equal to
rtl.blocks.cycles.influence_cycles, lane utilisation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from golden import fixedpoint as fx
from golden.errors import UserError
from golden.hw_stimulus import InfluenceStep, influence_steps, quantize_influence
from rtl.blocks.cycles import influence_cycles
from rtl.blocks.params import InfluenceParams
from rtl.blocks.simulation import simulate_influence
from rtl.fpga.parts import Tiling
from tests.rtl_traces import SPIRAL, trace_for


def reference(p: InfluenceParams, steps: list[InfluenceStep]) -> list[np.ndarray]:
    M = np.zeros((p.n, p.columns), dtype=np.int64)
    out = []
    for s in steps:
        M = fx.influence_step(M, s.decay, s.sources, s.d_src, s.G_cols, s.Mbar, s.rows, p.fp)
        out.append(M)
    return out


def check(p, steps, seed=0, idle=0.0):
    """Bit-exact M after every step; with no idle cycles, cycles equal the cycle function."""
    got = [(r.output, r.cycles, r.stalls) for r in simulate_influence(p, steps, seed, idle)]
    want = reference(p, steps)
    for t, ((M, cycles, stalls), M_ref) in enumerate(zip(got, want)):
        assert np.array_equal(M, M_ref), f"step {t}: {np.count_nonzero(M != M_ref)} entries differ"
        expected = influence_cycles(p, int(steps[t].rows.sum()), len(steps[t].sources))
        if idle:  # waiting on the streams only adds cycles, and the block counts them
            assert expected <= cycles - stalls <= cycles, f"step {t}: {cycles} cycles, {stalls} stalls, {expected}"
        else:
            assert (cycles, stalls) == (expected, 0), f"step {t}: {cycles} cycles, {stalls} stalls != {expected}"
    return got


TRACES = [
    ("egru_w0.0_e1.0", 0),
    ("egru_w0.8_e0.1", 0),
    ("trnn_w0.0_e1.0", 0),
    ("trnn_w0.8_e1.0", 0),
    (SPIRAL, 0),
    (SPIRAL, 2),
]


@pytest.mark.parametrize("name,sample", TRACES)
@pytest.mark.parametrize("lanes", [4, 8])
def test_golden_traces_bit_exact(name, sample, lanes):
    trace = trace_for(name)
    steps = [quantize_influence(s) for s in influence_steps(trace, sample)]
    p = InfluenceParams(n=trace.config.n, columns=steps[0].Mbar.shape[1], lanes=lanes, decay=steps[0].decay is not None)
    check(p, steps)


def random_steps(p: InfluenceParams, T: int, rng: np.random.Generator, scale: float = 0.25) -> list[InfluenceStep]:
    fp = p.fp
    steps = []
    prev_rows = np.zeros(p.n, dtype=bool)
    for _ in range(T):
        rows = np.ones(p.n, dtype=bool) if p.decay else rng.random(p.n) < 0.6
        active = prev_rows & (rng.random(p.n) < 0.5)
        sources = np.nonzero(active)[0]

        def draw(fmt, shape):
            return fx.to_fixed("random", rng.uniform(-scale, scale, shape) * fmt.max * fmt.lsb, fmt)

        Mbar = draw(fp.influence, (p.n, p.columns)) * (rng.random((p.n, p.columns)) < 0.3)
        steps.append(
            InfluenceStep(
                decay=draw(fp.coef, p.n) if p.decay else None,
                sources=sources,
                d_src=draw(fp.deriv, len(sources)),
                G_cols=draw(fp.coef, (p.n, len(sources))),
                Mbar=np.where(rows[:, None], Mbar, 0),
                rows=rows,
            )
        )
        prev_rows = rows
    return steps


@pytest.mark.parametrize("decay", [True, False])
@pytest.mark.parametrize("n,columns,lanes", [(5, 13, 3), (8, 40, 8)])
def test_random_stimulus_with_backpressure(decay, n, columns, lanes):
    p = InfluenceParams(n=n, columns=columns, lanes=lanes, decay=decay)
    steps = random_steps(p, 5, np.random.default_rng(n + columns + decay))
    check(p, steps, seed=3, idle=0.3)


def test_saturation_matches_reference():
    """Large coefficients drive M past Q(24,16)'s range: block and reference both saturate."""
    p = InfluenceParams(n=4, columns=6, lanes=2, decay=True)
    steps = random_steps(p, 4, np.random.default_rng(7), scale=0.95)
    got = check(p, steps)
    fmt = p.fp.influence
    assert any(np.any((M == fmt.max) | (M == fmt.min)) for M, _, _ in got)


def test_other_formats_stay_bit_exact():
    """The block takes its widths from the fixed-point config: narrower words, same agreement."""
    fp = fx.FixedPointConfig(influence=fx.Fmt(20, 14), coef=fx.Fmt(16, 12), deriv=fx.Fmt(16, 12))
    p = InfluenceParams(n=5, columns=11, lanes=3, decay=True, fp=fp)
    check(p, random_steps(p, 4, np.random.default_rng(11), scale=0.6))


@pytest.mark.parametrize("tile", [(8, 9), (16, 36), (4, 5)])
def test_banks_built_from_ram_primitives_stay_bit_exact(tile):
    """M banks tiled into primitives (a cascade with its read multiplexer, words split across
    narrower tiles, a last tile shallower than the rest): same M, same cycles."""
    p = InfluenceParams(n=5, columns=13, lanes=3, decay=True)
    p = replace(p, banks=Tiling(p.depth, p.word_width, *tile))
    assert p.banks.deep > 1 and p.depth % p.banks.tile_depth != 0
    check(p, random_steps(p, 4, np.random.default_rng(sum(tile))), seed=5, idle=0.3)
    check(p, random_steps(p, 3, np.random.default_rng(1)))


def test_a_tiling_of_another_shape_is_refused():
    p = InfluenceParams(n=5, columns=13, lanes=3)
    with pytest.raises(UserError, match=r"banks: got a tiling of 25 x 72 words into 8 x 9; expected 20 x 72 into"):
        replace(p, banks=Tiling(25, 72, 8, 9), columns=12)
    with pytest.raises(UserError, match="into a power-of-two depth"):
        replace(p, banks=Tiling(25, 72, 12, 9))
