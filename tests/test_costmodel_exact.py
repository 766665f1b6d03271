"""Exact accounting equals what golden counts, per step and sample; statistical mode is close."""

from __future__ import annotations

import json

import pytest
from conftest import CELL_VARIANTS, make_problem

from costmodel.cli import main
from costmodel.exact import exact_counts, expected_counts
from golden.cells import make_cell
from golden.rtrl import run_rtrl


@pytest.mark.parametrize("cell,reset", CELL_VARIANTS)
@pytest.mark.parametrize("omega", [0.0, 0.5, 0.9])
def test_exact_equals_golden_counters(cell, reset, omega):
    params, x, credits = make_problem(cell, reset, n=11, n_in=3, T=14, B=3, omega=omega, epsilon=0.4, seed=5)
    x[3, 1] = 0.0  # a silent input step, so effective MACs see a zero operand
    out_key = make_cell(params.config).output_key
    runs = {m: run_rtrl(params, x, credits, mode=m, keep_records=True) for m in ("dense", "sparse")}
    rec = runs["sparse"].records
    predicted = exact_counts(
        cell,
        {k: v.numpy() for k, v in params.masks.items()},
        (x != 0).numpy(),
        (rec[out_key] != 0).numpy(),
        (rec["d"] != 0).numpy(),
    )
    for mode, run in runs.items():
        for field, value in predicted[mode].items():
            assert (value == run.counters.per_step[field]).all(), (mode, field)


def test_statistical_mode_close_on_long_runs():
    params, x, credits = make_problem("egru", n=32, n_in=3, T=60, B=4, omega=0.5, epsilon=0.4, seed=2)
    run = run_rtrl(params, x, credits, mode="sparse")
    c = run.counters
    exp = expected_counts("egru", 32, 3, 60, c.mean("alpha"), c.mean("beta"), 0.5)["sparse"]
    for field in ("influence_macs", "forward_macs", "influence_stored", "gradient_macs", "immediate_macs"):
        measured = c.total(field) / 4
        assert exp[field] == pytest.approx(measured, rel=0.05), field


def test_validate_command_reports_zero_exact_error(tmp_path, capsys):
    assert main(["validate", "--out", str(tmp_path), "--n", "8", "--T", "8", "--batch", "2", "--no-progress"]) == 0
    report = json.loads((tmp_path / "validate.json").read_text())
    assert report["exact_ok"] and report["exact_worst_abs_error"] == 0
    assert len(report["cases"]) == 30
    egru = [c for c in report["cases"] if c["cell"] == "egru" and c["omega"] == 0.5]
    assert all(c["influence_ratio_measured"] > c["influence_ratio_table1"] for c in egru)  # the EGRU departs
    assert "Exact mode: worst absolute error" in capsys.readouterr().out
