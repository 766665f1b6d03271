"""EventAccumulator in Amaranth's simulator: gate pre-activations bit-exact against
golden.fixedpoint.accumulate_gates on golden EGRU traces (with the spiral-trained network) and
random stimulus with idle cycles and backpressure; cycles equal rtl.blocks.cycles.accumulate_cycles."""

from __future__ import annotations

import numpy as np
import pytest

from golden import fixedpoint as fx
from golden.hw_stimulus import forward_steps, quantize_forward, recurrent_weights
from rtl.blocks.cycles import accumulate_cycles
from rtl.blocks.params import AccumulateParams
from rtl.blocks.simulation import simulate_accumulate
from rtl.blocks.transactions import accumulate_words
from tests.rtl_traces import SPIRAL, trace_for


def check(p: AccumulateParams, V, steps, seed=0, idle=0.0):
    got = [(r.output, r.cycles) for r in simulate_accumulate(p, V, steps, seed, idle)]
    pass1, pass2 = accumulate_words(p, V)
    for t, ((y, inputs), (pre, cycles)) in enumerate(zip(steps, got)):
        ref = fx.accumulate_gates(y, V, inputs, p.fp)
        for g in "urz":
            assert np.array_equal(pre[g], getattr(ref, g)), f"step {t} gate {g}"
        if not idle:
            events = list(np.nonzero(y)[0])
            want = accumulate_cycles(p, events, pass1, pass2)
            assert cycles == want, f"step {t}: {cycles} cycles, cycle function {want}"


def trace_stimulus(name: str, sample: int):
    trace = trace_for(name)
    steps = [quantize_forward(s) for s in forward_steps(trace, sample)]
    return recurrent_weights(trace), [(s.y_prev, s.input_part) for s in steps]


@pytest.mark.parametrize("name,sample", [("egru_w0.0_e1.0", 0), ("egru_w0.8_e0.1", 0), (SPIRAL, 0), (SPIRAL, 3)])
@pytest.mark.parametrize("lanes", [1, 4])
def test_golden_traces_bit_exact(name, sample, lanes):
    V, steps = trace_stimulus(name, sample)
    check(AccumulateParams(n=V["u"].shape[0], lanes=lanes), V, steps)


def random_stimulus(n: int, omega: float, rng: np.random.Generator, T: int = 4):
    fp = fx.DEFAULT
    V = {g: rng.integers(-(1 << 13), 1 << 13, (n, n)) * (rng.random((n, n)) >= omega) for g in "urz"}
    steps = []
    for density in np.linspace(0.2, 1.0, T):
        y = rng.integers(-(1 << 14), 1 << 14, n) * (rng.random(n) < density)
        inputs = {g: rng.integers(fp.pre.min // 2, fp.pre.max // 2, n) for g in "urz"}
        steps.append((y, inputs))
    return V, steps


@pytest.mark.parametrize("n,lanes,omega", [(8, 1, 0.0), (8, 3, 0.5), (12, 4, 0.8)])
def test_random_stimulus_with_backpressure(n, lanes, omega):
    V, steps = random_stimulus(n, omega, np.random.default_rng(n + lanes))
    p = AccumulateParams(n=n, lanes=lanes)
    check(p, V, steps, seed=5, idle=0.3)
    check(p, V, steps)


def test_saturation_matches_reference():
    """Full-scale weights and outputs overflow Q(16,11): block and reference saturate alike."""
    rng = np.random.default_rng(2)
    n = 6
    V = {g: np.full((n, n), (1 << 15) - 1) * rng.choice([-1, 1], (n, n)) for g in "urz"}
    y = np.full(n, (1 << 15) - 1)
    steps = [(y, {g: np.zeros(n, dtype=np.int64) for g in "urz"})]
    check(AccumulateParams(n=n, lanes=2), V, steps)
    ref = fx.accumulate_gates(y, V, steps[0][1])
    assert np.any((ref.u == fx.DEFAULT.pre.max) | (ref.u == fx.DEFAULT.pre.min))


def test_other_formats_stay_bit_exact():
    fp = fx.FixedPointConfig(
        state=fx.Fmt(12, 8), weight=fx.Fmt(12, 9), pre=fx.Fmt(14, 9), gate=fx.Fmt(12, 10), lut_bits=8
    )
    rng = np.random.default_rng(4)
    n = 6
    V = {g: rng.integers(-(1 << 10), 1 << 10, (n, n)) for g in "urz"}
    steps = [
        (rng.integers(-(1 << 10), 1 << 10, n) * (rng.random(n) < 0.6), {g: rng.integers(-500, 500, n) for g in "urz"})
    ]
    check(AccumulateParams(n=n, lanes=2, fp=fp), V, steps * 3)
