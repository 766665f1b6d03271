"""`python -m rtl sweep`: the fitted resource model on synthetic linear data (exact), on a small real
router sweep (resumable: a second run synthesises nothing), and its CLI output."""

from __future__ import annotations

import csv

import pytest

import rtl.synth_sweep as sweep
from rtl.cli import main


def test_fit_recovers_a_linear_model_exactly():
    rows = [
        {"block": "b", "device": "d", "n": n, "lanes": L, "luts": 7 + 3 * n + 5 * L + 2 * n * L, "ffs": 10 * n}
        for n in (2, 4, 6, 8)
        for L in (1, 2, 4)
    ]
    fits = sweep.fit(rows, hold_out_n=[6])
    luts = fits["b"]["d"]["luts"]
    assert luts["coefficients"] == pytest.approx([7, 3, 5, 2], abs=1e-9)
    assert luts["max_error"] == pytest.approx(0, abs=1e-12)
    assert [e["n"] for e in luts["held_back"]] == [6, 6, 6]


def test_small_router_sweep_resumes(tmp_path, monkeypatch, capsys):
    argv = ["sweep", "--blocks", "router", "--devices", "ice40-up5k", "--n", "2", "3", "4", "5", "6"]
    argv += ["--lanes", "1", "2", "--hold-out-n", "4", "--out", str(tmp_path), "--no-progress"]
    assert main(argv) == 0
    rows = list(csv.DictReader(open(tmp_path / "resources.csv")))
    assert len(rows) == 5 * 2
    out = capsys.readouterr().out
    assert "router on ice40-up5k: model error on held-back points: luts max" in out
    fit = (tmp_path / "fit.json").read_text()
    assert '"max_error"' in fit and (tmp_path / "resources.png").stat().st_size > 5000

    def refuse(*_, **__):
        raise AssertionError("a resumed sweep must not synthesise finished points")

    monkeypatch.setattr(sweep, "block_resources", refuse)
    assert main(argv) == 0


def test_sweep_bad_device(tmp_path):
    assert main(["sweep", "--devices", "xc7", "--out", str(tmp_path)]) == 2
