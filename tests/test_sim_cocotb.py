"""cocotb co-simulation: every block's generated Verilog on Icarus and on Verilator, driven from golden
traces (random n = 8 EGRU traces at omega 0 / 0.8 and epsilon 1.0 / 0.1, a threshold-RNN trace and
the spiral-trained EGRU), with several backpressure seeds, back-to-back steps and a reset half-way
through a step. Bit-exact against the integer reference; cycles equal the cycle functions."""

from __future__ import annotations

import json

import pytest

from golden.trace import load_trace
from rtl.blocks.stimulus import block_params
from sim.jobs import EGRU_ONLY, SIMULATORS, CaseSpec, make_job
from sim.runner import run_job
from sim.scoreboard import Scoreboard
from tests.rtl_traces import SPIRAL_PATH, trace_for

RANDOM = ("egru_w0.0_e1.0", "egru_w0.8_e0.1", "trnn_w0.0_e1.0")
LANES = {"router": 3, "accumulate": 4, "influence": 8, "cell": 1}  # the cell unit has no lanes


@pytest.fixture(scope="session")
def traces(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("traces")
    paths = {"spiral": SPIRAL_PATH}
    for name in RANDOM:
        path = folder / f"{name}.npz"
        trace_for(name).save(path)
        paths[name] = str(path)
    return paths


def cases(trace: str, sample: int = 0) -> list[CaseSpec]:
    """No backpressure (cycles must equal the cycle function), three backpressure seeds, and a reset
    half-way through step 3 followed by a full replay."""
    return [
        CaseSpec(trace, sample, 0, 0.0),
        CaseSpec(trace, sample, 1, 0.3),
        CaseSpec(trace, sample, 2, 0.5),
        CaseSpec(trace, sample, 3, 0.3, reset_step=3),
    ]


def jobs(block: str, traces: dict[str, str]) -> list[dict]:
    names = ["egru_w0.0_e1.0", "egru_w0.8_e0.1", "spiral"] + ([] if block in EGRU_ONLY else ["trnn_w0.0_e1.0"])
    specs = {name: cases(traces[name], sample=3 if name == "spiral" else 0) for name in names}
    if block == "cell":  # gamma, epsilon and the reset are the cell unit's parameters: a job per set
        groups: dict = {}
        for name in names:
            groups.setdefault(block_params("cell", load_trace(traces[name]), 1), []).append(name)
        return [make_job(block, 1, [c for name in group for c in specs[name]]) for group in groups.values()]
    # one job, so one build per simulator: the influence block is sized for the widest trace
    return [make_job(block, LANES[block], [c for name in names for c in specs[name]])]


@pytest.mark.parametrize("block", ["router", "accumulate", "influence", "cell"])
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_block_on_simulator(block, simulator, traces):
    for i, job in enumerate(jobs(block, traces)):
        result = run_job(job, simulator, f"pytest-{block}-{simulator}-{i}", keep_waves_on_failure=False)
        assert result["passed"], result["first_mismatch"] or result["cycle_errors"][:3]
        assert result["mismatches"] == 0 and result["compared"] > 0
        steps = sum(len(c["steps"]) for c in job["cases"])
        assert len(result["records"]) == steps  # the reset case's partial run is replaced by its replay
        exact = [r for r in result["records"] if "bp 0 " in r["case"] + " "]
        assert exact and all(r["cycles"] == r["predicted"] for r in exact)
        waited = [r for r in result["records"] if "bp 0 " not in r["case"] + " "]
        assert all(r["cycles"] >= r["predicted"] for r in waited)
        assert any(r["cycles"] > r["predicted"] for r in waited)  # the backpressure really happened


def test_scoreboard_fails_on_one_lsb(traces):
    """One expected value off by one LSB: the run fails, names the step, unit and both values, and
    keeps an FST waveform of the failing run."""
    job = make_job("router", 1, [CaseSpec(traces["egru_w0.0_e1.0"], 0, 0, 0.0)])
    step = next(t for t, s in enumerate(job["cases"][0]["steps"]) if any(v != 0 for v in s["y"]))
    job["corrupt"] = {"case": 0, "step": step, "unit": 1}  # the first event's value (lane 0 holds all)
    result = run_job(job, "icarus", "pytest-corrupt")
    assert not result["passed"]
    assert f"first mismatch at step {step}, lane 0 events (index, value) unit 1" in result["first_mismatch"]
    expected, got = (int(x) for x in result["first_mismatch"].split("expected ")[1].split(", got "))
    assert expected == got + 1
    assert list(__import__("pathlib").Path(result["waves_dir"]).rglob("*.fst"))


def test_scoreboard_unit():
    sb = Scoreboard()
    assert sb.compare("c", 0, "x", [1, 2, 3], [1, 2, 3])
    assert not sb.compare("c", 4, "x", [[1, 2], [3, 4]], [[1, 2], [3, 5]])
    assert (sb.compared, sb.mismatches, sb.passed) == (7, 1, False)
    assert str(sb.first) == "c: first mismatch at step 4, x unit 3: expected 4, got 5"
    assert json.dumps(str(sb.first))


def test_cell_scoreboard_fails_on_one_lsb_of_c(traces):
    """The cell unit's testbench compares every record word: c of one unit off by one LSB fails the
    run at that step and unit."""
    job = make_job("cell", 1, [CaseSpec(traces["egru_w0.0_e1.0"], 0, 0, 0.0)])
    job["corrupt"] = {"case": 0, "step": 2, "unit": 3}
    result = run_job(job, "icarus", "pytest-corrupt-cell", keep_waves_on_failure=False)
    assert not result["passed"]
    assert "first mismatch at step 2, c unit 3" in result["first_mismatch"]
