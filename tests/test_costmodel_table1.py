"""Table 1: pinned worked numbers, the CLI against a literal transcription, monotonicity properties."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel.cli import main
from costmodel.table1 import METHODS, SPARSE_RTRL, table1


def transcribed(method, n, p, T, a, b, w):
    """Table 1 typed in again from the paper (x~ = 1 - x), independent of costmodel.table1."""
    A, B, W = 1 - a, 1 - b, 1 - w
    return {
        "bptt": (T * n + p, n * n + p),
        "rtrl": (n + n * p, n * n + n * n * p),
        "rtrl-param": (n + W * n * p, W * n * n + W * W * n * n * p),
        "rtrl-activity": (A * n + B * n * p, A * n * n + B * B * n * n * p),
        "rtrl-both": (A * n + W * B * n * p, W * A * n * n + W * W * B * B * n * n * p),
        "snap1": (n + W * p, W * n * n + W * p),
        "snap2": (n + W * W * n * p, W * n * n + W**3 * n * n * p),
    }[method]


def test_paper_worked_numbers():
    n, p = 100, 100 * 100
    dense = table1("rtrl", n, p, 10, 0, 0, 0).influence_term
    assert table1("rtrl-activity", n, p, 10, 0, 0.5, 0).influence_term / dense == pytest.approx(0.25, rel=1e-12)
    assert table1("rtrl-both", n, p, 10, 0, 0.5, 0.8).influence_term / dense == pytest.approx(0.01, rel=1e-12)


def test_eval_json_matches_table1_at_random_points(capsys):
    rng = np.random.default_rng(7)
    for _ in range(10):
        n = int(rng.integers(1, 2000))
        p = float(rng.integers(1, 10**7))
        T = float(rng.integers(1, 10**5))
        a, b, w = rng.random(), rng.random(), rng.random() * 0.999
        for method in METHODS:
            assert (
                main(
                    [
                        "eval",
                        "--method",
                        method,
                        "--n",
                        str(n),
                        "--p",
                        repr(p),
                        "--T",
                        repr(T),
                        "--alpha",
                        repr(a),
                        "--beta",
                        repr(b),
                        "--omega",
                        repr(w),
                        "--json",
                    ]
                )
                == 0
            )
            out = json.loads(capsys.readouterr().out)
            memory, time = transcribed(method, n, p, T, a, b, w)
            assert out["method"] == method
            assert out["memory"] == pytest.approx(memory, rel=1e-9)
            assert out["time_per_step"] == pytest.approx(time, rel=1e-9)
            assert out["forward_term"] + out["influence_term"] == pytest.approx(time, rel=1e-9)
            assert out["hardware"]["energy_pj"]["unit"] == "pJ per step"


densities = st.floats(0.0, 0.99)


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(1, 4096),
    p_per=st.floats(0.1, 4),
    T=st.integers(1, 10**5),
    a=densities,
    b=densities,
    w=densities,
    which=st.sampled_from(["alpha", "beta", "omega"]),
    step=st.floats(1e-3, 0.5),
)
def test_costs_never_rise_with_sparsity(n, p_per, T, a, b, w, which, step):
    p = p_per * n * n
    base = {"alpha": a, "beta": b, "omega": w}
    more = dict(base)
    more[which] = min(base[which] + step, 0.995)
    for method in METHODS:
        c0 = table1(method, n, p, T, **base)
        c1 = table1(method, n, p, T, **more)
        assert c1.time_per_step <= c0.time_per_step * (1 + 1e-12)
        assert c1.memory <= c0.memory * (1 + 1e-12)


DEPENDS = {  # which densities each method's Table 1 time per step depends on
    "bptt": set(),
    "rtrl": set(),
    "rtrl-param": {"omega"},
    "rtrl-activity": {"alpha", "beta"},
    "rtrl-both": {"alpha", "beta", "omega"},
    "snap1": {"omega"},
    "snap2": {"omega"},
}


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(2, 4096),
    T=st.integers(1, 10**5),
    a=st.floats(0.0, 0.9),
    b=st.floats(0.0, 0.9),
    w=st.floats(0.0, 0.9),
    which=st.sampled_from(["alpha", "beta", "omega"]),
    step=st.floats(0.01, 0.09),
)
def test_costs_fall_strictly_with_each_density_they_depend_on(n, T, a, b, w, which, step):
    base = {"alpha": a, "beta": b, "omega": w}
    more = {**base, which: base[which] + step}
    for method in METHODS:
        c0, c1 = table1(method, n, n * n, T, **base), table1(method, n, n * n, T, **more)
        if which in DEPENDS[method]:
            assert c1.time_per_step < c0.time_per_step
        else:
            assert c1.time_per_step == c0.time_per_step


@pytest.mark.parametrize("method", SPARSE_RTRL)
def test_sparse_rtrl_equals_rtrl_at_zero_sparsity(method):
    for n in (1, 16, 300):
        a, b = table1(method, n, 3 * n * n, 50, 0, 0, 0), table1("rtrl", n, 3 * n * n, 50, 0, 0, 0)
        assert a.memory == b.memory and a.time_per_step == b.time_per_step


def test_snap_is_not_rtrl_at_zero_sparsity():
    assert table1("snap1", 16, 256, 1, 0, 0, 0).time_per_step != table1("rtrl", 16, 256, 1, 0, 0, 0).time_per_step


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["--n", "0"], "--n: got 0"),
        (["--n", "16", "--omega", "1"], "--omega: got 1"),
        (["--n", "16", "--beta", "1.5"], "--beta: got 1.5"),
        (["--n", "16", "--alpha", "nan"], "--alpha: got nan"),
        (["--n", "16", "--method", "lstm"], "unknown method 'lstm'"),
        (["--workload", "nope"], "unknown workload 'nope'"),
        (["--workload", "egru-dvs-512"], "has no sequence length"),
        (["--n", "16", "--mac", "int4"], "hardware.mac: got 'int4'"),
        (["--n", "16", "--lanes", "0"], "hardware.lanes: got 0"),
        ([], "--n: required"),
    ],
)
def test_eval_bad_values(capsys, args, fragment):
    assert main(["eval", *args]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1 and err.startswith("costmodel: error:")


def test_workload_shows_paper_numbers_beside_ours(capsys):
    assert main(["eval", "--workload", "egru-ptb-1350", "--method", "rtrl-both", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["n"], out["T"], out["alpha"], out["beta"]) == (1350, 68, 0.797, 0.463)
    w = out["workload"]
    assert w["paper"]["backward_sparsity"] == 0.463 and "approximate BPTT" in w["paper"]["note"]
    assert w["table1_rtrl_both_influence_ratio"] == pytest.approx((1 - 0.463) ** 2, rel=1e-12)
    # exact EGRU: n |S| p_kept + n with |S| = n (1 - beta), over n^2 p (omega 0: p_kept = p, all the
    # EGRU's parameters: 3 n^2 + 3 n n_in + 4 n), for T - 1 of T steps (M_0 = 0 reads nothing)
    n, n_in, beta = 1350, 788, 0.463
    p = 3 * n * n + 3 * n * n_in + 4 * n
    src = n * (1 - beta)
    assert w["exact_egru_influence_ratio"] == pytest.approx((n * src * p + n) / (n * n * p) * 67 / 68, rel=1e-9)
