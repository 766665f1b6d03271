"""The integer cell unit (golden.fixed_cell) against two independent computations:

- exact rational arithmetic (Fractions) on the same integers, rounded half up and saturated once:
  every output word must be equal, bit for bit (c, o, y, H', d, su, sr, dz);
- the float functions the tables stand for: u, r within 2^-8 (+ half a gate LSB) of the sigmoid of
  their pre-activation, z within 2^-6 of its tanh, H' within the constants' quantisation of the
  float pseudo-derivative.

Runs over a random EGRU (both resets) and the spiral-trained network's trace, step by step with the
integer state carried (the cell's own recurrence)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from golden.fixed_cell import PseudoDerivative, cell_step, tanh_lookup, tanh_table
from golden.fixedpoint import DEFAULT, FixedPointConfig, Fmt, sigmoid_lookup, to_fixed
from golden.trace import load_trace
from tests.rtl_traces import SPIRAL_PATH


def _exact_round(value: Fraction, fmt: Fmt) -> int:
    """round half up to fmt's grid, then saturate: the contract's one rounding, in rationals."""
    q = math.floor(value * 2**fmt.frac + Fraction(1, 2))
    return min(max(q, fmt.min), fmt.max)


def _network(source: str, reset: str, cfg: FixedPointConfig):
    """(V, input parts per step [T][gate], theta, gamma, epsilon) as integers."""
    if source == "spiral":
        trace = load_trace(SPIRAL_PATH)
        arrays, meta = trace.arrays, trace.meta
        b = 0
        x = arrays["x"][:, b]
        P = {k: arrays[k] for k in ("W_u", "W_r", "W_z", "V_u", "V_r", "V_z", "b_u", "b_r", "b_z", "theta")}
        masks = {k: arrays[f"mask_{k}"] for k in ("V_u", "V_r", "V_z")}
        gamma, epsilon = meta["gamma"], meta["epsilon"]
    else:
        rng = np.random.default_rng(3)
        n, n_in, T = 12, 3, 30
        P = {f"W_{g}": rng.uniform(-1, 1, (n, n_in)) for g in "urz"}
        P.update({f"V_{g}": rng.uniform(-1.2, 1.2, (n, n)) for g in "urz"})
        P.update({f"b_{g}": rng.uniform(-0.5, 0.5, n) for g in "urz"})
        P["theta"] = rng.uniform(0.05, 0.6, n)
        masks = {f"V_{g}": rng.random((n, n)) > 0.3 for g in "urz"}
        x = rng.normal(0, 1.5, (T, n_in))
        gamma, epsilon = 0.7, 0.3
    V = {g: to_fixed(f"V_{g}", P[f"V_{g}"] * masks[f"V_{g}"], cfg.weight) for g in "urz"}
    inputs = [
        {g: to_fixed(f"input {g}", P[f"W_{g}"] @ x[t] + P[f"b_{g}"], cfg.pre) for g in "urz"} for t in range(len(x))
    ]
    return V, inputs, to_fixed("theta", P["theta"], cfg.state), gamma, epsilon


def _run(source: str, reset: str, cfg: FixedPointConfig = DEFAULT):
    V, inputs, theta, gamma, epsilon = _network(source, reset, cfg)
    h = PseudoDerivative.of(gamma, epsilon, cfg)
    n = len(theta)
    c, y, o = (np.zeros(n, dtype=np.int64) for _ in range(3))
    steps = []
    for part in inputs:
        step = cell_step(c, y, o, V, part, theta, h, subtractive=reset == "subtractive", cfg=cfg)
        steps.append((c, y, o, step))
        c, y, o = step.c, step.y, step.o
    return steps, theta, h, gamma, epsilon


CASES = [("random", "paper"), ("random", "subtractive"), ("spiral", "paper")]


NARROW = FixedPointConfig(state=Fmt(12, 7), gate=Fmt(12, 10), coef=Fmt(14, 10), deriv=Fmt(14, 10), const=Fmt(14, 8))


@pytest.mark.parametrize("source,reset,cfg", [*[(*c, DEFAULT) for c in CASES], ("random", "paper", NARROW)])
def test_cell_unit_is_bit_exact_against_rational_arithmetic(source, reset, cfg):
    steps, theta, h, _, _ = _run(source, reset, cfg)
    g, s, f = cfg.gate.frac, cfg.state.frac, cfg.deriv.frac
    F = Fraction
    events = 0
    for prev_c, prev_y, prev_o, st in steps:
        for k in range(len(theta)):
            u, z = F(int(st.u[k]), 2**g), F(int(st.z[k]), 2**g)
            cp, yp = F(int(prev_c[k]), 2**s), F(int(prev_y[k]), 2**s)
            th = F(int(theta[k]), 2**s)
            if reset == "subtractive":
                c = u * z + (1 - u) * (cp - th * int(prev_o[k]))
            else:
                c = u * z + (1 - u) * cp - yp
            assert st.c[k] == _exact_round(c, cfg.state)
            cq = F(int(st.c[k]), 2**s)
            o = int(cq - th > 0)
            assert st.o[k] == o and st.y[k] == st.c[k] * o
            events += o
            gamma, slope = F(h.gamma, 2**cfg.const.frac), F(h.slope, 2**cfg.const.frac)
            dH = _exact_round(max(F(0), gamma - slope * abs(cq - th)), cfg.deriv)
            assert st.dH[k] == dH
            assert st.d[k] == _exact_round(o + cq * F(dH, 2**f), cfg.deriv)
            r = F(int(st.r[k]), 2**g)
            assert st.su[k] == _exact_round(u * (1 - u), cfg.coef)
            assert st.sr[k] == _exact_round(r * (1 - r), cfg.coef)
            assert st.dz[k] == _exact_round(1 - z * z, cfg.coef)
    assert 0 < events < len(steps) * len(theta)  # the run has events, and silent units


@pytest.mark.parametrize("source,reset", CASES)
def test_tables_and_constants_stay_within_their_bounds(source, reset):
    cfg = DEFAULT
    steps, theta, h, gamma, epsilon = _run(source, reset, cfg)
    bucket = 2.0 ** (cfg.pre.width - cfg.lut_bits) * cfg.pre.lsb  # 2^-5
    half_gate = cfg.gate.lsb / 2
    sig_bound = bucket / 2 / 4 + half_gate  # sigmoid slope <= 1/4
    tanh_bound = bucket / 2 + half_gate  # tanh slope <= 1
    worst = {"u": 0.0, "r": 0.0, "z": 0.0, "dH": 0.0}
    for _, _, _, st in steps:
        a_u, a_r, a_z = (cfg.pre.to_float(a) for a in (st.a_u, st.a_r, st.a_z))
        worst["u"] = max(worst["u"], np.abs(cfg.gate.to_float(st.u) - 1 / (1 + np.exp(-a_u))).max())
        worst["r"] = max(worst["r"], np.abs(cfg.gate.to_float(st.r) - 1 / (1 + np.exp(-a_r))).max())
        worst["z"] = max(worst["z"], np.abs(cfg.gate.to_float(st.z) - np.tanh(a_z)).max())
        v = cfg.state.to_float(st.c - theta)
        exact = gamma * np.maximum(0.0, 1 - np.abs(v) / epsilon)
        # |gamma_q - gamma| and |slope_q - slope| <= half a const LSB; one rounding to deriv
        bound = cfg.const.lsb / 2 * (1 + np.abs(v)) + cfg.deriv.lsb / 2
        assert np.all(np.abs(cfg.deriv.to_float(st.dH) - exact) <= bound + 1e-15)
        worst["dH"] = max(worst["dH"], np.abs(cfg.deriv.to_float(st.dH) - exact).max())
    assert worst["u"] <= sig_bound and worst["r"] <= sig_bound and worst["z"] <= tanh_bound, worst
    assert worst["z"] > 0.25 * tanh_bound  # the bound is not loose by orders of magnitude


def test_tanh_table_holds_bucket_centres_and_is_odd():
    table = tanh_table(DEFAULT)
    assert len(table) == 1 << DEFAULT.lut_bits
    bucket = 2 ** (DEFAULT.pre.width - DEFAULT.lut_bits)
    pre = np.array([0, bucket - 1, bucket, -1, -bucket, DEFAULT.pre.max, DEFAULT.pre.min])
    centres = (np.floor(pre / bucket) + 0.5) * bucket * DEFAULT.pre.lsb
    assert np.array_equal(tanh_lookup(pre), to_fixed("t", np.tanh(centres), DEFAULT.gate))
    # bucket i and bucket -1 - i are mirror images: tanh is odd, so their entries sum to 0
    i = np.arange(1 << (DEFAULT.lut_bits - 1))
    assert np.all(np.abs(table[i] + table[(1 << DEFAULT.lut_bits) - 1 - i]) <= 1)
    assert np.array_equal(
        sigmoid_lookup(np.array([0])), to_fixed("s", [1 / (1 + math.exp(-bucket / 2 * DEFAULT.pre.lsb))], DEFAULT.gate)
    )


def test_constants_that_do_not_fit_are_refused():
    with pytest.raises(Exception, match="gamma / epsilon"):
        PseudoDerivative.of(0.7, 0.01)  # 70 > const's range of +-32
    h = PseudoDerivative.of(0.7, 1.0, NARROW)
    assert (h.gamma, h.slope) == (round(0.7 * 256), round(0.7 * 256))
