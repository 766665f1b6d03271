"""Training in integers (golden.fixed_step, golden.fixed_train) against independent computations:

- the float trainer with the same rule (sgdm), seeds and batches: the same losses and weights within
  stated bounds over the first iterations, offline and online (--update-every);
- the update rule and gradient rounding re-derived in exact rationals for one sequence;
- determinism: two runs, and a run resumed half-way, give byte-identical metrics.json and words;
- masked weights, their momentum and their gradient stay exactly zero;
- saturations are counted per signal and reported in metrics.json;
- bad settings are refused with messages that name the field and the value.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from golden.checkpoint import load_checkpoint
from golden.cli import main
from golden.fixed_step import ShiftRule, check_integers
from golden.fixed_train import FixedTrainer
from golden.fixedpoint import round_shift
from golden.train import TrainConfig, Trainer, batch_indices, initial_leaves, train

SMALL = dict(n=8, n_samples=200, batch=8, optimizer="sgdm", lr=0.25, eval_every=2, checkpoint_every=2)


def _pair(tmp_path: Path, **kw) -> tuple[Trainer, FixedTrainer]:
    config = dict(SMALL, **kw)
    return (
        Trainer(TrainConfig(**config), tmp_path / "float"),
        FixedTrainer(TrainConfig(numerics="fixed", formats=("lut_bits=14",), **config), tmp_path / "fixed"),
    )


@pytest.mark.parametrize("rule,update_every", [("sgdm", None), ("sgdm", 5), ("signum", None)])
def test_fixed_training_follows_the_float_trainer(tmp_path, rule, update_every):
    """Twenty iterations from the same initial weights and batches, with tables fine enough (14
    index bits) that their resolution does not hide the arithmetic: per-iteration losses within
    1e-3 and every recurrent weight within one weight LSB (2^-12) of the float trainer's, while the
    weights moved by more than four LSBs. (Signum online is left out: with zero credit before the
    last step, signs of momenta near zero decide +-lr steps, and the two trajectories part.)"""
    torch.set_num_threads(1)
    lr = 0.25 if rule == "sgdm" else 2.0**-8
    fl, fx = _pair(tmp_path, update_every=update_every, omega=0.5, optimizer=rule, lr=lr)
    for _ in range(20):
        a, b = fl.step(), fx.step()
        assert abs(a["loss"] - b["loss"]) < 1e-3
        assert a["acc"] == b["acc"]
    fl.sync()
    words, cfg = fx.learner.words(), fx.cfg
    initial = initial_leaves(fx.config)[0].effective()
    moved = 0.0
    for g in "urz":
        ref = fl.params.effective()[f"V_{g}"].numpy()
        assert np.abs(cfg.weight.to_float(words.V[g]) - ref).max() <= cfg.weight.lsb
        moved = max(moved, np.abs(ref - initial[f"V_{g}"].numpy()).max())
    assert moved > 4 * cfg.weight.lsb  # the weights did move: not a comparison of two initial states


@pytest.mark.parametrize("rule", ["sgdm", "signum"])
def test_the_update_rule_in_exact_rationals(tmp_path, rule):
    """One sequence by hand: m <- m (1 - 2^-mu) + g with one rounding in the grad format, and
    w <- w - 2^-lambda m (sgdm, one rounding in master) or w - 2^-lambda sign(m) (signum, exact)."""
    lr = 0.25 if rule == "sgdm" else 2.0**-8
    fx = FixedTrainer(TrainConfig(numerics="fixed", **{**SMALL, "optimizer": rule, "lr": lr}), tmp_path)
    fx.step()  # a non-zero momentum to start from
    learner, cfg = fx.learner, fx.cfg
    before = {k: v.copy() for k, v in learner.master.items()}
    mom_before = {k: v.copy() for k, v in learner.momentum.items()}
    grads_seen = {}

    def observe(kind, seen):
        if kind == "update":
            grads_seen.update(seen["grads"])

    idx = batch_indices(1, len(fx.y["train"]), fx.config.batch, fx.config.seed)
    learner.train_sequence(fx.x["train"][:, idx], fx.y["train"][idx], fx.rule, None, observe)
    rule, F = fx.rule, Fraction
    for name, g in grads_seen.items():
        for idx in np.ndindex(g.shape):
            m = F(int(mom_before[name][idx]), 2**cfg.grad.frac)
            m = m * (1 - F(1, 2**rule.momentum_shift)) + F(int(g[idx]), 2**cfg.grad.frac)
            # m's word: the exact m - m 2^-mu rounded half up in the grad format (one rounding)
            m_word = int(mom_before[name][idx]) - int(round_shift(np.int64(mom_before[name][idx]), rule.momentum_shift))
            m_word += int(g[idx])
            assert learner.momentum[name][idx] == m_word
            assert abs(F(m_word, 2**cfg.grad.frac) - m) <= F(1, 2 ** (cfg.grad.frac + 1))
            got = F(int(learner.master[name][idx]), 2**cfg.master.frac)
            if rule.kind == "signum":
                step = F(int(np.sign(m_word)), 2**rule.lr_shift)
                assert got == F(int(before[name][idx]), 2**cfg.master.frac) - step
            else:
                step = F(m_word, 2 ** (cfg.grad.frac + rule.lr_shift))
                want = F(int(before[name][idx]), 2**cfg.master.frac) - step
                assert abs(got - want) <= F(1, 2 ** (cfg.master.frac + 1))
    assert any(np.any(g != 0) for g in grads_seen.values())


def test_gradient_words_are_the_batch_mean_rounded_once(tmp_path):
    """The flat gradient equals floor(sum_b,k M credit / B / 2^-gr + 1/2) computed in Python integers."""
    fx = FixedTrainer(TrainConfig(numerics="fixed", **SMALL), tmp_path)
    learner, cfg = fx.learner, fx.cfg
    acc = np.array([12345678901, -98765432109, 0, 2**40 + 3], dtype=np.int64)
    acc = np.resize(acc, learner.P)
    grads = learner.gradients(acc, (np.zeros(8, dtype=np.int64), np.zeros(1, dtype=np.int64)), learner.words(), 3)
    shift = cfg.influence.frac + cfg.credit.frac + 3 - cfg.grad.frac
    col = fx.layout[0]  # W_u
    for e, (m, j) in enumerate(zip(col.m, col.j)):
        exact = Fraction(int(acc[col.start + e]), 2**shift)
        want = min(max(math.floor(exact + Fraction(1, 2)), cfg.grad.min), cfg.grad.max)
        assert grads["W_u"][m, j] == want


def test_two_runs_and_a_resumed_run_are_byte_identical(tmp_path):
    config = TrainConfig(numerics="fixed", iterations=6, omega=0.5, **SMALL)
    train(config, tmp_path / "a", progress=False)
    train(config, tmp_path / "b", progress=False)
    half = TrainConfig(numerics="fixed", iterations=4, omega=0.5, **SMALL)  # stops at a checkpoint
    train(half, tmp_path / "c", progress=False)
    train(config, tmp_path / "c", resume=True, progress=False)
    a = (tmp_path / "a" / "metrics.json").read_bytes()
    assert a == (tmp_path / "b" / "metrics.json").read_bytes() == (tmp_path / "c" / "metrics.json").read_bytes()
    words = [load_checkpoint(tmp_path / r / "checkpoint.pt")[1]["integers"] for r in "abc"]
    for name, value in words[0].items():
        assert value.dtype == torch.int64
        assert torch.equal(value, words[1][name]) and torch.equal(value, words[2][name])
    assert "seconds" not in a.decode() and "wall" not in a.decode()  # timing lives in timing.json
    assert json.loads((tmp_path / "a" / "timing.json").read_text())["wall_seconds"] > 0


def test_masked_weights_stay_exactly_zero(tmp_path):
    fx = FixedTrainer(TrainConfig(numerics="fixed", omega=0.6, **SMALL), tmp_path)
    masks = {k: v.numpy().astype(bool) for k, v in fx.params.masks.items()}
    for _ in range(4):
        fx.step()
    learning = 0
    for name, mask in masks.items():
        assert (~mask).sum() > 10
        for words in (fx.learner.master, fx.learner.momentum):
            assert not words[name][~mask].any()
        learning += np.count_nonzero(fx.learner.momentum[name][mask])
    assert learning > 5  # kept weights do learn (silent units give most of them no gradient yet)


def test_saturations_are_counted_and_reported(tmp_path):
    """An influence word with range +-1 is too narrow for the spiral's M: counted under M, in metrics.json."""
    narrow = TrainConfig(numerics="fixed", iterations=2, formats=("influence=12,11",), **SMALL)
    metrics = train(narrow, tmp_path / "narrow", progress=False)
    assert metrics["saturations"].get("M", 0) > 0
    assert metrics["saturations"] == {
        k: sum(h["saturations"].get(k, 0) for h in metrics["history"]) for k in metrics["saturations"]
    }
    assert metrics["fixed_point"]["influence"] == {"width": 12, "frac": 11}
    wide = train(TrainConfig(numerics="fixed", iterations=2, **SMALL), tmp_path / "wide", progress=False)
    assert wide["saturations"].get("M", 0) == 0


def test_no_float_reaches_the_integer_path(tmp_path):
    fx = FixedTrainer(TrainConfig(numerics="fixed", **SMALL), tmp_path)
    with pytest.raises(TypeError, match="x: the integer path takes int64"):
        fx.learner.train_sequence(fx.x["train"][:, :8].astype(np.float64), fx.y["train"][:8], fx.rule, None)
    with pytest.raises(TypeError):
        check_integers("w", np.zeros(3, dtype=np.float32))
    assert fx.rule == ShiftRule(kind="sgdm", lr_shift=2, momentum_shift=3)


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--numerics", "fixed", "--optimizer", "adam"], "optimizer: 'adam'; --numerics fixed updates by signum"),
        (["--numerics", "fixed", "--lr", str(2.0**-21)], "lr: got 4.76837158203125e-07; signum steps by it"),
        (["--numerics", "fixed", "--lr", "0.3"], "lr: got 0.3; --numerics fixed shifts by it"),
        (["--numerics", "fixed", "--momentum", "0.9"], "momentum: got 0.9; --numerics fixed needs 1 - momentum"),
        (["--numerics", "fixed", "--batch", "24"], "batch: got 24; --numerics fixed averages by a shift"),
        (["--numerics", "fixed", "--algo", "bptt"], "algo: 'bptt'; --numerics fixed runs exact sparse RTRL"),
        (["--numerics", "fixed", "--cell", "gru"], "cell: 'gru'; --numerics fixed trains the egru cell only"),
        (["--numerics", "fixed", "--format", "state=16"], "expected state=<width>,<frac>"),
        (["--numerics", "fixed", "--format", "grad=40,20"], "grad: width 40, expected 2..32"),
        (["--format", "state=12,7"], "format: word formats apply to --numerics fixed only"),
        (["--numerics", "double"], "numerics: got 'double'; expected one of float, fixed"),
    ],
)
def test_bad_fixed_settings_are_refused(tmp_path, capsys, argv, message):
    assert main(["train", *argv, "--iterations", "1", "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_resuming_a_fixed_point_run_as_float_says_which_settings_differ(tmp_path, capsys):
    run = ["--n", "4", "--iterations", "2", "--samples", "100", "--batch", "8", "--out", str(tmp_path), "--no-progress"]
    assert main(["train", "--numerics", "fixed", *run]) == 0
    capsys.readouterr()
    assert main(["train", *run, "--resume"]) == 2
    err = capsys.readouterr().err
    assert "'numerics': ('fixed', 'float')" in err and "'optimizer': ('signum', 'adam')" in err
