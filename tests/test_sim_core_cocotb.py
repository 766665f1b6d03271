"""The online-learning core's Verilog under cocotb on Icarus and Verilator (sim/tb_core.py): the
integer trainer's predictions and updates bit for bit with random idle inputs and backpressure on
pred, cycles equal to the cycle function without them, a reset in the middle of a sequence followed
by a full replay; the scoreboard shown failing on one LSB of one prediction."""

from __future__ import annotations

import pytest

from sim.core_cases import core_case
from sim.core_job import core_job
from sim.jobs import SIMULATORS
from sim.runner import run_job


@pytest.fixture(scope="module")
def case():
    return core_case(False, "signum", 2, 0, batches=1)


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_core_on_simulator(simulator, case):
    job = core_job(case, [(0, 0.0, None), (1, 0.3, None), (2, 0.3, 1)])
    result = run_job(job, simulator, f"pytest-core-{simulator}", keep_waves_on_failure=False)
    assert result["passed"], result["first_mismatch"] or result["cycle_errors"][:3]
    assert result["mismatches"] == 0 and result["compared"] >= 3 * 2 * len(case.sequences) - 3
    exact = [r for r in result["records"] if " bp 0 " in r["case"] + " "]
    assert len(exact) == len(case.sequences) and all(r["cycles"] == r["predicted"] for r in exact)
    waited = [r for r in result["records"] if " bp 0 " not in r["case"] + " "]
    assert len(waited) == 2 * len(case.sequences)  # the reset case's partial run is replaced by its replay
    assert all(r["cycles"] >= r["predicted"] for r in waited) and any(r["cycles"] > r["predicted"] for r in waited)


def test_core_scoreboard_fails_on_one_lsb_of_a_prediction(case):
    job = core_job(case, [(0, 0.0, None)])
    job["corrupt"] = {"case": 0, "sequence": 1}
    result = run_job(job, "icarus", "pytest-core-corrupt", keep_waves_on_failure=False)
    assert not result["passed"] and result["mismatches"] == 1
    assert "pred" in result["first_mismatch"]
