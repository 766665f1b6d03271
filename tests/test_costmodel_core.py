"""costmodel core: the online-learning core's expected cycles per training step composed from the
same cycle function the simulations check (rtl.core.cycles), and its memory from rtl.core.memory.
At densities whose counts are whole numbers and a mask keeping as many entries in every column as
the mean, the expectation is the cycle function summed over the sequence's steps plus the update
shared by the batch; sparser activity, sparser parameters and more lanes cost fewer cycles; bad
values are refused by name."""

from __future__ import annotations

import json

import numpy as np
import pytest

from costmodel.cli import main
from costmodel.core import core_training_step
from costmodel.errors import UserError
from rtl.blocks.params import egru_columns
from rtl.core.cycles import core_step_cycles
from rtl.core.memory import core_memory_bits
from rtl.core.params import CoreParams


def test_expectation_is_the_cycle_function_on_the_mean_pattern():
    n, T, batch = 8, 17, 32
    r = core_training_step(n, 0.5, 0.75, 0.5, T, batch, lanes=4)
    p = CoreParams(n, 2, egru_columns(n, 2, 0.5), T, batch, lanes=4)
    words = ([8] * n, [4] * n)  # 32 kept of 64 per matrix: 4 per column
    steps = [core_step_cycles(p, [0, 1] if t else [], 4 if t else 0, words, True, t == T - 1, False) for t in range(T)]
    update = core_step_cycles(p, [0, 1], 4, words, True, True, True) - steps[-1]
    assert r["cycles_per_update"] == update > 3 * p.update.parameters
    assert r["cycles_per_sequence"] == pytest.approx(sum(steps) + update / batch)
    assert r["cycles_per_training_step"] == pytest.approx(r["cycles_per_sequence"] / T)
    assert r["us_per_training_step"] == pytest.approx(r["cycles_per_training_step"] / 50.0)
    assert r["memory_bits"] == core_memory_bits(p)


def test_sparsity_and_lanes_cost_fewer_cycles():
    base = core_training_step(16, 0.5, 0.8, 0.4, 17)["cycles_per_training_step"]
    assert core_training_step(16, 0.5, 0.8, 0.8, 17)["cycles_per_training_step"] < base  # fewer sources
    assert core_training_step(16, 0.9, 0.8, 0.4, 17)["cycles_per_training_step"] < base  # fewer columns
    assert core_training_step(16, 0.5, 0.8, 0.4, 17, lanes=8)["cycles_per_training_step"] < base


def test_cli_prints_and_refuses(capsys):
    assert main(["core", "--n", "8", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["memory_bits"]["total"] > 0 and r["cycles_per_training_step"] > 0
    assert main(["core", "--n", "8"]) == 0
    assert "cycles per training step" in capsys.readouterr().out
    assert main(["core", "--n", "8", "--beta", "1.5"]) == 2
    assert "--beta: got 1.5" in capsys.readouterr().err


def _work_by_step(n, omega, alpha, beta, T, batch, lanes):
    """MACs and memory bits of a sequence counted step by step (the closed form's independent twin)."""
    p = CoreParams(n, 2, egru_columns(n, 2, omega), T, batch, lanes=lanes)
    fp, C, L, Q = p.fp, p.influence.chunks, p.lanes, p.update.parameters
    kept = 3 * (n * n - round(omega * n * n)) // (3 * n)  # entries per column and matrix (whole here)
    events, sources = round((1 - alpha) * n), round((1 - beta) * n)
    entry = p.accumulate.slot_bits + fp.weight.width + 3
    macs = bits = 0.0
    for t in range(T):
        acc = events * 3 * kept if t else 0  # V_u, V_r then V_z words of each event's column
        lane = n * C * L * ((sources if t else 0) + 1)
        macs += 3 * n * 2 + acc + lane + (2 * n if t == T - 1 else 0)
        bits += acc * entry + lane * (fp.influence.width + fp.coef.width)
        bits += n * C * L * (fp.influence.width + 2 * p.gradient.acc_width)
    macs += Q / batch
    bits += 2 * Q * (fp.master.width + fp.grad.width) / batch
    return macs / T, bits / T, p


def test_sweep_method_core_is_the_cycle_function_memory_and_priced_work():
    """Method core of a sweep: cycles and latency from core_training_step, storage from
    rtl.core.memory, MACs and traffic as counted step by step, energy priced from the table."""
    from costmodel.hardware import HardwareSettings, load_energy_table
    from costmodel.model import evaluate

    hw = HardwareSettings(lanes=4, clock_mhz=20.0, mac="int8", static_power_mw=2.0)
    points = {
        "n": np.array([8, 8, 16]),
        "p": np.array([192, 192, 768]),
        "T": np.array([17, 5, 17]),
        "alpha": np.array([0.75, 0.5, 0.75]),
        "beta": np.array([0.5, 0.25, 0.5]),
        "omega": np.array([0.5, 0.5, 0.75]),
    }
    table = evaluate(["rtrl-both", "core"], points, hw)
    core = table["method"] == "core"
    energy = load_energy_table()
    for i, (n, T, alpha, beta, omega) in enumerate(
        zip(points["n"], points["T"], points["alpha"], points["beta"], points["omega"], strict=True)
    ):
        r = core_training_step(int(n), omega, alpha, beta, int(T), 32, lanes=4, clock_mhz=20.0)
        macs, bits, p = _work_by_step(int(n), omega, alpha, beta, int(T), 32, 4)
        row = {k: v[core][i] for k, v in table.items()}
        assert row["cycles"] == pytest.approx(r["cycles_per_training_step"])
        assert row["latency_us"] == pytest.approx(r["cycles_per_training_step"] / 20.0)
        assert row["storage_bytes"] * 8 == pytest.approx(core_memory_bits(p)["total"])
        assert row["time_per_step"] == pytest.approx(macs)
        assert row["influence_term"] == pytest.approx(
            n * p.influence.chunks * 4 * (1 + (T - 1) * (1 + (1 - beta) * n)) / T
        )
        assert row["traffic_bytes"] == pytest.approx(bits / 8)
        access = energy.access_pj_per_64bit(energy.memory_class(np.array([row["storage_bytes"]])))[0]
        static = 2.0e-3 * r["cycles_per_training_step"] / 20e6 * 1e12
        assert row["energy_pj"] == pytest.approx(macs * (0.2 + 0.03) + bits / 64 * access + static)
    rtrl_both = table["method"] == "rtrl-both"
    assert np.array_equal(table["memory"][core], table["memory"][rtrl_both])  # the algorithm's words
    # the EGRU's exact saving is smaller than Table 1's: every row of M is updated, sources only thin terms
    assert np.all(table["influence_ratio_vs_rtrl"][core] > table["influence_ratio_vs_rtrl"][rtrl_both])


def test_sweep_spec_takes_the_core_and_refuses_a_batch_that_is_no_power_of_two():
    from costmodel.spec import parse_spec

    spec = parse_spec({"name": "c", "methods": ["rtrl", "core"], "hardware": {"core_batch": 8}})
    assert spec.methods == ["rtrl", "core"] and spec.hardware.settings().core_batch == 8
    with pytest.raises(UserError, match=r"hardware.core_batch.*got 12; expected a power of two"):
        parse_spec({"name": "c", "methods": ["core"], "hardware": {"core_batch": 12}})


def test_sweep_core_lanes_beyond_its_columns_are_nan():
    from costmodel.hardware import HardwareSettings
    from costmodel.model import evaluate

    points = {k: np.array([v]) for k, v in dict(n=4, p=48, T=5, alpha=0.5, beta=0.5, omega=0.5).items()}
    table = evaluate(["core"], points, HardwareSettings(lanes=64))
    assert np.isnan(table["cycles"][0]) and np.isnan(table["energy_pj"][0])
