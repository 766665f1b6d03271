"""The core in Verilator through the native C++ harness (sim.native_core): the same cases as the
Amaranth simulation (tests/core_cases.py), every prediction, every master and momentum word after
every sequence and the cycles of every step equal to the integer trainer and the cycle function;
a damaged stimulus is refused by the harness with a clear error."""

from __future__ import annotations

import json

import pytest

from golden.errors import UserError
from sim.core_cases import core_case
from sim.native_core import Stimulus, case_stimulus, run


@pytest.mark.parametrize("subtractive,kind,batch,update_every", [(False, "signum", 2, 0), (True, "sgdm", 1, 2)])
def test_native_core_trains_bit_exactly_as_the_integer_trainer(subtractive, kind, batch, update_every):
    case = core_case(subtractive, kind, batch, update_every)
    result = run(case.p, case_stimulus(case))
    assert len(result.sequences) == len(case.sequences) == len(result.readbacks)
    for i, (seq, state) in enumerate(zip(result.sequences, result.readbacks, strict=True)):
        assert seq.pred == case.logits[i], i
        if case.states[i] is not None:
            assert state == case.states[i], i
        assert seq.step_cycles == case.cycles[i], i
    assert result.cycles >= sum(sum(c) for c in case.cycles)


def test_native_harness_refuses_an_unknown_command():
    case = core_case(False, "signum", 2, 0, batches=1)
    stimulus = Stimulus(case.p)
    stimulus.lines.append("Z 0")
    with pytest.raises(UserError, match="unknown command 'Z'"):
        run(case.p, stimulus)


@pytest.mark.parametrize("simulator", ["verilator", "amaranth"])
def test_sim_train_learns_on_the_core_bit_exactly(simulator, tmp_path, capsys):
    """`python -m sim train` at a small size: the core's predictions and updates equal the integer
    trainer's, the cycle function holds on every step, the report says so and the exit code is 0."""
    from sim.cli import main

    out = tmp_path / "run"
    argv = ["train", "--sim", simulator, "--n", "4", "--iterations", "2", "--batch", "4", "--n-samples", "100"]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["bit_exact"]["predictions_compared"] == 8 + report["test_sequences"] > 8
    assert report["bit_exact"]["predictions_differing"] == 0
    assert report["bit_exact"]["updates_compared"] == 2 and report["bit_exact"]["updates_differing"] == 0
    assert report["final_weights_crc32"]["core"] == report["final_weights_crc32"]["integer_reference"]
    assert report["test_accuracy"]["core"] == report["test_accuracy"]["integer_reference"]
    assert report["cycles"]["steps_differing_from_the_cycle_function"] == 0
    assert 0.5 < report["cycles"]["influence_lane_utilisation"] <= 1
    assert "bit-exact against the integer trainer: 0 of" in capsys.readouterr().out


def test_sim_train_refuses_bad_options(tmp_path, capsys):
    from sim.cli import main

    assert main(["train", "--sim", "modelsim", "--n", "4", "--out", str(tmp_path / "a")]) == 2
    assert "--sim: got 'modelsim'" in capsys.readouterr().err
    assert main(["train", "--sim", "verilator", "--batch", "3", "--out", str(tmp_path / "b")]) == 2
    assert "batch" in capsys.readouterr().err


def test_core_bench_measures_both_paths(tmp_path, capsys):
    from sim.cli import main

    assert main(["core-bench", "--n", "4", "--batches", "1", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "core_bench.json").read_text())
    native, cocotb = report["runs"]["native"], report["runs"]["cocotb"]
    assert native["cycles"] > 0 and cocotb["cycles"] > 0
    assert abs(native["cycles"] - cocotb["cycles"]) <= 0.05 * native["cycles"]  # the same sequences
    assert report["ratio"] == pytest.approx(native["cycles_per_second"] / cocotb["cycles_per_second"])
    assert "native / cocotb" in capsys.readouterr().out
