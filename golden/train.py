"""Training on a task (the spiral or the cue task, golden.tasks) with BPTT, dense or sparse RTRL, or
an approximate rule (SnAp-1, SnAp-2, e-prop: golden.snap); metrics, checkpoints, resume.

Readout: logit_t = w_out . s_t + b_out on the cell's RTRL state at each scored step (the spiral:
the last step; the cue task: the recall steps) (EGRU: c_t, the membrane-like internal state;
threshold RNN: a_t; GRU: h_t), with a binary cross-entropy loss averaged over the scored steps and
the batch; the prediction is the sign of the mean logit over the scored steps. A readout of the
EGRU's y_t would see mostly zeros (most units are silent at any one step); c_t carries the same
information densely and needs no extra influence matrix, since the loss credit is then dL/dc_t alone.

theta is trained as tau = logit(theta) (golden.params); Adam (lr 3e-3, batch 32, 1700 iterations,
the paper's settings) updates W, V, b, tau and the readout; or SGD with momentum (`optimizer`
"sgdm": m <- momentum m + g, w <- w - lr m, torch's SGD) or Signum ("signum": the same m,
w <- w - lr sign(m), golden.optim), the two rules the fixed-point trainer (`numerics` "fixed",
golden.fixed_train) implements in integers. Online mode (`update_every` k) updates
after every k steps of a sequence and carries the influence matrix across updates; with the
spiral's single loss at the last step the credit is zero before it, so online and offline coincide
here unless k divides the sequence otherwise.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from tqdm import tqdm

from golden.atomic import atomic_write_text
from golden.bptt import run_bptt
from golden.cells import make_cell
from golden.checkpoint import load_checkpoint, save_checkpoint
from golden.config import CellConfig
from golden.errors import UserError
from golden.fixedpoint import FixedPointConfig, fixed_point
from golden.malloc import reuse_freed_memory
from golden.optim import Signum
from golden.params import CellParams
from golden.rtrl import run_rtrl
from golden.tasks import make_task, task_shape

ALGOS = ("bptt", "rtrl", "sparse-rtrl", "snap1", "snap2", "eprop")
RTRL_MODE = {"rtrl": "dense", "sparse-rtrl": "sparse"}  # the approximate rules run as golden.snap's modes
NUMERICS = ("float", "fixed")
OPTIMIZERS = ("adam", "sgdm", "signum")
DEFAULT_LR = {"adam": 3e-3, "sgdm": 0.25, "signum": 2.0**-8}  # powers of two that train the spiral (README)


def power_of_two_exponent(value: float) -> int | None:
    """k with value = 2^-k for a power of two value <= 1, else None."""
    mantissa, exponent = math.frexp(value)
    return 1 - exponent if mantissa == 0.5 and exponent <= 1 else None


@dataclass(frozen=True)
class TrainConfig:
    task: str = "spiral"
    dt: float = 1.0  # the cue task's time step in ms (golden.cue)
    cell: str = "egru"
    reset: str = "paper"
    n: int = 16
    omega: float = 0.0
    epsilon: float = 1.0
    gamma: float = 0.7
    algo: str = "sparse-rtrl"
    iterations: int = 1700
    batch: int = 32
    lr: float | None = None  # None: DEFAULT_LR of the optimizer
    seed: int = 0
    data_seed: int = 0
    n_samples: int = 10_000
    update_every: int | None = None
    eval_every: int = 100
    checkpoint_every: int = 100
    dtype: str = "float64"
    numerics: str = "float"
    optimizer: str | None = None  # None: adam in float, signum in fixed point
    momentum: float = 0.875
    formats: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "formats", tuple(self.formats))  # a list once read back from JSON
        for name in ("dt", "omega", "epsilon", "gamma", "lr", "momentum"):  # 1 and 1.0 are one setting
            value = getattr(self, name)
            if isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, name, float(value))
        if self.optimizer is None:
            object.__setattr__(self, "optimizer", "signum" if self.numerics == "fixed" else "adam")
        if self.lr is None and self.optimizer in DEFAULT_LR:
            object.__setattr__(self, "lr", DEFAULT_LR[self.optimizer])
        if self.algo not in ALGOS:
            raise UserError(f"algo: unknown algorithm {self.algo!r}; expected one of {', '.join(ALGOS)}")
        if self.numerics not in NUMERICS:
            raise UserError(f"numerics: got {self.numerics!r}; expected one of {', '.join(NUMERICS)}")
        if self.optimizer not in OPTIMIZERS:
            raise UserError(f"optimizer: got {self.optimizer!r}; expected one of {', '.join(OPTIMIZERS)}")
        if not (math.isfinite(self.momentum) and 0 <= self.momentum < 1):
            raise UserError(f"momentum: got {self.momentum}; expected a number in [0, 1)")
        for name in ("iterations", "batch", "eval_every", "checkpoint_every", "n_samples"):
            if getattr(self, name) <= 0:
                raise UserError(f"{name}: got {getattr(self, name)}; expected a positive integer")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise UserError(f"lr: got {self.lr}; expected a finite number > 0")
        if self.update_every is not None:
            if self.update_every <= 0:
                raise UserError(f"update_every: got {self.update_every}; expected a positive integer")
            if self.algo == "bptt":
                raise UserError("update_every: online updates need an RTRL algorithm, not bptt")
        self.cell_config()  # validates the task, the time step and the cell fields
        if self.numerics == "fixed":
            self._check_fixed()
        elif self.formats:
            raise UserError("format: word formats apply to --numerics fixed only")

    def _check_fixed(self) -> None:
        """What the integer trainer implements (golden.fixed_train): exact sparse RTRL of the EGRU with
        sgdm or signum by shifts, so lr, 1 - momentum and the batch are powers of two."""
        if self.cell != "egru":
            raise UserError(f"cell: {self.cell!r}; --numerics fixed trains the egru cell only")
        if self.task != "spiral":
            raise UserError(f"task: {self.task!r}; --numerics fixed trains the spiral task only")
        if self.algo != "sparse-rtrl":
            raise UserError(f"algo: {self.algo!r}; --numerics fixed runs exact sparse RTRL (sparse-rtrl)")
        if self.optimizer == "adam":
            raise UserError("optimizer: 'adam'; --numerics fixed updates by signum or sgdm (shifts, no division)")
        lr_shift = power_of_two_exponent(self.lr)
        if lr_shift is None:
            raise UserError(
                f"lr: got {self.lr}; --numerics fixed shifts by it, so expected a power of two <= 1 (e.g. 0.125)"
            )
        if power_of_two_exponent(1 - self.momentum) is None:
            raise UserError(
                f"momentum: got {self.momentum}; --numerics fixed needs 1 - momentum a power of two"
                " (0, 0.5, 0.75, 0.875, ...)"
            )
        if power_of_two_exponent(1 / self.batch) is None:
            raise UserError(
                f"batch: got {self.batch}; --numerics fixed averages by a shift, so expected a power of two"
            )
        master = self.fixed_point().master  # validates the formats
        if self.optimizer == "signum" and lr_shift > master.frac:
            raise UserError(f"lr: got {self.lr}; signum steps by it, expected at least master's LSB 2^-{master.frac}")

    def fixed_point(self) -> FixedPointConfig:
        """The word formats: the project's defaults with this run's overrides."""
        return fixed_point(list(self.formats))

    def cell_config(self) -> CellConfig:
        return CellConfig(
            cell=self.cell,
            reset=self.reset,
            n=self.n,
            n_in=task_shape(self.task, self.dt)[0],
            gamma=self.gamma,
            epsilon=self.epsilon,
            omega=self.omega,
            seed=self.seed,
            dtype=self.dtype,
        )


def initial_leaves(config: TrainConfig) -> tuple[CellParams, dict[str, torch.Tensor]]:
    """The seeded initial parameters and the trained leaves made from them: every block but theta,
    tau = logit(theta), and the readout w_out ~ U(-1/sqrt(n), 1/sqrt(n)), b_out = 0."""
    params = CellParams.initialise(config.cell_config())
    gen = torch.Generator().manual_seed(config.seed + 3)
    dt = params.config.torch_dtype
    leaves = {k: v.clone() for k, v in params.tensors.items() if k != "theta"}
    if "theta" in params.tensors:
        leaves["tau"] = torch.logit(params.tensors["theta"])
    bound = 1 / math.sqrt(config.n)
    leaves["w_out"] = (torch.rand(config.n, generator=gen, dtype=dt) * 2 - 1) * bound
    leaves["b_out"] = torch.zeros((), dtype=dt)
    return params, leaves


class Trainer:
    """Owns the parameters (as optimiser leaves), the data, the history and the checkpoints."""

    def __init__(self, config: TrainConfig, out: Path):
        reuse_freed_memory()
        self.config = config
        self.out = out
        self.cell = make_cell(config.cell_config())
        dtype = config.cell_config().torch_dtype
        self.task = make_task(config.task, config.n_samples, config.data_seed, config.dt, dtype)
        self.data = self.task.splits
        self.params, leaves = initial_leaves(config)
        self.leaves = {k: v.requires_grad_(True) for k, v in leaves.items()}
        leaves = list(self.leaves.values())
        if config.optimizer == "adam":
            self.optimizer = torch.optim.Adam(leaves, lr=config.lr)
        elif config.optimizer == "sgdm":
            self.optimizer = torch.optim.SGD(leaves, lr=config.lr, momentum=config.momentum)
        else:
            self.optimizer = Signum(leaves, lr=config.lr, momentum=config.momentum)
        self.iteration = 0
        self.history: list[dict[str, Any]] = []
        self.evals: list[dict[str, Any]] = []
        self.seconds: list[float] = []

    # -- parameters ---------------------------------------------------------------------------
    def sync(self) -> None:
        """Copy the leaves into self.params (theta = sigmoid(tau))."""
        with torch.no_grad():
            for k in self.params.tensors:
                self.params.tensors[k] = (
                    torch.sigmoid(self.leaves["tau"]) if k == "theta" else self.leaves[k].detach().clone()
                )

    def _batch(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        train = self.data["train"]
        return train.batch(batch_indices(i, len(train), self.config.batch, self.config.seed))

    # -- one iteration ------------------------------------------------------------------------
    def _logit(self, state: torch.Tensor) -> torch.Tensor:
        return state @ self.leaves["w_out"] + self.leaves["b_out"]

    @staticmethod
    def _scores(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, correct [B]) of the scored steps' logits [R, B]: the binary cross-entropy averaged
        over steps and batch; correct where the mean logit's sign matches the label."""
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y.expand_as(logits))
        return loss, ((logits.mean(0) > 0).to(y.dtype) == y)

    def _step_gradient(self, x, y) -> dict[str, Any]:
        """One iteration: the gradient by the configured algorithm (the adjoint BPTT of golden.bptt, or
        RTRL / an approximate rule of golden.rtrl), the readout's own gradient, the optimiser step."""
        T, B = x.shape[0], x.shape[1]
        R = self.task.scored
        readout = {"w_out": torch.zeros_like(self.leaves["w_out"]), "b_out": torch.zeros_like(self.leaves["b_out"])}
        logits: list[torch.Tensor] = []
        key = self.cell.state_key

        def credit(t: int, rec) -> dict[str, torch.Tensor]:
            credits = {k: torch.zeros_like(rec[k]) for k in self.cell.credit_keys}
            if t >= T - R:
                with torch.no_grad():
                    logit = self._logit(rec[key])
                    g = (torch.sigmoid(logit) - y) / (B * R)  # dL/dlogit_t for the mean BCE
                credits[key] = g[:, None] * self.leaves["w_out"].detach()
                readout["w_out"] += g @ rec[key]
                readout["b_out"] += g.sum()
                logits.append(logit)
            return credits

        mode = RTRL_MODE.get(self.config.algo, self.config.algo)
        chunks: list[dict[str, torch.Tensor]] = []
        on_update = None
        if self.config.update_every is not None:

            def on_update(grads):
                chunks.append(grads)
                self._apply(grads, readout)

        if self.config.algo == "bptt":
            result = run_bptt(self.params, x, credit)
        else:
            result = run_rtrl(
                self.params,
                x,
                credit,
                mode=mode,
                update_every=self.config.update_every,
                on_update=on_update,
                final_influence=True,
                measure_nonzero=False,  # M_t's non-zero count every step: not part of a training record
            )
        if on_update is None:
            self._apply(result.grads, readout)
        loss, correct = self._scores(torch.stack(logits), y)
        c = result.counters
        stats = {
            "loss": loss.item(),
            "acc": correct.double().mean().item(),
            "alpha": c.mean("alpha"),
            "beta": c.mean("beta"),
            "forward_macs": c.total("forward_macs"),
        }
        if self.config.algo == "bptt":
            words = c.total("activation_words") / B  # held per sample at the end of the forward pass
            return {**stats, "backward_macs": c.total("backward_macs"), "activation_words": words}
        dense_influence = c.n * c.n * c.sparsity["p_total"] * T * B
        return {
            **stats,
            "influence_macs": c.total("influence_macs"),
            "immediate_macs": c.total("immediate_macs"),
            "gradient_macs": c.total("gradient_macs"),
            "influence_stored": c.mean("influence_stored"),
            "dense_influence_macs": dense_influence,
            "influence_zero_fraction_state": result.final_influence["state_zero_fraction"],
            "influence_zero_fraction_output": result.final_influence["output_zero_fraction"],
        }

    def _apply(self, grads: dict[str, torch.Tensor], readout: dict[str, torch.Tensor]) -> None:
        """Optimiser step from RTRL gradients (theta's through tau) and the readout's own gradient
        accumulated since the last step (sum over scored steps of dL/dlogit_t s_t, and of dL/dlogit_t),
        which restarts at zero."""
        for k, leaf in self.leaves.items():
            if k == "tau":
                th = torch.sigmoid(leaf.detach())
                leaf.grad = grads["theta"] * th * (1 - th)
            elif k in readout:
                leaf.grad = readout[k].clone()
                readout[k].zero_()
            else:
                leaf.grad = grads[k].clone()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.sync()

    def step(self) -> dict[str, Any]:
        x, y = self._batch(self.iteration)
        t0 = time.perf_counter()
        self.sync()
        stats = self._step_gradient(x, y)
        return finish_iteration(self, stats, self.params.sparsity()["omega_maskable"], t0)

    # -- evaluation ---------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, split: str) -> dict[str, float]:
        """Loss, accuracy, alpha and beta on a whole split (forward pass only, EVAL_CHUNK samples at
        a time)."""
        self.sync()
        data = self.data[split]
        P = self.params.effective()
        zeros_out = zeros_d = correct = 0
        loss = 0.0
        for first in range(0, len(data), EVAL_CHUNK):
            x, y = data.batch(list(range(first, min(len(data), first + EVAL_CHUNK))))
            prev = self.cell.initial(x.shape[1])
            logits = []
            for t in range(x.shape[0]):
                prev = self.cell.step(P, prev, x[t])
                zeros_out += int((prev[self.cell.output_key] == 0).sum())
                zeros_d += int((prev["d"] == 0).sum())
                if t >= x.shape[0] - self.task.scored:
                    logits.append(self._logit(prev[self.cell.state_key]))
            chunk_loss, chunk_correct = self._scores(torch.stack(logits), y)
            loss += chunk_loss.item() * x.shape[1]
            correct += int(chunk_correct.sum())
        total = self.task.T * len(data) * self.config.n
        return {
            "loss": loss / len(data),
            "accuracy": correct / len(data),
            "alpha": zeros_out / total,
            "beta": zeros_d / total,
        }

    # -- persistence --------------------------------------------------------------------------
    def save(self) -> None:
        self.sync()
        extra = {
            "train_config": asdict(self.config),
            "iteration": self.iteration,
            "optimizer": self.optimizer.state_dict(),
            "leaves": {k: v.detach().clone() for k, v in self.leaves.items()},
            "history": self.history,
            "evals": self.evals,
            "seconds": self.seconds,
        }
        save_checkpoint(self.out / "checkpoint.pt", self.params, extra)
        write_metrics(self.out, self.metrics(), self.seconds)

    def restore(self) -> None:
        path = self.out / "checkpoint.pt"
        params, extra = load_checkpoint(path)
        extra = resumable_extra(path, self.config, extra, ("optimizer", "leaves"))
        with torch.no_grad():
            for k, v in extra["leaves"].items():
                self.leaves[k].copy_(v)
        self.optimizer.load_state_dict(extra["optimizer"])
        self.iteration = extra["iteration"]
        self.history = extra["history"]
        self.evals = extra["evals"]
        self.seconds = extra["seconds"]
        self.sync()

    def metrics(self) -> dict[str, Any]:
        final = {s: self.evaluate(s) for s in ("train", "val", "test")}
        return {
            "config": asdict(self.config),
            "iterations_done": self.iteration,
            "sparsity": self.params.sparsity(),
            "final": final,
            "evals": self.evals,
            "history": self.history,
        }


EVAL_CHUNK = 1000  # samples per forward pass when evaluating a split


def finish_iteration(trainer: Any, stats: dict[str, Any], omega: float, t0: float) -> dict[str, Any]:
    """Complete an iteration's record (the paper's compute factor (1 - beta)^2 (1 - omega)^2 and the
    iteration number), note its wall clock apart from the record, and count it."""
    stats["paper_compute"] = (1 - stats["beta"]) ** 2 * (1 - omega) ** 2
    stats["iteration"] = trainer.iteration + 1
    trainer.seconds.append(time.perf_counter() - t0)
    trainer.iteration += 1
    trainer.history.append(stats)
    return stats


def batch_indices(i: int, size: int, batch: int, seed: int) -> list[int]:
    """Iteration i's training samples: consecutive slices of a per-epoch seeded permutation of the
    training split (so a resumed run draws what it would have drawn)."""
    start, idx = i * batch, []
    while len(idx) < batch:
        epoch, pos = divmod(start + len(idx), size)
        perm = torch.randperm(size, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
        idx.extend(perm[pos : pos + batch - len(idx)].tolist())
    return idx


def write_metrics(out: Path, metrics: dict[str, Any], seconds: list[float]) -> None:
    """metrics.json (a function of the configuration alone) and timing.json (this machine's wall
    clock per iteration), each written atomically."""
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=1))
    timing = {"wall_seconds": sum(seconds), "seconds_per_iteration": seconds}
    atomic_write_text(out / "timing.json", json.dumps(timing, indent=1))


RESUMABLE = ("train_config", "iteration", "history", "evals", "seconds")


def resumable_extra(path: Path, config: TrainConfig, extra: dict[str, Any], own: tuple[str, ...]) -> dict[str, Any]:
    """A checkpoint's trainer state, checked: RESUMABLE's keys present, trained with the settings
    given (all but the iteration, evaluation and checkpoint counts; so a fixed-point run resumed as
    float is told so), and the trainer's `own` keys present."""
    missing = [k for k in RESUMABLE if k not in extra]
    if missing:
        raise UserError(f"--resume: {path} is not a training checkpoint (no {', '.join(missing)})")
    try:
        stored = TrainConfig(**extra["train_config"])
    except TypeError as exc:
        raise UserError(f"--resume: {path}: bad train_config ({exc})") from None
    may_differ = ("iterations", "eval_every", "checkpoint_every")
    diff = {
        k: (v, getattr(config, k)) for k, v in asdict(stored).items() if getattr(config, k) != v and k not in may_differ
    }
    if diff:
        raise UserError(
            f"--resume: the checkpoint in {path.parent} was trained with other settings {diff} (stored, given)"
        )
    missing = [k for k in own if k not in extra]  # the settings agree, so the trainer's own state must be there
    if missing:
        raise UserError(f"--resume: {path} is not a training checkpoint (no {', '.join(missing)})")
    return extra


def train(
    config: TrainConfig,
    out: str | os.PathLike,
    resume: bool = False,
    progress: bool = True,
    on_checkpoint: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Train (or resume) into `out`: checkpoint.pt and metrics.json, rewritten atomically at every
    checkpoint and at the end (`on_checkpoint(iteration)` after each). Returns the final metrics."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if config.numerics == "fixed":
        from golden.fixed_train import FixedTrainer  # numpy only; imported when used

        trainer: Trainer | FixedTrainer = FixedTrainer(config, out)
    else:
        trainer = Trainer(config, out)
    if (out / "checkpoint.pt").exists():
        if not resume:
            raise UserError(
                f"--out: {out} already holds a checkpoint; pass --resume to continue it or choose another folder"
            )
        trainer.restore()
        if on_checkpoint:
            on_checkpoint(trainer.iteration)
    bar = tqdm(
        total=config.iterations,
        initial=trainer.iteration,
        disable=not progress,
        desc=f"{config.task} {config.algo} {config.cell} omega={config.omega}"
        + (" fixed" if config.numerics == "fixed" else ""),
        unit="it",
    )
    while trainer.iteration < config.iterations:
        stats = trainer.step()
        bar.update(1)
        bar.set_postfix(loss=f"{stats['loss']:.3f}", acc=f"{stats['acc']:.2f}", beta=f"{stats['beta']:.2f}")
        i = trainer.iteration
        if i % config.eval_every == 0 or i == config.iterations:
            trainer.evals.append({"iteration": i, **trainer.evaluate("val")})
        if i % config.checkpoint_every == 0 or i == config.iterations:
            trainer.save()
            if on_checkpoint:
                on_checkpoint(i)
    bar.close()
    return json.loads((out / "metrics.json").read_text())
