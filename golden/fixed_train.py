"""Training in integers (`golden train --numerics fixed`): the float trainer's data, seeds, batches,
evaluation, checkpoints, metrics and resume around the integer training step (golden.fixed_step).

The float side ends at conversion: the seeded initial parameters (golden.train.initial_leaves, as
the float trainer draws them) become master words and the spiral's inputs state words, each by
`fixedpoint.to_fixed`. From there on only int64 arrays are computed; the loss in metrics.json is
evaluated from the integer logits for reporting. Checkpoints hold the master and momentum words
(exact) beside the dequantized forward words as ordinary cell parameters, so `golden trace
--checkpoint` reads a fixed-point run like any other.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from golden.checkpoint import load_checkpoint, save_checkpoint
from golden.errors import UserError
from golden.fixed_cell import PseudoDerivative
from golden.fixed_linearise import compacted_layout
from golden.fixed_step import IntegerLearner, SequenceStats, ShiftRule
from golden.fixedpoint import counting_saturations, to_fixed
from golden.params import CellParams
from golden.spiral import STEPS, spiral_dataset
from golden.train import (
    TrainConfig,
    batch_indices,
    finish_iteration,
    initial_leaves,
    power_of_two_exponent,
    resumable_extra,
    write_metrics,
)


def cross_entropy(logit: np.ndarray, target: np.ndarray) -> float:
    """Mean binary cross-entropy of float logits (reporting only): softplus(l) - target l."""
    return float(np.mean(np.logaddexp(0.0, logit) - target * logit))


class FixedTrainer:
    """The float Trainer's interface (step, evaluate, save, restore, metrics) in integers."""

    def __init__(self, config: TrainConfig, out: Path):
        self.config, self.out = config, out
        self.cfg = cfg = config.fixed_point()
        self.params, leaves = initial_leaves(config)
        masks = {k: v.numpy().astype(bool) for k, v in self.params.masks.items()}
        master = {}
        for name, leaf in leaves.items():
            value = leaf.detach().numpy() * masks.get(name, 1)
            master[name] = to_fixed(f"initial {name}", value.reshape(-1) if value.ndim == 0 else value, cfg.master)
        self.layout = compacted_layout(config.n, 2, masks)
        h = PseudoDerivative.of(config.gamma, config.epsilon, cfg)
        self.learner = IntegerLearner(master, self.layout, h, config.reset == "subtractive", cfg)
        self.learner.check_accumulator(config.batch, STEPS)
        self.rule = ShiftRule(
            config.optimizer, power_of_two_exponent(config.lr), power_of_two_exponent(1 - config.momentum)
        )
        data = spiral_dataset(config.n_samples, config.data_seed, dtype=torch.float64)
        self.x = {k: to_fixed(f"spiral {k} inputs", v.x.numpy(), cfg.state) for k, v in data.items()}
        self.y = {k: v.y.numpy().astype(np.int64) for k, v in data.items()}
        self.iteration = 0
        self.history: list[dict[str, Any]] = []
        self.evals: list[dict[str, Any]] = []
        self.seconds: list[float] = []

    def step(self) -> dict[str, Any]:
        idx = batch_indices(self.iteration, len(self.y["train"]), self.config.batch, self.config.seed)
        t0 = time.perf_counter()
        with counting_saturations() as saturations:
            seq = self.learner.train_sequence(
                self.x["train"][:, idx], self.y["train"][idx], self.rule, self.config.update_every
            )
        stats = self._scores(seq, self.y["train"][idx])
        stats["acc"] = stats.pop("accuracy")
        stats["influence_zero_fraction_state"] = seq.influence_zeros / seq.influence_entries
        stats["saturations"] = dict(sorted(saturations.items()))
        return finish_iteration(self, stats, self.params.sparsity()["omega_maskable"], t0)

    def _scores(self, seq: SequenceStats, target: np.ndarray) -> dict[str, float]:
        logit = self.cfg.pre.to_float(seq.logit)
        return {
            "loss": cross_entropy(logit, target),
            "accuracy": float(np.mean((seq.logit > 0) == (target == 1))),
            "alpha": seq.silent_outputs / seq.entries,
            "beta": seq.zero_derivatives / seq.entries,
        }

    def evaluate(self, split: str) -> dict[str, float]:
        """Loss, accuracy, alpha and beta on a whole split (the integer forward pass)."""
        return self._scores(self.learner.forward(self.x[split]), self.y[split])

    # -- persistence --------------------------------------------------------------------------
    def forward_params(self) -> CellParams:
        """The forward words as float cell parameters (exact: every word is a dyadic number)."""
        words, cfg = self.learner.words(), self.cfg
        values = {f"W_{g}": cfg.weight.to_float(words.W[g]) for g in "urz"}
        values.update({f"V_{g}": cfg.weight.to_float(words.V[g]) for g in "urz"})
        values.update({f"b_{g}": cfg.pre.to_float(words.b[g]) for g in "urz"})
        values["theta"] = cfg.state.to_float(words.theta)
        for name, value in values.items():
            self.params.tensors[name] = torch.from_numpy(value)
        return self.params

    def save(self) -> None:
        words = {
            f"{kind}/{k}": torch.from_numpy(v.copy())
            for kind, values in (("master", self.learner.master), ("momentum", self.learner.momentum))
            for k, v in values.items()
        }
        extra = {
            "train_config": asdict(self.config),
            "iteration": self.iteration,
            "integers": words,
            "history": self.history,
            "evals": self.evals,
            "seconds": self.seconds,
        }
        save_checkpoint(self.out / "checkpoint.pt", self.forward_params(), extra)
        write_metrics(self.out, self.metrics(), self.seconds)

    def restore(self) -> None:
        path = self.out / "checkpoint.pt"
        _, extra = load_checkpoint(path)
        extra = resumable_extra(path, self.config, extra, ("integers",))
        stored = extra["integers"]
        for kind, words in (("master", self.learner.master), ("momentum", self.learner.momentum)):
            for name, now in words.items():
                value = stored.get(f"{kind}/{name}")
                if not isinstance(value, torch.Tensor) or value.dtype != torch.int64 or tuple(value.shape) != now.shape:
                    raise UserError(f"--resume: {path}: {kind} words of {name} missing or not int64 {now.shape}")
                words[name] = value.numpy().copy()
        self.iteration = extra["iteration"]
        self.history = extra["history"]
        self.evals = extra["evals"]
        self.seconds = extra["seconds"]

    def metrics(self) -> dict[str, Any]:
        final = {s: self.evaluate(s) for s in ("train", "val", "test")}
        saturations: Counter = Counter()
        for stats in self.history:
            saturations.update(stats["saturations"])
        return {
            "config": asdict(self.config),
            "iterations_done": self.iteration,
            "sparsity": self.forward_params().sparsity(),
            "fixed_point": self.cfg.to_dict(),
            "saturations": dict(sorted(saturations.items())),
            "final": final,
            "evals": self.evals,
            "history": self.history,
        }
