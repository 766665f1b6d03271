"""costmodel core: the online-learning core's expected cycles per training step composed from the
same cycle function the simulations check (rtl.core.cycles), and its memory from rtl.core.memory.
At densities whose counts are whole numbers and a mask keeping as many entries in every column as
the mean, the expectation is the cycle function summed over the sequence's steps plus the update
shared by the batch; sparser activity, sparser parameters and more lanes cost fewer cycles; bad
values are refused by name."""

from __future__ import annotations

import json

import pytest

from costmodel.cli import main
from costmodel.core import core_training_step
from rtl.blocks.params import egru_columns
from rtl.core.cycles import core_step_cycles
from rtl.core.memory import core_memory_bits
from rtl.core.params import CoreParams


def test_expectation_is_the_cycle_function_on_the_mean_pattern():
    n, T, batch = 8, 17, 32
    r = core_training_step(n, 0.5, 0.75, 0.5, T, batch, lanes=4)
    p = CoreParams(n, 2, egru_columns(n, 2, 0.5), T, batch, lanes=4)
    words = ([8] * n, [4] * n)  # 32 kept of 64 per matrix: 4 per column
    steps = [core_step_cycles(p, [0, 1] if t else [], 4 if t else 0, words, True, t == T - 1, False) for t in range(T)]
    update = core_step_cycles(p, [0, 1], 4, words, True, True, True) - steps[-1]
    assert r["cycles_per_update"] == update > 3 * p.update.parameters
    assert r["cycles_per_sequence"] == pytest.approx(sum(steps) + update / batch)
    assert r["cycles_per_training_step"] == pytest.approx(r["cycles_per_sequence"] / T)
    assert r["us_per_training_step"] == pytest.approx(r["cycles_per_training_step"] / 50.0)
    assert r["memory_bits"] == core_memory_bits(p)


def test_sparsity_and_lanes_cost_fewer_cycles():
    base = core_training_step(16, 0.5, 0.8, 0.4, 17)["cycles_per_training_step"]
    assert core_training_step(16, 0.5, 0.8, 0.8, 17)["cycles_per_training_step"] < base  # fewer sources
    assert core_training_step(16, 0.9, 0.8, 0.4, 17)["cycles_per_training_step"] < base  # fewer columns
    assert core_training_step(16, 0.5, 0.8, 0.4, 17, lanes=8)["cycles_per_training_step"] < base


def test_cli_prints_and_refuses(capsys):
    assert main(["core", "--n", "8", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["memory_bits"]["total"] > 0 and r["cycles_per_training_step"] > 0
    assert main(["core", "--n", "8"]) == 0
    assert "cycles per training step" in capsys.readouterr().out
    assert main(["core", "--n", "8", "--beta", "1.5"]) == 2
    assert "--beta: got 1.5" in capsys.readouterr().err
