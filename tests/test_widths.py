"""The widths sweep (golden.widths): its points, its tidy CSV against each run's own metrics.json
and the cost model's memory, resumption, the summary's choices on hand-made rows, and its spec
errors."""

from __future__ import annotations

import csv
import json

import pytest

from costmodel.core_memory import core_memory_bits
from golden.cli import main
from golden.fixedpoint import fixed_point
from golden.widths import WidthsSpec, points, summarise

TINY = """name: tiny
train: {n: 4, iterations: 4, batch: 8, n_samples: 100, eval_every: 2, checkpoint_every: 2}
seeds: [0, 1]
axes:
  influence: [12, 24]
  lut_bits: [6, 10]
memory_n: [16, 64]
"""


def test_points_keep_integer_bits_and_drop_repeats_of_the_defaults():
    spec = WidthsSpec(name="x", axes={"influence": [12, 24], "weight": [10], "lut_bits": [8, 10]})
    assert points(spec) == [(), ("influence=12,4",), ("weight=10,6",), ("lut_bits=8",)]
    product = WidthsSpec(name="x", axes={"influence": [12, 16], "weight": [10, 16]}, combine="product")
    assert ("influence=12,4", "weight=10,6") in points(product) and ("influence=16,8",) in points(product)
    assert len(points(product)) == 5  # the defaults and 2 x 2 combinations, 16-bit weight dropped as default


def test_widths_sweep_writes_one_row_per_run_and_resumes(tmp_path, capsys):
    spec_path = tmp_path / "tiny.yaml"
    spec_path.write_text(TINY)
    out = tmp_path / "out"
    assert main(["widths", str(spec_path), "--out", str(out), "--workers", "2", "--no-progress"]) == 0
    rows = list(csv.DictReader((out / "widths.csv").open()))
    assert len(rows) == 2 * 4  # float64, default and two non-default points, two seeds
    assert {r["point"] for r in rows} == {"float64", "default", "influence=12,4", "lut_bits=6"}
    for r in rows:
        label = f"{'float' if r['point'] == 'float64' else r['point'].replace(',', '_')}-seed{r['seed']}"
        metrics = json.loads((out / "runs" / label / "metrics.json").read_text())
        assert float(r["test_accuracy"]) == metrics["final"]["test"]["accuracy"]
        assert metrics["config"]["numerics"] == ("float" if r["point"] == "float64" else "fixed")
        assert metrics["config"]["optimizer"] == "signum" and metrics["config"]["seed"] == int(r["seed"])
        if r["point"] != "float64":
            cfg = fixed_point([] if r["point"] == "default" else [r["point"]])
            assert metrics["fixed_point"] == cfg.to_dict()
            for n in (16, 64):
                assert int(r[f"memory_bits_n{n}"]) == int(core_memory_bits(n, 2, 0.0, cfg, batch=8)["total"])
    assert (out / "widths.png").stat().st_size > 10_000
    stamps = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/checkpoint.pt")}
    capsys.readouterr()
    assert main(["widths", str(spec_path), "--out", str(out), "--no-progress"]) == 0
    assert stamps == {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/checkpoint.pt")}  # nothing retrained
    assert "8 runs; wrote" in capsys.readouterr().out


def _rows(points_acc: dict[str, list[float]], memory: dict[str, int]) -> list[dict]:
    rows = []
    for point, accs in points_acc.items():
        axis = "float64" if point == "float64" else ("default" if point == "default" else point.split("=")[0])
        for seed, acc in enumerate(accs):
            row = {"point": point, "axis": axis, "seed": seed, "test_accuracy": acc}
            row["memory_bits_n16"] = "" if point == "float64" else memory[point]
            rows.append(row)
    return rows


def test_summary_marks_the_smallest_learning_width_and_the_frontier():
    spec = WidthsSpec(name="x", axes={"influence": [12, 16, 20]}, memory_n=[16])
    accs = {
        "float64": [1.0, 0.98],  # mean 0.99: a point learns from 0.98
        "default": [0.99, 0.99],
        "influence=12,4": [0.6, 0.7],
        "influence=16,8": [0.98, 0.98],
        "influence=20,12": [0.97, 0.96],  # below 0.98 although wider: not learning
    }
    memory = {"default": 400, "influence=12,4": 100, "influence=16,8": 200, "influence=20,12": 300}
    summary = summarise(_rows(accs, memory), spec)
    within = {p.point: p.within for p in summary["points"]}
    assert within == {
        "float64": True,
        "default": True,
        "influence=12,4": False,
        "influence=16,8": True,
        "influence=20,12": False,
    }
    assert summary["smallest"]["influence"].point == "default"  # 20 bits does not learn: only 24 is safe
    assert [p.point for p in summary["frontier"]] == ["influence=12,4", "influence=16,8", "default"]
    accs["influence=20,12"] = [0.99, 0.99]
    summary = summarise(_rows(accs, memory), spec)
    assert summary["smallest"]["influence"].point == "influence=16,8"


@pytest.mark.parametrize(
    "text,message",
    [
        ("name: x\naxes: {influense: [12]}\n", "axes.influense"),
        ("name: x\naxes: {influence: [12]}\ntrain: {numerics: float}\n", "numerics are set by the sweep"),
        (
            "name: x\naxes: {influence: [6]}\n",
            "axes.influence: 6 (influence=6,-2): fixed-point format influence: frac -2",
        ),
        ("name: x\naxes: {lut_bits: [20]}\n", "lut_bits: 20, expected 1..16"),
        ("name: x\naxes: {influence: [12]}\ntrain: {lr: 0.3}\n", "train: lr: got 0.3"),
        ("name: x\naxes: {influence: []}\n", "axes.influence: no values"),
        ("name: x y\naxes: {influence: [12]}\n", "name"),
    ],
)
def test_bad_specs_are_refused_naming_the_key(tmp_path, capsys, text, message):
    spec = tmp_path / "bad.yaml"
    spec.write_text(text)
    assert main(["widths", str(spec), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert main(["widths", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err
