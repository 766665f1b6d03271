"""Spiral task and training: the data, that learning happens, that the algorithms agree, resume."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from golden.cli import main
from golden.figures import load_run
from golden.spiral import STEPS, spiral_dataset
from golden.trace import load_trace
from golden.train import TrainConfig, Trainer, train


def test_spiral_data():
    data = spiral_dataset(1000, seed=3)
    assert {k: len(v) for k, v in data.items()} == {"train": 800, "val": 100, "test": 100}
    x = torch.cat([data[k].x for k in data], dim=1)
    y = torch.cat([data[k].y for k in data])
    assert x.shape == (STEPS, 1000, 2) and int(y.sum()) == 500
    t = torch.linspace(0, 2 * math.pi, STEPS, dtype=x.dtype)
    assert torch.allclose(x.norm(dim=-1) * (1 + t[:, None]), torch.ones(STEPS, 1000, dtype=x.dtype))
    # class 1 turns one way (x = (sin, cos) rotates clockwise), class 0 the other
    cross = x[:-1, :, 0] * x[1:, :, 1] - x[:-1, :, 1] * x[1:, :, 0]
    assert torch.all((cross < 0) == (y[None, :] == 1))
    # disjoint splits: no sequence appears in two of them
    first = {k: {tuple(v) for v in data[k].x[0].tolist()} for k in data}
    assert not (first["train"] & first["val"] or first["train"] & first["test"] or first["val"] & first["test"])


def test_short_sparse_rtrl_training_learns(tmp_path):
    m = train(
        TrainConfig(algo="sparse-rtrl", iterations=100, lr=0.02, eval_every=50, checkpoint_every=50),
        tmp_path,
        progress=False,
    )
    losses = [h["loss"] for h in m["history"]]
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:20])
    assert m["final"]["test"]["accuracy"] >= 0.8
    assert (tmp_path / "checkpoint.pt").exists() and m["iterations_done"] == 100
    h = m["history"][-1]
    assert 0 < h["influence_macs"] < h["dense_influence_macs"]


def test_algorithms_follow_one_trajectory(tmp_path):
    """BPTT, dense RTRL and sparse RTRL compute the same gradients, so the same training run."""
    runs = {}
    for algo in ("bptt", "rtrl", "sparse-rtrl"):
        tr = Trainer(TrainConfig(algo=algo, omega=0.5, epsilon=0.3, iterations=5), tmp_path / algo)
        losses = [tr.step()["loss"] for _ in range(5)]
        runs[algo] = (losses, {k: v.detach().clone() for k, v in tr.leaves.items()})
    ref_losses, ref = runs["bptt"]
    for algo in ("rtrl", "sparse-rtrl"):
        losses, leaves = runs[algo]
        assert np.allclose(losses, ref_losses, rtol=1e-10, atol=0)
        for k in ref:
            assert torch.allclose(leaves[k], ref[k], rtol=0, atol=1e-9), (algo, k)


def test_interrupted_run_resumes_to_the_same_result(tmp_path, monkeypatch):
    cfg = TrainConfig(algo="sparse-rtrl", iterations=6, checkpoint_every=2, eval_every=2, lr=0.01)
    train(cfg, tmp_path / "whole", progress=False)
    whole = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=True)

    real_step = Trainer.step

    def interrupted(self):
        if self.iteration == 5:
            raise KeyboardInterrupt
        return real_step(self)

    monkeypatch.setattr(Trainer, "step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "cut", progress=False)
    assert torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)["extra"]["iteration"] == 4
    monkeypatch.setattr(Trainer, "step", real_step)
    train(cfg, tmp_path / "cut", resume=True, progress=False)
    resumed = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)
    for k, v in whole["extra"]["leaves"].items():
        assert torch.equal(resumed["extra"]["leaves"][k], v), k
    assert len(load_run(tmp_path / "cut")["history"]) == 6


def test_train_cli_checkpoint_feeds_trace_and_fig3(tmp_path, capsys):
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--iterations",
                "4",
                "--omega",
                "0.5",
                "--out",
                str(run),
                "--no-progress",
                "--checkpoint-every",
                "2",
                "--eval-every",
                "2",
            ]
        )
        == 0
    )
    assert "accuracy" in capsys.readouterr().out
    assert (
        main(["trace", "--checkpoint", str(run / "checkpoint.pt"), "--steps", "17", "--out", str(tmp_path / "t.npz")])
        == 0
    )
    trace = load_trace(tmp_path / "t.npz")
    assert trace.meta["omega"] == 0.5 and trace.meta["n"] == 16
    assert main(["fig3", str(run), "--out", str(tmp_path / "fig.png")]) == 0
    png = (tmp_path / "fig.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["--iterations", "0"], "iterations: got 0"),
        (["--lr", "-1"], "lr: got -1.0"),
        (["--algo", "adam"], "unknown algorithm 'adam'"),
        (["--algo", "bptt", "--update-every", "4"], "online updates need an RTRL algorithm"),
        (["--omega", "1"], "omega: got 1.0"),
    ],
)
def test_train_bad_values(tmp_path, capsys, args, fragment):
    assert main(["train", "--out", str(tmp_path / "r"), *args]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1


def test_fig3_without_metrics(tmp_path, capsys):
    assert main(["fig3", str(tmp_path), "--out", str(tmp_path / "f.png")]) == 2
    assert "no metrics.json" in capsys.readouterr().err
