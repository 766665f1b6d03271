"""Sweeps: specs refused cleanly, the default sweep's outputs, resume after interruption, hardware terms."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import yaml
from test_costmodel_table1 import transcribed

from costmodel import sweep as sweep_module
from costmodel.cli import main
from costmodel.hardware import HardwareSettings, hardware_figures, load_energy_table
from costmodel.spec import load_spec, parse_spec
from costmodel.table1 import table1

SMALL = {
    "name": "small",
    "axes": {
        "n": {"values": [16, 64]},
        "beta": {"linspace": [0, 0.9, 4]},
        "omega": {"values": [0, 0.5, 0.9]},
        "T": {"values": [10, 1000]},
    },
    "fixed": {"alpha": 0.7, "p_per_n2": 3},
    "plots": ["op_ratio", "memory_vs_n", "time_vs_n", "crossover_T", "energy_memory_pareto"],
}


def write_spec(tmp_path, data, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    "change,fragment",
    [
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
        ({"axes": {"n": {"values": [16, -4]}}}, "n = -4 is out of range"),
        ({"axes": {"beta": {"linspace": [0, 1.5, 3]}}}, "beta = 1.5 is out of range"),
        ({"axes": {"omega": {"values": [1.0]}}}, "omega = 1 is out of range"),
        ({"axes": {"n": {"values": "many"}}}, "axes.n"),
        ({"axes": {"gamma": {"values": [1]}}}, "axes.gamma"),
        ({"methods": ["rtrl", "lstm"]}, "methods[1]"),
        ({"hardware": {"lanes": 0}}, "hardware.lanes"),
        ({"hardware": {"mac": "int4"}}, "hardware.mac"),
        ({"fixed": {"alpha": 2}}, "alpha = 2 is out of range"),
        ({"plots": ["op_ratio"], "axes": {"n": {"values": [16]}}}, "plot op_ratio needs axes ['beta', 'omega']"),
        ({"axes": {"omega": {"uniform": [0, 0.5]}}}, "need a 'random: {count: N}' section"),
        ({"plots": ["learning_curves"]}, "needs golden_runs"),
    ],
)
def test_bad_spec_refused_with_key_path_and_value(tmp_path, capsys, change, fragment):
    data = {"name": "bad", **change}
    assert main(["sweep", str(write_spec(tmp_path, data)), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert fragment in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "o" / "results.csv").exists()


def test_unreadable_spec(tmp_path, capsys):
    (tmp_path / "s.yaml").write_text("name: [unclosed")
    assert main(["sweep", str(tmp_path / "s.yaml"), "--no-progress"]) == 2
    assert "not valid YAML" in capsys.readouterr().err
    assert main(["sweep", str(tmp_path / "missing.yaml"), "--no-progress"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_default_sweep(tmp_path, capsys):
    out = tmp_path / "default"
    assert main(["sweep", "--out", str(out), "--no-progress"]) == 0
    rows = list(csv.DictReader(open(out / "results.csv")))
    spec = load_spec(sweep_module.DEFAULT_SPEC)
    assert len(rows) >= 300 and len(rows) == json.loads((out / "meta.json").read_text())["rows"]
    assert {r["method"] for r in rows} == set(spec.methods)
    for name in spec.plots:
        assert (out / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    meta = json.loads((out / "meta.json").read_text())
    assert (
        meta["spec"]["name"] == "default"
        and "numpy" in meta["versions"]
        and meta["units"]["energy_pj"] == "pJ per step"
    )
    # every 97th row against the literal Table 1 transcription (the core: rtrl-both's memory words; its
    # MACs are the core's own, tests/test_costmodel_core.py)
    for r in rows[::97]:
        args = [float(r[k]) for k in ("n", "p", "T", "alpha", "beta", "omega")]
        memory, time = transcribed("rtrl-both" if r["method"] == "core" else r["method"], *args)
        assert float(r["memory"]) == pytest.approx(memory, rel=1e-9)
        if r["method"] != "core":
            assert float(r["time_per_step"]) == pytest.approx(time, rel=1e-9)
        assert float(r["p"]) == 3 * float(r["n"]) ** 2
    assert not (out / ".partial").exists()


def test_interrupted_sweep_resumes(tmp_path, monkeypatch):
    spec = parse_spec(SMALL)
    monkeypatch.setattr(sweep_module, "CHUNK_POINTS", 10)
    whole = tmp_path / "whole"
    sweep_module.run_sweep(spec, whole, progress=False)

    real = sweep_module.evaluate
    calls = {"n": 0}

    def failing(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(sweep_module, "evaluate", failing)
    cut = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):
        sweep_module.run_sweep(spec, cut, progress=False)
    assert not (cut / "results.csv").exists()
    monkeypatch.setattr(sweep_module, "evaluate", real)
    meta = sweep_module.run_sweep(spec, cut, progress=False)
    assert meta["chunks_resumed"] == 2 and meta["chunks"] == 5
    assert (cut / "results.csv").read_text() == (whole / "results.csv").read_text()


def test_random_axes_and_reference(tmp_path):
    spec = parse_spec(
        {
            **SMALL,
            "name": "rnd",
            "axes": {**SMALL["axes"], "omega": {"uniform": [0, 0.9]}},
            "random": {"count": 7, "seed": 3},
        }
    )
    points = sweep_module.DesignPoints(spec).slice(0, 10**9)
    assert len(points["n"]) == 2 * 4 * 2 * 7
    assert np.all((points["omega"] >= 0) & (points["omega"] <= 0.9)) and len(np.unique(points["omega"])) == 7
    meta = sweep_module.run_sweep(spec, tmp_path / "rnd", progress=False)
    assert meta["rows"] == 112 * 7


def test_hardware_terms():
    hw = HardwareSettings(
        lanes=4,
        clock_mhz=200,
        mac="int8",
        weight_bits=8,
        state_bits=12,
        influence_bits=24,
        index_bits=10,
        static_power_mw=2.0,
    )
    n, p, T, a, b, w = 32, 3 * 32 * 32, 50, 0.5, 0.3, 0.75
    cost = table1("rtrl-both", n, p, T, a, b, w)
    f = hardware_figures("rtrl-both", cost, n, p, w, hw)
    table = load_energy_table()
    weight_bytes = (1 - w) * p * (8 + 10) / 8
    storage = weight_bytes + cost.memory_state * 12 / 8 + cost.memory_influence * 24 / 8
    assert float(f["storage_bytes"]) == pytest.approx(storage)
    cycles = math.ceil(float(cost.time_per_step) / 4)
    assert float(f["cycles"]) == cycles and float(f["latency_us"]) == pytest.approx(cycles / 200)
    traffic = cost.forward_term * 8 / 8 + 2 * cost.memory_influence * 24 / 8
    e_access = 20 if storage <= 32768 else (100 if storage <= 1 << 20 else 1300)
    if storage <= 8192:
        e_access = 10
    energy = cost.time_per_step * (0.2 + 0.03) + traffic / 8 * e_access + 2e-3 * cycles / 200e6 * 1e12
    assert float(f["energy_pj"]) == pytest.approx(float(energy), rel=1e-12)
    assert table.mac_pj("fp32") == pytest.approx(4.6)


def test_energy_table_override(tmp_path, capsys):
    data = yaml.safe_load(open("costmodel/data/energy_45nm.yaml"))
    data["operations"]["fp16_mult"]["value"] = 2.1  # MAC 2.5 pJ instead of 1.5
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump(data))
    base = ["eval", "--method", "rtrl", "--n", "8", "--json", "--static-power-mw", "0"]
    assert main(base) == 0
    e0 = json.loads(capsys.readouterr().out)["hardware"]["energy_compute_pj"]["value"]
    assert main(base + ["--energy-table", str(path)]) == 0
    e1 = json.loads(capsys.readouterr().out)["hardware"]["energy_compute_pj"]["value"]
    assert e1 / e0 == pytest.approx(2.5 / 1.5)
    del data["operations"]["fp16_add"]
    path.write_text(yaml.safe_dump(data))
    assert main(base + ["--energy-table", str(path)]) == 2
    assert "operations.fp16_add" in capsys.readouterr().err


def test_bench_command(tmp_path, capsys):
    assert main(["bench", "--out", str(tmp_path), "--points", "20000"]) == 0
    report = json.loads((tmp_path / "bench.json").read_text())
    assert report["design_points"] == 20000 * 7 and report["points_per_second"] > 0
    assert "design points per second" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["default", "table1-paper", "fig3b-spiral", "core"])
def test_shipped_specs_run(tmp_path, name):
    spec = load_spec(sweep_module.DEFAULT_SPEC.parent / f"{name}.yaml")
    meta = sweep_module.run_sweep(spec, tmp_path, progress=False)
    for plot in spec.plots:
        assert (tmp_path / f"{plot}.png").stat().st_size > 10_000
    assert meta["rows"] == len(spec.methods) * meta["design_points"]


def test_table1_paper_spec_reproduces_worked_numbers(tmp_path):
    spec = load_spec(sweep_module.DEFAULT_SPEC.parent / "table1-paper.yaml")
    sweep_module.run_sweep(spec, tmp_path, progress=False)
    rows = list(csv.DictReader(open(tmp_path / "results.csv")))
    for r in rows:
        if r["method"] == "rtrl-activity" and float(r["beta"]) == 0.5:
            assert float(r["influence_ratio_vs_rtrl"]) == pytest.approx(0.25)
        if r["method"] == "rtrl-both" and float(r["beta"]) == 0.5 and float(r["omega"]) == 0.8:
            assert float(r["influence_ratio_vs_rtrl"]) == pytest.approx(0.01)
