"""`python -m rtl sweep`: the fitted resource model on synthetic linear data (exact), on a small real
router sweep (resumable: a second run synthesises nothing), and its CLI output."""

from __future__ import annotations

import csv
import json
import re

import pytest

import rtl.fpga.synth_sweep as sweep
from golden.fixedpoint import fixed_point
from rtl.blocks.params import RouterParams
from rtl.cli import main


def test_fit_recovers_a_linear_model_exactly():
    rows = [
        {"format": "default", "block": "b", "device": "d", "n": n, "lanes": L, "columns": 0}
        | {"luts": 7 + 3 * n + 5 * L + 2 * n * L, "ffs": 10 * n}
        for n in (2, 4, 6, 8)
        for L in (1, 2, 4)
    ]
    fits = sweep.fit(rows, hold_out_n=[6])
    luts = fits["default"]["b"]["d"]["luts"]
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


def test_place_adds_fmax_to_synthesised_points(tmp_path, monkeypatch):
    """A resources-only sweep, then --place: each point gets nextpnr's Fmax (the figure in its own
    log) and the counts stay; a second --place run places nothing."""
    base = ["sweep", "--blocks", "router", "--devices", "ice40-up5k", "--n", "2", "3", "--lanes", "1"]
    base += ["--hold-out-n", "3", "--out", str(tmp_path), "--no-progress"]
    assert main(base) == 0
    before = {r["n"]: r for r in sweep.read_rows(tmp_path / "resources.csv")}
    assert all(r["placed"] == "" and r["fmax_mhz"] is None for r in before.values())
    assert main([*base, "--place"]) == 0
    after = {r["n"]: r for r in sweep.read_rows(tmp_path / "resources.csv")}
    for n, row in after.items():
        assert row["placed"] == "yes" and row["luts"] == before[n]["luts"]
        _, work = sweep.block_resources("router", sweep.make_params("router", n, 1), "ice40-up5k", progress=print)
        logged = re.findall(r"Max frequency for clock\s+'[^']*':\s+([\d.]+) MHz", (work / "nextpnr.log").read_text())
        assert row["fmax_mhz"] == pytest.approx(float(logged[-1]), abs=0.01)

    def refuse(*_, **__):
        raise AssertionError("a resumed sweep must not place finished points")

    monkeypatch.setattr(sweep, "synthesize", refuse)
    assert main([*base, "--place"]) == 0


def test_word_widths_are_a_sweep_axis(tmp_path, capsys):
    """A run at other word widths adds its own rows (format column) and its own fit; the router's
    flip-flops shrink with the state width by exactly its n-value register (n x 4 bits)."""
    base = ["sweep", "--blocks", "router", "--devices", "ecp5-85k", "--n", "2", "3", "4", "5", "6"]
    base += ["--lanes", "1", "2", "--hold-out-n", "4", "--out", str(tmp_path), "--no-progress"]
    assert main(base) == 0
    assert main([*base, "--format", "state=12,7"]) == 0
    rows = sweep.read_rows(tmp_path / "resources.csv")
    assert sorted({r["format"] for r in rows}) == ["default", "state=12,7"]
    fits = json.loads((tmp_path / "fit.json").read_text())
    assert set(fits) == {"default", "state=12,7"} and "router" in fits["state=12,7"]
    assert "router on ecp5-85k (state=12,7): model error" in capsys.readouterr().out
    ffs = {(r["format"], r["n"], r["lanes"]): r["ffs"] for r in rows}
    narrow = fixed_point(["state=12,7"]).state.width
    for _, n, L in (k for k in ffs if k[0] == "default"):
        assert ffs["default", n, L] - ffs["state=12,7", n, L] == n * (RouterParams(n=n).fp.state.width - narrow)
    assert main([*base, "--format", "state=12"]) == 2
