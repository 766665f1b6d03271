"""`python -m golden sweep SPEC --out DIR`: a grid of training runs on dask (golden.executor).

A spec (YAML, validated with pydantic like the cost model's) names the grid's axes and the settings
every point shares:

    grid:                       # every combination is one training run (one `golden train`)
      task: [spiral, cue]
      algo: [bptt, sparse-rtrl, snap1, snap2, eprop]
      n: [16]
      omega: [0.0, 0.5, 0.9]
      epsilon: [0.5]
      seed: [0, 1, 2]
    train:                      # any other `golden train` setting, the same for every point
      iterations: 400
    per_task:                   # settings for one task's points (over `train`)
      cue: {dt: 50, lr: 0.01, iterations: 600}

Each point trains into DIR/points/NAME (NAME: its axes and a hash of all its settings) exactly as
`golden train --out DIR/points/NAME` would, so its metrics equal a run of that command; a finished
point is skipped on rerun, an interrupted one resumes from its checkpoint. Then DIR/results.csv
(one row per point, columns below; no wall-clock figures, so it does not depend on the executor),
DIR/table.md (per task, rule and omega: test accuracy mean and spread over seeds, learning MACs per
step and memory) and per task DIR/accuracy_vs_cost_TASK.png (costmodel.plots).

Learning cost per point, means over the run's iterations, per sample: `learning_macs_per_step` is
the influence update's MACs (RTRL and the rules) or the backward pass's (BPTT); `memory_words` the
influence entries held (RTRL, rules) or the activation words held (BPTT).
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from golden.atomic import atomic_write_text
from golden.errors import UserError
from golden.tasks import task_shape
from golden.train import TrainConfig, train
from golden.yaml_spec import read_yaml, validate_document

AXES = ("task", "algo", "cell", "n", "omega", "epsilon", "seed", "numerics")
COLUMNS = (
    *AXES,
    "iterations",
    "batch",
    "p_total",
    "p_kept",
    "train_accuracy",
    "val_accuracy",
    "test_accuracy",
    "test_loss",
    "test_alpha",
    "test_beta",
    "forward_macs_per_step",
    "learning_macs_per_step",
    "memory_words",
)


class Grid(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task: list[str] = Field(default=["spiral"], min_length=1)
    algo: list[str] = Field(default=["sparse-rtrl"], min_length=1)
    cell: list[str] = Field(default=["egru"], min_length=1)
    n: list[int] = Field(default=[16], min_length=1)
    omega: list[float] = Field(default=[0.0], min_length=1)
    epsilon: list[float] = Field(default=[1.0], min_length=1)
    seed: list[int] = Field(default=[0], min_length=1)
    numerics: list[str] = Field(default=["float"], min_length=1)


class TrainSweepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grid: Grid = Field(default_factory=Grid)
    train: dict[str, Any] = Field(default_factory=dict)
    per_task: dict[str, dict[str, Any]] = Field(default_factory=dict)


def load_sweep_spec(path: str | Path) -> tuple[TrainSweepSpec, list[TrainConfig]]:
    """The spec and its points in grid order; every point's settings are checked here, so a bad value
    is reported before anything runs."""
    source = f"spec {path}"
    spec = validate_document(TrainSweepSpec, read_yaml(path), source)
    known = {f.name for f in fields(TrainConfig)}
    sections = {"train": spec.train, **{f"per_task.{task}": v for task, v in spec.per_task.items()}}
    for section, settings in sections.items():
        for key in settings:
            if key in AXES:
                raise UserError(f"{source}: {section}.{key}: is a grid axis; set it under grid.{key}")
            if key not in known:
                raise UserError(
                    f"{source}: {section}.{key}: not a training setting; expected one of {sorted(known - set(AXES))}"
                )
    for task in spec.per_task:
        if task not in spec.grid.task:
            raise UserError(f"{source}: per_task.{task}: not a task of grid.task {spec.grid.task}")
    axes = [getattr(spec.grid, axis) for axis in AXES]
    points = []
    for values in itertools.product(*axes):
        point = dict(zip(AXES, values))
        try:
            points.append(TrainConfig(**{**spec.train, **spec.per_task.get(point["task"], {})}, **point))
        except (UserError, TypeError) as exc:
            shown = ", ".join(f"{k}={v}" for k, v in point.items())
            raise UserError(f"{source}: point ({shown}): {exc}") from None
    return spec, points


def point_name(config: TrainConfig) -> str:
    """The point's folder: its axes, readable, and a hash of every setting that shapes the run."""
    settings = {k: v for k, v in asdict(config).items() if k not in ("iterations", "eval_every", "checkpoint_every")}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]
    return (
        f"{config.task}-{config.algo}-{config.cell}-n{config.n}-w{config.omega:g}-e{config.epsilon:g}"
        f"-s{config.seed}-{config.numerics}-{digest}"
    )


def finished_metrics(folder: Path, config: TrainConfig) -> dict[str, Any] | None:
    """The folder's metrics.json when it is that of this configuration, trained to the end; else None."""
    try:
        metrics = json.loads((folder / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    done = (
        metrics.get("config") == json.loads(json.dumps(asdict(config)))
        and metrics.get("iterations_done") == config.iterations
    )
    return metrics if done else None


def run_point(config: dict[str, Any], folder: str) -> dict[str, Any]:
    """Train one point into its folder (resuming a checkpoint left by an interrupted attempt) on a
    single torch thread, and return its CSV row."""
    import torch

    torch.set_num_threads(1)
    cfg = TrainConfig(**config)
    out = Path(folder)
    metrics = finished_metrics(out, cfg)
    if metrics is None:
        metrics = train(cfg, out, resume=(out / "checkpoint.pt").exists(), progress=False)
    return csv_row(cfg, metrics)


def point_cost(config: TrainConfig) -> float:
    """A point's work for scheduling only (the costliest start first): iterations x T x batch x
    (n_in + n) n per step for BPTT, SnAp-1 and e-prop (their influence work is a few MACs per
    parameter), n times that for exact RTRL and SnAp-n, n >= 2 (about n MACs per parameter)."""
    n_in, T, _ = task_shape(config.task, config.dt)
    per_parameter = 1 if config.algo in ("bptt", "snap1", "eprop") else config.n
    return config.iterations * T * config.batch * (n_in + config.n) * config.n * per_parameter


def csv_row(config: TrainConfig, metrics: dict[str, Any]) -> dict[str, Any]:
    """One point's row (module doc): its axes, final accuracies and mean learning costs per sample."""
    _, T, _ = task_shape(config.task, config.dt)
    history = metrics["history"]
    per_step = T * config.batch
    if config.algo == "bptt":
        learning = [h["backward_macs"] / per_step for h in history]
        memory = [h["activation_words"] for h in history]
    else:
        learning = [h["influence_macs"] / per_step for h in history]
        memory = [h["influence_stored"] for h in history]
    final = metrics["final"]
    return {
        **{axis: getattr(config, axis) for axis in AXES},
        "iterations": metrics["iterations_done"],
        "batch": config.batch,
        "p_total": metrics["sparsity"]["p_total"],
        "p_kept": metrics["sparsity"]["p_kept"],
        "train_accuracy": final["train"]["accuracy"],
        "val_accuracy": final["val"]["accuracy"],
        "test_accuracy": final["test"]["accuracy"],
        "test_loss": final["test"]["loss"],
        "test_alpha": final["test"]["alpha"],
        "test_beta": final["test"]["beta"],
        "forward_macs_per_step": sum(h["forward_macs"] for h in history) / len(history) / per_step,
        "learning_macs_per_step": sum(learning) / len(learning),
        "memory_words": sum(memory) / len(memory),
    }


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def run_sweep(
    spec_path: str | Path,
    out: str | Path,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    finished_only: bool = False,
) -> list[dict[str, Any]]:
    """Run every point not yet finished on the cluster, then write results.csv, table.md and the
    plots; returns the rows in grid order. finished_only: run nothing and report the points finished
    so far (a long sweep's results while it runs, or after it was stopped)."""
    from golden.executor import dask_client, run_points

    _, points = load_sweep_spec(spec_path)
    out = Path(out)
    folders = [out / "points" / point_name(c) for c in points]
    done_metrics = [finished_metrics(f, c) for c, f in zip(points, folders)]
    rows: list[dict[str, Any] | None] = [csv_row(c, m) if m else None for c, m in zip(points, done_metrics)]
    todo = [i for i, row in enumerate(rows) if row is None]
    if todo and not finished_only:
        with dask_client(workers, scheduler) as client:
            done = run_points(
                client,
                run_point,
                [(asdict(points[i]), str(folders[i])) for i in todo],
                [folders[i].name for i in todo],
                progress=progress,
                desc=f"sweep ({len(points) - len(todo)} of {len(points)} already done)",
                costs=[point_cost(points[i]) for i in todo],
            )
        for i, row in zip(todo, done):
            rows[i] = row
    rows = [row for row in rows if row is not None]
    if not rows:
        raise UserError(f"--finished-only: no point of {spec_path} has finished in {out}/points yet")
    write_csv(out / "results.csv", rows)
    atomic_write_text(out / "table.md", markdown_table(rows))
    from costmodel.plots import accuracy_vs_cost

    for task in dict.fromkeys(r["task"] for r in rows):
        accuracy_vs_cost([r for r in rows if r["task"] == task], out, task)
    return rows


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (task, algo, cell, n, omega, epsilon, numerics): the seeds' test accuracy mean and standard
    deviation and the mean learning MACs per step and memory words."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(r[a] for a in AXES if a != "seed"), []).append(r)
    out = []
    for key, members in groups.items():
        acc = [m["test_accuracy"] for m in members]
        mean = sum(acc) / len(acc)
        spread = (sum((a - mean) ** 2 for a in acc) / (len(acc) - 1)) ** 0.5 if len(acc) > 1 else 0.0
        out.append(
            {
                **dict(zip([a for a in AXES if a != "seed"], key)),
                "seeds": len(members),
                "accuracy_mean": mean,
                "accuracy_std": spread,
                "learning_macs_per_step": sum(m["learning_macs_per_step"] for m in members) / len(members),
                "memory_words": sum(m["memory_words"] for m in members) / len(members),
            }
        )
    return out


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| task | rule | cell | n | ω | ε | seeds | test accuracy (mean ± std) | learning MACs per step "
        "| memory words |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summarise(rows):
        lines.append(
            f"| {s['task']} | {s['algo']} | {s['cell']} | {s['n']} | {s['omega']:g} | {s['epsilon']:g} "
            f"| {s['seeds']} | {s['accuracy_mean']:.3f} ± {s['accuracy_std']:.3f} "
            f"| {s['learning_macs_per_step']:,.0f} | {s['memory_words']:,.0f} |"
        )
    return "\n".join(lines) + "\n"
