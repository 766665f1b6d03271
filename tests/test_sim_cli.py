"""`python -m sim run` for users (report, calibration CSV, exit status) and `python -m costmodel
calibration` (the plot of measured cycles against the cycle functions)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import sim.run
from costmodel.cli import main as costmodel_main
from golden.trace import load_trace
from rtl.blocks.cycles import router_cycles
from rtl.blocks.params import RouterParams
from sim.cli import main
from tests.rtl_traces import SPIRAL_PATH


def test_run_router_on_icarus(tmp_path, capsys):
    report, calib = tmp_path / "r.json", tmp_path / "cal"
    argv = ["run", "--block", "router", "--sim", "icarus", "--trace", SPIRAL_PATH, "--lanes", "2", "--samples", "2"]
    assert main([*argv, "--out", str(report), "--calibration", str(calib)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("PASS: router on icarus") and "events per cycle" in out
    data = json.loads(report.read_text())
    assert data["passed"] and data["steps"] == 20 and data["cycles"] == data["cycle_function"]
    y = load_trace(SPIRAL_PATH).arrays["y"][:, :2]
    events = int(np.count_nonzero(y))
    assert data["events_per_cycle"] == pytest.approx(events / data["cycles"])
    p = RouterParams(n=8, lanes=2)
    assert data["cycles"] == sum(router_cycles(p, y[t, b] != 0) for b in range(2) for t in range(10))
    rows = list(csv.DictReader(open(next(calib.glob("*.csv")))))
    assert len(rows) == 20 and all(r["measured"] == r["predicted"] for r in rows)

    png = tmp_path / "cal.png"
    assert costmodel_main(["calibration", str(calib), "--out", str(png)]) == 0
    assert png.stat().st_size > 5000
    assert "router: 20 steps without backpressure (1 files in" in capsys.readouterr().out
    # a run with backpressure goes to its own file; calibration reports it apart (stalls may only add)
    argv_bp = [*argv, "--backpressure", "0.5", "--seeds", "1"]
    assert main([*argv_bp, "--out", str(tmp_path), "--calibration", str(calib)]) == 0
    assert (tmp_path / "report.json").is_file()  # --out a folder: the default name inside it
    assert len(list(calib.glob("*.csv"))) == 2
    capsys.readouterr()
    assert costmodel_main(["calibration", str(calib), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "router: 20 steps without backpressure (1 files in" in out and "worst |measured - cycle function| = 0" in out
    assert "router: 20 steps with backpressure (1 files), up to" in out
    assert (tmp_path / "calibration.png").is_file()


def test_run_exits_1_with_the_first_mismatch(tmp_path, monkeypatch, capsys):
    failing = {
        "block": "router",
        "simulator": "icarus",
        "trace": SPIRAL_PATH,
        "params": {"n": 8, "lanes": 1},
        "passed": False,
        "first_mismatch": "case: first mismatch at step 2, lane 0 events (index, value) unit 1: expected 5, got 4",
        "cycle_errors": [],
        "compared_values": 10,
        "steps": 1,
        "cycles": 3,
        "cycle_function": 3,
        "records": [{"step": 0, "cycles": 3, "predicted": 3, "events": 1}],
        "events_per_cycle": 1 / 3,
    }
    monkeypatch.setattr(sim.run, "run_block", lambda *a, **k: failing)
    argv = ["run", "--block", "router", "--sim", "icarus", "--trace", SPIRAL_PATH]
    assert main([*argv, "--out", str(tmp_path / "r.json"), "--calibration", str(tmp_path / "c")]) == 1
    out = capsys.readouterr().out
    assert (
        out.startswith("FAIL")
        and "first mismatch at step 2, lane 0 events (index, value) unit 1: expected 5, got 4" in out
    )


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--block", "fft", "--sim", "icarus"], "--block: got 'fft'"),
        (["--block", "router", "--sim", "modelsim"], "--sim: got 'modelsim'"),
        (["--block", "router", "--sim", "icarus", "--lanes", "0"], "--lanes: got 0"),
        (["--block", "accumulate", "--sim", "icarus", "--trace", "x.npz"], "x.npz"),
    ],
)
def test_run_bad_options_exit_2(argv, message, tmp_path, capsys):
    if "--trace" not in argv:
        argv = [*argv, "--trace", SPIRAL_PATH]
    assert main(["run", *argv, "--out", str(tmp_path / "r.json")]) == 2
    assert message in capsys.readouterr().err


def test_calibration_bad_csv(tmp_path, capsys):
    (tmp_path / "a.csv").write_text(
        "block,simulator,trace,lanes,activity,measured,predicted\nrouter,icarus,t,1,2,x,3\n"
    )
    assert costmodel_main(["calibration", str(tmp_path), "--out", str(tmp_path / "p.png")]) == 2
    assert "a.csv line 2: measured='x' is not an integer" in capsys.readouterr().err
