"""Word widths against learning (`python -m golden widths SPEC --out DIR`): fixed-point training runs
over grids of word widths and seeds, beside float64 runs with the same rule and seeds, and the
on-chip memory each set of widths costs (costmodel.core_memory).

    name: spiral-widths
    train: {n: 16, iterations: 600}        # golden train settings shared by every run (fixed numerics)
    seeds: [0, 1, 2]
    axes:                                  # per signal, the widths to try; each keeps the default's
      influence: [12, 14, 16, 20, 24]      #   integer bits, so a narrower word drops fraction bits
      weight: [8, 10, 12, 16]              # lut_bits takes table index bits instead of widths
      lut_bits: [6, 8, 10]
    combine: separate                      # separate: one axis at a time, the rest at the defaults;
                                           # product: every combination
    memory_n: [16, 64]                     # sizes at which each point's memory is reported

Without axes the sweep is the default widths against float64, seed by seed.

Every run is a `golden train` run folder under DIR/runs (a finished one is skipped on a rerun, a
started one resumes from its checkpoint); DIR/widths.csv has one row per run (tidy), DIR/widths.md
the mean test accuracy per point with, per axis, the smallest width from which every wider one
tested keeps the mean within one point of float64's, and DIR/widths.png the accuracy against each
width and against memory bits with the accuracy-memory frontier.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from tqdm import tqdm

from costmodel.core_memory import core_memory_bits
from golden.atomic import atomic_write_text
from golden.errors import UserError
from golden.fixedpoint import DEFAULT, FixedPointConfig, Fmt, fixed_point
from golden.train import TrainConfig, train
from golden.widths_plot import plot_widths
from golden.yaml_spec import read_yaml, validate_document

SIGNALS = ("state", "weight", "pre", "gate", "coef", "deriv", "influence", "const", "credit", "grad", "master")
WITHIN = 0.01  # "learns": mean test accuracy within one point of float64's


class WidthsSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    train: dict[str, Any] = Field(default_factory=dict)
    seeds: list[int] = Field(default=[0], min_length=1)
    axes: dict[Literal[SIGNALS + ("lut_bits",)], list[int]] = Field(default_factory=dict)  # type: ignore[valid-type]
    combine: Literal["separate", "product"] = "separate"
    memory_n: list[int] = Field(default=[16, 64], min_length=1)

    @model_validator(mode="after")
    def _check(self) -> "WidthsSpec":
        forbidden = sorted(set(self.train) & {"numerics", "formats", "seed"})
        if forbidden:
            raise ValueError(f"train: {', '.join(forbidden)} are set by the sweep, not in train")
        for signal, values in self.axes.items():
            if not values:
                raise ValueError(f"axes.{signal}: no values; expected a list of widths")
            for value in values:
                try:
                    fixed_point([override(signal, value)])
                except UserError as error:
                    raise ValueError(f"axes.{signal}: {value} ({override(signal, value)}): {error}") from None
        if any(n <= 0 for n in self.memory_n):
            raise ValueError(f"memory_n: {self.memory_n}; expected positive sizes")
        for point in points(self):
            try:
                fixed_point(list(point))
            except UserError as error:
                raise ValueError(f"axes: the combination {' '.join(point)}: {error}") from None
        try:
            TrainConfig(numerics="fixed", **self.train)
        except (UserError, TypeError) as error:
            raise ValueError(f"train: {error}") from None
        return self


def override(signal: str, value: int) -> str:
    """One axis value as a --format string: lut_bits=b, or signal=w,f keeping the default's integer bits."""
    if signal == "lut_bits":
        return f"lut_bits={value}"
    fmt: Fmt = getattr(DEFAULT, signal)
    return f"{signal}={value},{value - (fmt.width - fmt.frac)}"


def points(spec: WidthsSpec) -> list[tuple[str, ...]]:
    """Every point's --format overrides (the defaults, ()), first."""
    axes = [[override(signal, v) for v in values] for signal, values in spec.axes.items()]
    if spec.combine == "product":
        found = [tuple(p) for p in itertools.product(*axes)]
    else:
        found = [(o,) for axis in axes for o in axis]
    out: list[tuple[str, ...]] = [()]
    for p in found:
        p = tuple(o for o in p if fixed_point([o]) != DEFAULT)  # an axis value equal to the default
        if p not in out:
            out.append(p)
    return out


def load_widths_spec(path: str | os.PathLike) -> WidthsSpec:
    return validate_document(WidthsSpec, read_yaml(path), f"spec {path}")


@dataclass(frozen=True)
class Run:
    formats: tuple[str, ...] | None  # None: the float64 baseline
    seed: int

    @property
    def label(self) -> str:
        kind = "float" if self.formats is None else ("-".join(self.formats) or "default").replace(",", "_")
        return f"{kind}-seed{self.seed}"


def run_config(spec: WidthsSpec, run: Run) -> TrainConfig:
    fixed = TrainConfig(numerics="fixed", seed=run.seed, **spec.train)
    if run.formats is None:  # the same rule, learning rate and seeds in float64
        return TrainConfig(**{**spec.train, "seed": run.seed, "optimizer": fixed.optimizer, "lr": fixed.lr})
    return TrainConfig(**{**spec.train, "seed": run.seed, "numerics": "fixed", "formats": run.formats})


def train_point(config: TrainConfig, folder: Path) -> dict[str, Any]:
    """One run (in a worker process): trained, resumed or, if finished, read back."""
    import torch

    torch.set_num_threads(1)
    metrics = folder / "metrics.json"
    if metrics.exists():
        done = json.loads(metrics.read_text())
        if done.get("iterations_done") == config.iterations:
            return done
    return train(config, folder, resume=(folder / "checkpoint.pt").exists(), progress=False)


def run_widths(spec: WidthsSpec, out: Path, workers: int, progress: bool = True) -> list[dict[str, Any]]:
    """Train every run (module docstring) and write widths.csv, widths.md and widths.png."""
    runs = [Run(None, s) for s in spec.seeds] + [Run(p, s) for p in points(spec) for s in spec.seeds]
    results: dict[Run, dict[str, Any]] = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(train_point, run_config(spec, r), out / "runs" / r.label): r for r in runs}
        for future in tqdm(as_completed(futures), total=len(futures), desc="widths", unit="run", disable=not progress):
            results[futures[future]] = future.result()
    rows = [_row(spec, r, results[r]) for r in runs]
    atomic_write_text(out / "widths.csv", _csv(rows))
    summary = summarise(rows, spec)
    atomic_write_text(out / "widths.md", markdown(summary, spec))
    plot_widths(summary, list(spec.axes), spec.memory_n[0], out / "widths.png")
    return rows


def _row(spec: WidthsSpec, run: Run, metrics: dict[str, Any]) -> dict[str, Any]:
    cfg = DEFAULT if run.formats is None else fixed_point(list(run.formats))
    omega = metrics["config"]["omega"]
    row: dict[str, Any] = {
        "point": "float64" if run.formats is None else (" ".join(run.formats) or "default"),
        "axis": "float64" if run.formats is None else _axis(run.formats),
        "seed": run.seed,
        "test_accuracy": metrics["final"]["test"]["accuracy"],
        "val_accuracy": metrics["final"]["val"]["accuracy"],
        "train_accuracy": metrics["final"]["train"]["accuracy"],
        "saturations": sum(metrics.get("saturations", {}).values()) if run.formats is not None else "",
        "iterations": metrics["iterations_done"],
    }
    for name in ("influence", "weight", "master", "state", "grad"):
        row[f"{name}_width"] = getattr(cfg, name).width
    row["lut_bits"] = cfg.lut_bits
    for n in spec.memory_n:
        bits = core_memory_bits(n, 2, omega, cfg, batch=metrics["config"]["batch"], steps=17)
        row[f"memory_bits_n{n}"] = "" if run.formats is None else int(bits["total"])
    return row


def _axis(formats: tuple[str, ...]) -> str:
    return "default" if not formats else "+".join(o.split("=")[0] for o in formats)


def _csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


@dataclass
class PointSummary:
    point: str
    axis: str
    accuracy: float  # mean test accuracy over seeds
    spread: float  # standard deviation over seeds
    memory: dict[int, int]  # memory bits at each memory_n
    cfg: FixedPointConfig | None
    within: bool

    def value(self, signal: str) -> int:
        """This point's width of `signal` (index bits for lut_bits)."""
        return self.cfg.lut_bits if signal == "lut_bits" else getattr(self.cfg, signal).width


def summarise(rows: list[dict[str, Any]], spec: WidthsSpec) -> dict[str, Any]:
    """Per point the mean and spread of test accuracy, its memory, and whether it is within one point
    of float64; per axis the smallest value from which every wider one is; the accuracy-memory
    frontier (the points no narrower-memory point matches in accuracy)."""
    by_point: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_point.setdefault(r["point"], []).append(r)
    float_acc = float(np.mean([r["test_accuracy"] for r in by_point["float64"]]))
    out: list[PointSummary] = []
    for point, group in by_point.items():
        acc = np.array([r["test_accuracy"] for r in group])
        fixed = point != "float64"
        out.append(
            PointSummary(
                point=point,
                axis=group[0]["axis"],
                accuracy=float(acc.mean()),
                spread=float(acc.std()),
                memory={n: int(group[0][f"memory_bits_n{n}"]) for n in spec.memory_n} if fixed else {},
                cfg=fixed_point([] if point == "default" else point.split()) if fixed else None,
                within=bool(acc.mean() >= float_acc - WITHIN),
            )
        )
    smallest = {}
    for signal in spec.axes:  # the narrowest point from which every wider one tested learns too
        tried = sorted(
            (p for p in out if p.cfg is not None and p.axis in (signal, "default")), key=lambda p: -p.value(signal)
        )
        for p in tried:
            if not p.within:
                break
            smallest[signal] = p
    fixed_points = sorted(
        (p for p in out if p.cfg is not None), key=lambda p: (p.memory[spec.memory_n[0]], -p.accuracy)
    )
    frontier, best = [], -1.0
    for p in fixed_points:
        if p.accuracy > best:
            frontier.append(p)
            best = p.accuracy
    return {"points": out, "float_accuracy": float_acc, "within": WITHIN, "smallest": smallest, "frontier": frontier}


def markdown(summary: dict[str, Any], spec: WidthsSpec) -> str:
    ns = spec.memory_n
    trained = ", ".join(f"{k} {v}" for k, v in spec.train.items()) or "the defaults"
    lines = [
        f"Trained with {trained}. float64 (same rule and seeds {spec.seeds}): mean test accuracy "
        f"{summary['float_accuracy']:.4f}; a point learns when its mean is within {WITHIN:.2f} of it.",
        "",
        "| point | mean test accuracy | spread | " + " | ".join(f"memory bits n = {n}" for n in ns) + " | learns |",
        "|---|---|---|" + "---|" * len(ns) + "---|",
    ]
    for p in summary["points"]:
        memory = " | ".join(f"{p.memory[n]:,}" if p.memory else "-" for n in ns)
        lines.append(f"| {p.point} | {p.accuracy:.4f} | {p.spread:.4f} | {memory} | {'yes' if p.within else 'no'} |")
    if spec.axes:
        lines += ["", "Smallest width per axis from which every wider one tested learns:", ""]
    for signal in spec.axes:
        p = summary["smallest"].get(signal)
        if p is None:
            lines.append(f"- {signal}: none of {spec.axes[signal]}")
        else:
            memory = ", ".join(f"{p.memory[n]:,} bits at n = {n}" for n in ns)
            lines.append(f"- {signal}: {p.value(signal)} ({p.point}; {memory})")
    lines += ["", "Accuracy-memory frontier (n = %d): " % ns[0] + ", ".join(p.point for p in summary["frontier"])]
    return "\n".join(lines) + "\n"
