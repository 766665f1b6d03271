"""The per-quantity error table (golden.fixed_errors): each step of the integer training datapath
stays within its bound of float64 on initial networks (both resets, masked and dense) and on a
briefly trained one; the bounds are tight enough to catch a coarser datapath; the command writes
what it prints."""

from __future__ import annotations

import json

import pytest

from golden.cli import main
from golden.fixed_errors import BOUNDS, measure
from golden.train import TrainConfig, train

LOCAL = ("c", "y", "d", "G d", "Mbar", "M")


def _rows(report):
    return {r["quantity"].split(" (")[0].split(",")[0]: r for r in report["rows"]}


@pytest.mark.parametrize("n,omega,reset", [(8, 0.5, "subtractive"), (16, 0.0, "paper"), (12, 0.8, "paper")])
def test_every_step_is_within_its_bound_on_initial_networks(tmp_path, n, omega, reset):
    config = TrainConfig(numerics="fixed", n=n, omega=omega, reset=reset, seed=n)
    report = measure(config, None, 6, tmp_path)
    rows = _rows(report)
    for name in LOCAL:
        assert rows[name]["within"], rows[name]
        assert rows[name]["error"] > 0  # measured, not vacuous
    assert rows["gradient"]["within"] and rows["gradient"]["error"] > 0
    assert next(r for r in report["rows"] if r["quantity"].startswith("recurrent weights"))["within"]
    assert 0 <= report["event disagreements"] < 0.01 * report["entries"]


def test_a_trained_network_stays_within_the_step_bounds(tmp_path):
    config = TrainConfig(
        numerics="fixed", n=8, omega=0.5, batch=16, n_samples=400, iterations=60, checkpoint_every=60, eval_every=60
    )
    train(config, tmp_path / "run", progress=False)
    report = measure(config, tmp_path / "run", 4, tmp_path / "scratch")
    rows = _rows(report)
    for name in LOCAL:
        assert rows[name]["within"], rows[name]
    assert report["network"].endswith("run")


def test_the_bounds_catch_a_coarser_datapath(tmp_path):
    """Tables of 64 entries (lut_bits 6) put tanh 2^-2 off at worst: c leaves its bound."""
    config = TrainConfig(numerics="fixed", n=8, formats=("lut_bits=6",))
    rows = _rows(measure(config, None, 2, tmp_path))
    assert not rows["c"]["within"] and rows["c"]["error"] > BOUNDS["c"]


def test_the_command_writes_what_it_prints(tmp_path, capsys):
    assert main(["fixed-errors", "--n", "8", "--updates", "2", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    report = json.loads((tmp_path / "fixed_errors.json").read_text())
    assert (tmp_path / "fixed_errors.md").read_text() in printed
    assert "0 of 8 rows outside their bound" in printed and len(report["rows"]) == 8
    float_run = tmp_path / "float-run"
    assert main(["train", "--n", "8", "--iterations", "1", "--samples", "100", "--out", str(float_run)]) == 0
    assert main(["fixed-errors", "--run", str(float_run), "--out", str(tmp_path / "e")]) == 2
    assert "was trained with --numerics float; expected fixed" in capsys.readouterr().err
