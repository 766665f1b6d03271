"""The fixed-point contract (golden.fixedpoint): rounding, saturation, range errors, the sigmoid
table, and the integer reference's error against the float golden model on real traces, within
the bounds the README states."""

from __future__ import annotations

import numpy as np
import pytest

from golden import fixedpoint as fx
from golden.errors import UserError
from golden.hw_stimulus import (
    forward_steps,
    influence_float,
    influence_steps,
    quantize_forward,
    quantize_influence,
    recurrent_weights,
)
from tests.rtl_traces import SPIRAL, trace_for

TRACES = ["egru_w0.0_e1.0", "egru_w0.8_e0.1", "egru_w0.0_e0.1", "trnn_w0.0_e1.0", "trnn_w0.8_e1.0", SPIRAL]


def test_round_half_up_and_saturate():
    q = np.array([-7, -6, -5, -3, -2, -1, 0, 1, 2, 3, 5, 6])
    # q / 4 rounded half up: -1.75 -> -2, -1.5 -> -1, -1.25 -> -1, -0.75 -> -1, -0.5 -> 0, ...
    assert fx.round_shift(q, 2).tolist() == [-2, -1, -1, -1, 0, 0, 0, 0, 1, 1, 1, 2]
    with fx.counting_saturations() as clipped:
        assert fx.saturate(np.array([-9, -8, 7, 8, 30]), fx.Fmt(4, 0), "q").tolist() == [-8, -8, 7, 7, 7]
    assert clipped == {"q": 3}


def test_to_fixed_rounds_and_names_the_signal():
    f = fx.Fmt(8, 4)
    assert fx.to_fixed("x", np.array([0.03125, -0.03125, 1.0]), f).tolist() == [1, 0, 16]
    with pytest.raises(fx.FixedPointRangeError, match=r"weights: value 8 does not fit Q\(8,4\)"):
        fx.to_fixed("weights", np.array([0.5, 8.0]), f)
    with pytest.raises(fx.FixedPointRangeError, match="non-finite"):
        fx.to_fixed("d", np.array([np.nan]), f)


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"state": fx.Fmt(1, 0)}, "state: width 1"),
        ({"coef": fx.Fmt(18, 18)}, "coef: frac 18"),
        ({"lut_bits": 0}, "lut_bits"),
    ],
)
def test_config_rejects_bad_formats(kwargs, field):
    with pytest.raises(UserError, match=field):
        fx.FixedPointConfig(**kwargs)


def test_sigmoid_table_error():
    """The table value is within slope (1/4) x half a bucket plus half an LSB of the true sigmoid."""
    cfg = fx.DEFAULT
    pre = np.arange(cfg.pre.min, cfg.pre.max + 1, 7)
    got = cfg.gate.to_float(fx.sigmoid_lookup(pre, cfg))
    true = 1 / (1 + np.exp(-cfg.pre.to_float(pre)))
    bucket = 2.0 ** (cfg.pre.width - cfg.lut_bits) * cfg.pre.lsb
    assert np.abs(got - true).max() <= bucket / 8 + cfg.gate.lsb / 2
    assert np.all(np.diff(fx.sigmoid_table(cfg)[: 1 << (cfg.lut_bits - 1)]) >= 0)


def test_influence_reference_on_hand_example():
    """decay 0.5, one source (coef 0.25 = G 0.5 x d 0.5), Mbar 1 LSB: every rounding visible."""
    cfg = fx.DEFAULT
    one_c, one_m = 1 << cfg.coef.frac, 1 << cfg.influence.frac
    M_prev = np.array([[one_m, 3], [2 * one_m, -3]])
    out = fx.influence_step(
        M_prev,
        decay=np.array([one_c // 2, 0]),
        sources=np.array([1]),
        d_src=np.array([1 << (cfg.deriv.frac - 1)]),
        G_cols=np.array([[one_c // 2], [one_c]]),
        Mbar=np.array([[0, 1], [0, 0]]),
        rows=np.array([True, True]),
    )
    # row 0: 0.5 * 1 + 0.25 * 2 = 1; 0.5 * 3 + 0.25 * (-3) + 1 = 1.75 LSB -> 2 (half up)
    # row 1: 0.5 * 2 = 1; 0.5 * (-3) = -1.5 LSB -> -1
    assert out.tolist() == [[one_m, 2], [one_m, -1]]


@pytest.mark.parametrize("name", TRACES)
def test_influence_error_bound(name):
    """|M_int - M_float| <= 2^-12 over T <= 10 steps (README: fixed-point bounds)."""
    trace = trace_for(name)
    for sample in range(trace.meta["B"]):
        steps = influence_steps(trace, sample)
        M = np.zeros(steps[0].Mbar.shape, dtype=np.int64)
        for s, M_float in zip(steps, influence_float(steps)):
            q = quantize_influence(s)
            M = fx.influence_step(M, q.decay, q.sources, q.d_src, q.G_cols, q.Mbar, q.rows)
            assert np.abs(fx.DEFAULT.influence.to_float(M) - M_float).max() <= 2**-12


@pytest.mark.parametrize("name", [t for t in TRACES if not t.startswith("trnn")])
def test_gate_accumulation_error_bound(name):
    """|a_u|, |a_r| errors <= 2^-9; |a_z| error <= 2^-9 + 2^-8 sum_j |V_z[k, j] y_j| (the sigmoid
    table's r error of at most 2^-8 enters through V_z)."""
    trace = trace_for(name)
    V = recurrent_weights(trace)
    V_z = trace.params().effective()["V_z"].numpy()
    for sample in range(trace.meta["B"]):
        for step in forward_steps(trace, sample):
            q = quantize_forward(step)
            got = fx.accumulate_gates(q.y_prev, V, q.input_part)
            err = {g: np.abs(fx.DEFAULT.pre.to_float(getattr(got, g)) - step.pre[g]) for g in "urz"}
            assert err["u"].max() <= 2**-9 and err["r"].max() <= 2**-9
            assert np.all(err["z"] <= 2**-9 + 2**-8 * np.abs(V_z) @ np.abs(step.y_prev))


def test_trace_too_wide_for_format_is_an_error():
    """The spiral network's V_u reaches 4.26: a Q(8,5) weight format (range +-4) is refused by name."""
    with pytest.raises(
        fx.FixedPointRangeError, match=r"V_u \(recurrent weights\): value 4.26\d* does not fit Q\(8,5\)"
    ):
        recurrent_weights(trace_for(SPIRAL), fx.FixedPointConfig(weight=fx.Fmt(8, 5)))


def test_a_description_without_a_newer_format_reads_as_the_configuration_it_was():
    """capacity.json files written before `const` existed still merge with runs at the default widths."""
    from golden.fixedpoint import DEFAULT, FixedPointConfig, Fmt

    older = {k: v for k, v in DEFAULT.to_dict().items() if k != "const"}
    assert FixedPointConfig.from_dict(older) == DEFAULT
    assert FixedPointConfig.from_dict(DEFAULT.to_dict()) == DEFAULT
    changed = {**older, "influence": {"width": 20, "frac": 14}}
    assert FixedPointConfig.from_dict(changed).influence == Fmt(20, 14)
    with pytest.raises(Exception, match="unknown signal 'colour'"):
        FixedPointConfig.from_dict({**older, "colour": 3})


@pytest.mark.parametrize("a_width,b_width,k", [(18, 24, 16), (18, 24, 2047), (24, 28, 7), (26, 28, 4), (30, 30, 16)])
def test_exact_matmul_equals_the_integer_product(a_width, b_width, k):
    """Full-scale words (every entry at or near a format's extreme, so partial sums reach the bound)
    through exact_matmul against Python's integers: equal, on both sides of the 2^53 limit."""
    rng = np.random.default_rng(k)
    lo_a, hi_a = -(1 << (a_width - 1)), (1 << (a_width - 1)) - 1
    lo_b, hi_b = -(1 << (b_width - 1)), (1 << (b_width - 1)) - 1
    a = rng.choice([lo_a, hi_a, lo_a + 1, hi_a - 1], size=(3, 4, k)).astype(np.int64)
    b = rng.choice([lo_b, hi_b, lo_b + 3], size=(3, k, 5)).astype(np.int64)
    a[0, 0, :], b[0, :, 0] = lo_a, lo_b  # one output at the largest magnitude the words allow
    want = [
        [[sum(int(a[i, r, j]) * int(b[i, j, c]) for j in range(k)) for c in range(5)] for r in range(4)]
        for i in range(3)
    ]
    got = fx.exact_matmul(a, b, a_width, b_width)
    assert got.dtype == np.int64 and got.tolist() == want
    assert abs(want[0][0][0]) == k << (a_width + b_width - 2)
