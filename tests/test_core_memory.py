"""The learning core's memory (costmodel.core_memory) against the words the integer trainer
(golden.fixed_train) actually holds, counted array by array; and the cost model's hardware word
widths read from the same fixed-point configuration."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from costmodel.core_memory import STORES, core_memory_bits
from costmodel.errors import UserError as CostUserError
from costmodel.hardware import HardwareSettings
from costmodel.spec import parse_spec
from golden.fixed_cell import tanh_table
from golden.fixed_train import FixedTrainer
from golden.fixedpoint import sigmoid_table
from golden.train import TrainConfig


@pytest.mark.parametrize(
    "n,omega,formats,batch",
    [(8, 0.5, (), 8), (12, 0.3, ("influence=20,14", "master=20,16", "lut_bits=8"), 16), (5, 0.0, ("grad=24,18",), 4)],
)
def test_core_memory_counts_what_the_integer_trainer_holds(tmp_path, n, omega, formats, batch):
    config = TrainConfig(numerics="fixed", n=n, omega=omega, formats=formats, batch=batch, n_samples=100)
    fx = FixedTrainer(config, tmp_path)
    cfg, learner = fx.cfg, fx.learner
    kept = {k: v.numpy().astype(bool) for k, v in fx.params.masks.items()}

    def stored(words: dict) -> int:  # entries a chip stores: masked recurrent weights are not stored
        return sum(int(kept[k].sum()) if k in kept else v.size for k, v in words.items())

    words = learner.words()
    forward = sum(w.size for w in words.W.values()) + sum(int(kept[f"V_{g}"].sum()) for g in "urz")
    counted = {
        "forward words": (forward + words.w_out.size) * cfg.weight.width
        + (sum(b.size for b in words.b.values()) + words.b_out.size) * cfg.pre.width
        + words.theta.size * cfg.state.width,
        "master words": stored(learner.master) * cfg.master.width,
        "momentum": stored(learner.momentum) * cfg.grad.width,
        "gradient": (learner.P + n + 1) * int(cfg.gradient_acc_width(n, batch, 17)),
        "influence": 2 * n * learner.P * cfg.influence.width,
        "tables": (sigmoid_table(cfg).size + tanh_table(cfg).size) * cfg.gate.width,
        "state": 2 * n * (2 * cfg.state.width + 2 * cfg.deriv.width + 1),
    }
    model = core_memory_bits(n, 2, omega, cfg, batch=batch, steps=17)
    for store in STORES:
        assert int(model[store]) == counted[store], store
    assert int(model["total"]) == sum(counted.values())


def test_core_memory_is_vectorised_over_sizes_and_sparsities():
    cfg = TrainConfig(numerics="fixed").fixed_point()
    n = np.array([16, 64, 256])
    omega = np.array([0.0, 0.5, 0.9])
    grid = core_memory_bits(n, 2, omega, cfg)
    for i in range(3):
        one = core_memory_bits(int(n[i]), 2, float(omega[i]), cfg)
        assert all(int(grid[k][i]) == int(one[k]) for k in grid)
    assert grid["influence"][1] == 2 * 64 * (3 * 64 * 2 + 3 * (4096 - 2048) + 4 * 64) * 24


def test_hardware_word_widths_come_from_the_fixed_point_configuration():
    hw = HardwareSettings.from_formats(("influence=20,14", "weight=12,9"))
    assert (hw.influence_bits, hw.weight_bits, hw.state_bits) == (20, 12, 16)
    spec = load_spec_text(
        "name: w\naxes: {n: {values: [16]}}\nhardware: {formats: ['influence=20,14', 'state=12,7']}\n"
    )
    settings = spec.hardware.settings()
    assert (settings.influence_bits, settings.state_bits, settings.weight_bits) == (20, 12, 16)
    with pytest.raises(CostUserError, match="hardware: formats: .influence=20.; expected influence=<width>,<frac>"):
        load_spec_text("name: w\naxes: {n: {values: [16]}}\nhardware: {formats: ['influence=20']}\n")
    with pytest.raises(CostUserError, match="either formats or"):
        load_spec_text("name: w\naxes: {n: {values: [16]}}\nhardware: {formats: ['state=12,7'], state_bits: 12}\n")


def load_spec_text(text: str):
    return parse_spec(yaml.safe_load(text), "spec.yaml")
