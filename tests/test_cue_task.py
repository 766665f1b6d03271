"""The cue (evidence-accumulation) task: its published timing, the data, and training on it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from golden.cli import main
from golden.cue import CueTiming, cue_dataset, cue_sample
from golden.errors import UserError
from golden.train import TrainConfig, Trainer


def test_published_timing_and_coarse_steps():
    published = CueTiming()
    assert (published.T, published.recall_steps, published.n_in) == (7 * 150 + 1000 + 150, 150, 40)
    coarse = CueTiming(dt=25)
    assert (coarse.T, coarse.recall_steps, coarse.slot) == (7 * 6 + 40 + 6, 6, 6)
    assert coarse.probability(40) == 1.0 and coarse.probability(10) == 0.25


def test_sample_layout_label_and_rates():
    timing = CueTiming(dt=1)
    c, slot, cue = timing.channels, timing.slot, timing.steps(timing.cue_ms)
    fired = {"cue": 0, "noise": 0}
    for index in range(30):
        x, label, sides = cue_sample(timing, seed=4, index=index)
        assert label == int(sides.sum() > 3)  # the side with more of the seven cues (1 = right)
        for i, side in enumerate(sides.tolist()):
            window = x[i * slot : i * slot + cue]
            assert window[:, (1 - side) * c : (2 - side) * c].sum() == 0  # the other side stays silent
            fired["cue"] += int(window[:, side * c : (side + 1) * c].sum())
            assert x[i * slot + cue : (i + 1) * slot, : 2 * c].sum() == 0  # the gaps are silent
        assert x[timing.cues * slot :, : 2 * c].sum() == 0  # no cue after the last
        assert x[: timing.T - timing.recall_steps, 2 * c : 3 * c].sum() == 0  # recall only at the end
        assert x[timing.T - timing.recall_steps :, 2 * c : 3 * c].sum() > 0
        fired["noise"] += int(x[:, 3 * c :].sum())
    cue_rate = fired["cue"] / (30 * 7 * cue * c) * 1000  # Hz
    noise_rate = fired["noise"] / (30 * timing.T * c) * 1000
    assert abs(cue_rate - 40) < 3 and abs(noise_rate - 10) < 1


def test_splits_are_fixed_disjoint_and_drawn_on_demand():
    data = cue_dataset(CueTiming(dt=25), n_samples=100, seed=2)
    assert {k: len(v) for k, v in data.items()} == {"train": 80, "val": 10, "test": 10}
    x, y = data["val"].batch([0, 3])
    again, _ = cue_dataset(CueTiming(dt=25), n_samples=100, seed=2)["val"].batch([3])
    assert torch.equal(x[:, 1], again[:, 0]) and x.shape == (88, 2, 40)
    train_x, _ = data["train"].batch(list(range(80)))
    test_x, _ = data["test"].batch(list(range(10)))
    flat = {tuple(s.flatten().tolist()) for s in train_x.unbind(1)}
    assert not flat & {tuple(s.flatten().tolist()) for s in test_x.unbind(1)}
    labels = torch.cat([data[k].batch(list(range(len(data[k]))))[1] for k in data])
    assert 30 < int(labels.sum()) < 70  # both classes, about half each


@pytest.mark.parametrize("bad", [{"dt": 0}, {"dt": -5}, {"cues": 6}, {"channels": 0}])
def test_bad_timing_is_refused(bad):
    with pytest.raises(UserError, match=next(iter(bad))):
        CueTiming(**bad)


def test_rtrl_equals_bptt_on_the_recall_readout(tmp_path):
    """The loss averages the recall steps' readouts: RTRL's credits at every recall step give BPTT's
    gradient, so with SGD both take the same step."""
    leaves = {}
    for algo in ("bptt", "sparse-rtrl"):
        config = TrainConfig(task="cue", dt=50, algo=algo, n=8, omega=0.5, epsilon=0.5, optimizer="sgdm", batch=4)
        trainer = Trainer(config, tmp_path / algo)
        trainer.data = {"train": cue_dataset(CueTiming(dt=50), 40, 0)["train"]}
        for _ in range(2):
            trainer.step()
        leaves[algo] = {k: v.detach().clone() for k, v in trainer.leaves.items()}
    for k, ref in leaves["bptt"].items():
        assert torch.allclose(leaves["sparse-rtrl"][k], ref, rtol=0, atol=1e-10), k


def test_train_cli_on_the_cue_task(tmp_path, capsys):
    args = ["train", "--task", "cue", "--dt", "50", "--algo", "eprop", "--n", "8", "--iterations", "2"]
    assert main([*args, "--samples", "40", "--batch", "4", "--out", str(tmp_path), "--no-progress"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["config"]["task"] == "cue" and metrics["iterations_done"] == 2
    assert 0 <= metrics["final"]["test"]["accuracy"] <= 1 and np.isfinite(metrics["final"]["test"]["loss"])
    assert main([*args, "--numerics", "fixed", "--out", str(tmp_path / "f")]) != 0
    assert "--numerics fixed trains the spiral task only" in capsys.readouterr().err
