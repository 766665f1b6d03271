"""Benchmark: dense against sparse RTRL wall-clock per step beside the ideal speedup from the counters.

Per step means the marginal cost of a step: each engine runs T and then 2T steps of the same inputs
(best of `repeats` each), and a step costs (t_2T - t_T) / (T batch); so the one-off allocation and
zeroing of M (hundreds of MB at n = 128) is not charged to the steps, as it is not in a long online
run. ideal speedup = dense MACs / sparse MACs over the same steps T .. 2T - 1 of the long run
(forward + influence + rescale + immediate + gradient, all from RunCounters); measured speedup =
dense / sparse seconds per step, with the per-step count of non-zero influence entries
(instrumentation, not RTRL) turned off in both. The batch is the spiral training's, 32, by default:
the gate and Jacobian work that both engines batch is then spread as it is in training. The
target (DESIGN.md) is measured >= 0.5 x ideal at n >= 64 wherever the ideal speedup is >= 4. Also
times one spiral-task iteration (n = 16, batch 32, 17 steps) for BPTT, dense and sparse RTRL, at one
thread and at every core (golden.threads chooses between them from the work's size). Each grid point
runs at the threads golden.threads chooses for it, or at `threads` when given.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from golden.atomic import atomic_write_text
from golden.cells import make_cell
from golden.config import CellConfig
from golden.fixed_train import FixedTrainer
from golden.malloc import reuse_freed_memory
from golden.params import CellParams
from golden.rtrl import run_rtrl
from golden.threads import cores, step_work, threads_for, use_threads
from golden.train import DEFAULT_LR, TrainConfig, Trainer

MAC_FIELDS = ("forward_macs", "influence_macs", "rescale_macs", "immediate_macs", "gradient_macs")


def _best_time(fn, repeats: int) -> tuple[float, Any]:
    """Best of repeats, with Python's garbage collector off while timing (as timeit does)."""
    best, result = float("inf"), None
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            t0 = time.perf_counter()
            result = fn()
            best = min(best, time.perf_counter() - t0)
    finally:
        if enabled:
            gc.enable()
    return best, result


def bench_point(
    n: int, omega: float, epsilon: float, steps: int, batch: int, repeats: int, seed: int = 0
) -> dict[str, Any]:
    """One configuration: EGRU, random initialisation, x ~ N(0, 1) with 4 inputs, dense credits."""
    cfg = CellConfig(cell="egru", n=n, n_in=4, omega=omega, epsilon=epsilon, seed=seed)
    params = CellParams.initialise(cfg)
    gen = torch.Generator().manual_seed(seed + 7)
    x = torch.randn(2 * steps, batch, cfg.n_in, generator=gen, dtype=cfg.torch_dtype)
    credits = {
        k: torch.randn(2 * steps, batch, n, generator=gen, dtype=cfg.torch_dtype) for k in make_cell(cfg).credit_keys
    }

    def run(mode: str, length: int):
        part = {k: v[:length] for k, v in credits.items()}
        return run_rtrl(params, x[:length], part, mode=mode, measure_nonzero=False)

    seconds, macs, counters = {}, {}, {}
    for mode in ("dense", "sparse"):
        t_short, _ = _best_time(lambda: run(mode, steps), repeats)
        t_long, result = _best_time(lambda: run(mode, 2 * steps), repeats)
        seconds[mode] = max(t_long - t_short, 1e-9) / (steps * batch)  # never 0 (noise at tiny sizes)
        macs[mode] = sum(float(result.counters.per_step[f][steps:].sum()) for f in MAC_FIELDS)
        counters[mode] = result.counters
    ideal = macs["dense"] / macs["sparse"]
    measured = seconds["dense"] / seconds["sparse"]
    per = steps * batch
    sparse = counters["sparse"]
    return {
        "n": n,
        "omega": omega,
        "epsilon": epsilon,
        "steps": steps,
        "batch": batch,
        "alpha": float(sparse.per_step["alpha"][steps:].mean()),
        "beta": float(sparse.per_step["beta"][steps:].mean()),
        "dense_ms_per_step": 1e3 * seconds["dense"],
        "sparse_ms_per_step": 1e3 * seconds["sparse"],
        "dense_macs_per_step": macs["dense"] / per,
        "sparse_macs_per_step": macs["sparse"] / per,
        "ideal_speedup": ideal,
        "measured_speedup": measured,
        "fraction_of_ideal": measured / ideal,
        "target_applies": n >= 64 and ideal >= 4,
        "meets_target": (measured >= 0.5 * ideal) if (n >= 64 and ideal >= 4) else None,
    }


def bench_spiral_iteration(repeats: int, threads: int) -> dict[str, Any]:
    """Seconds per spiral training iteration (n = 16, batch 32, T = 17) for each algorithm at
    `threads` threads, and the count golden.threads would choose for each; "fixed" is the integer
    trainer's iteration (exact sparse RTRL, golden.fixed_step) and fixed_ratio its time over float
    sparse RTRL's in the same run (target, DESIGN.md: at most 5). Both run under the malloc settings
    every trainer sets (golden.malloc.reuse_freed_memory), so neither pays page faults the
    other does not."""
    reuse_freed_memory()
    out: dict[str, Any] = {"threads": threads, "auto_threads": {}}
    torch.set_num_threads(threads)
    runs = {algo: TrainConfig(algo=algo) for algo in ("bptt", "rtrl", "sparse-rtrl")}
    runs["fixed"] = TrainConfig(numerics="fixed", optimizer="signum", lr=DEFAULT_LR["signum"])
    macs = {}
    for name, config in runs.items():
        with tempfile.TemporaryDirectory() as d:
            trainer = (FixedTrainer if name == "fixed" else Trainer)(config, Path(d))
            trainer.step()  # the first step pays one-off costs (the extension's load)
            out[name], stats = _best_time(trainer.step, repeats)
        if name != "fixed":
            out["auto_threads"][name] = threads_for(step_work(name, config.n, 2, config.batch))
            macs[name] = iteration_macs(stats)
    out["fixed_ratio"] = out["fixed"] / out["sparse-rtrl"]
    out["sparse_over_bptt"] = out["sparse-rtrl"] / out["bptt"]  # target (issue 16): at most 3
    out["sparse_over_bptt_macs"] = macs["sparse-rtrl"] / macs["bptt"]
    return out


def iteration_macs(stats: dict[str, Any]) -> int:
    """An iteration's MACs from its record: forward and backward (BPTT), or forward, influence,
    immediate and gradient (RTRL and the rules)."""
    learning = ("backward_macs",) if "backward_macs" in stats else ("influence_macs", "immediate_macs", "gradient_macs")
    return int(stats["forward_macs"] + sum(stats[k] for k in learning))


def bench_against_torch_gru(repeats: int, threads: int, ns: tuple[int, ...] = (16, 256, 512)) -> list[dict[str, Any]]:
    """Seconds per spiral training iteration (batch 32, T = 17, Adam) of golden's EGRU with BPTT
    (golden.bptt.run_bptt through golden.train.Trainer) and of torch's nn.GRU with a linear readout
    of its last state and the same loss, at each n, on `threads` threads; the ratio golden / torch
    (targets: at most 1.5 at n = 16, at most 1 at n >= 256). Both under the same malloc settings."""
    reuse_freed_memory()
    torch.set_num_threads(threads)
    rows = []
    for n in ns:
        with tempfile.TemporaryDirectory() as d:
            trainer = Trainer(TrainConfig(algo="bptt", n=n), Path(d))
            trainer.step()
            golden = _best_time(trainer.step, repeats)[0]
            x, y = trainer._batch(0)
        gru = torch.nn.GRU(2, n, dtype=torch.float64)
        readout = torch.nn.Linear(n, 1, dtype=torch.float64)
        optimiser = torch.optim.Adam([*gru.parameters(), *readout.parameters()], lr=3e-3)

        def gru_step() -> None:
            _, h = gru(x)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(readout(h[-1]).squeeze(-1), y)
            loss.backward()
            optimiser.step()
            optimiser.zero_grad(set_to_none=True)

        gru_step()
        reference = _best_time(gru_step, repeats)[0]
        target = 1.5 if n < 256 else 1.0
        ratio = golden / reference
        rows.append(
            {
                "n": n,
                "threads": threads,
                "golden_bptt_s": golden,
                "torch_gru_s": reference,
                "ratio": ratio,
                "target": target,
                "meets_target": ratio <= target,
            }
        )
    return rows


def run_bench(
    out: str | os.PathLike,
    ns=(16, 64, 128),
    omegas=(0.0, 0.5, 0.9),
    epsilons=(0.1, 1.0),
    steps: int = 10,
    batch: int = 32,
    repeats: int = 2,
    progress: bool = True,
    threads: int = 0,
) -> dict[str, Any]:
    """Run the grid, write bench.json and bench.md into `out`, return the report."""
    grid = [(n, w, e) for n in ns for w in omegas for e in epsilons]
    rows = []
    for n, w, e in tqdm(grid, desc="bench", disable=not progress):
        used = use_threads(threads, step_work("rtrl", n, 4, batch))
        rows.append({**bench_point(n, w, e, steps, batch, repeats), "threads": used})
    settings = sorted({1, cores()})
    report = {
        "rows": rows,
        "spiral": [bench_spiral_iteration(repeats, t) for t in settings],
        "torch_gru": bench_against_torch_gru(repeats, 1),
        "torch": torch.__version__,
        "cores": cores(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    atomic_write_text(Path(out) / "bench.json", json.dumps(report, indent=1))
    atomic_write_text(Path(out) / "bench.md", markdown(report))
    return report


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "| n | ω | ε | α | β | dense ms/step | sparse ms/step | ideal speedup | measured speedup "
        "| measured / ideal | target | threads |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        target = "-" if r["meets_target"] is None else ("met" if r["meets_target"] else "MISSED")
        lines.append(
            f"| {r['n']} | {r['omega']:g} | {r['epsilon']:g} | {r['alpha']:.2f} | {r['beta']:.2f} | "
            f"{r['dense_ms_per_step']:.3f} | {r['sparse_ms_per_step']:.3f} | {r['ideal_speedup']:.2f} | "
            f"{r['measured_speedup']:.2f} | {r['fraction_of_ideal']:.2f} | {target} | {r.get('threads', '-')} |"
        )
    lines += [
        "",
        f"Spiral task, one iteration (n = 16, batch 32, T = 17; torch {report['torch']}, {report['cores']} cores):",
        "",
        "| threads | BPTT s | dense RTRL s | sparse RTRL s | fixed-point sparse RTRL s "
        "| fixed / float sparse | target ≤ 5 | sparse RTRL / BPTT | target ≤ 3 | their MACs' ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in report["spiral"]:
        lines.append(
            f"| {s['threads']} | {s['bptt']:.4f} | {s['rtrl']:.4f} | {s['sparse-rtrl']:.4f} | {s['fixed']:.4f} | "
            f"{s['fixed_ratio']:.2f} | {'met' if s['fixed_ratio'] <= 5 else 'MISSED'} | "
            f"{s['sparse_over_bptt']:.2f} | {'met' if s['sparse_over_bptt'] <= 3 else 'MISSED'} | "
            f"{s['sparse_over_bptt_macs']:.1f} |"
        )
    lines += [
        "",
        "Golden EGRU with BPTT against torch's nn.GRU, one spiral training iteration (batch 32, T = 17, Adam):",
        "",
        "| n | threads | golden BPTT s | nn.GRU s | golden / nn.GRU | target |",
        "|---|---|---|---|---|---|",
    ]
    for g in report["torch_gru"]:
        verdict = "met" if g["meets_target"] else "MISSED"
        lines.append(
            f"| {g['n']} | {g['threads']} | {g['golden_bptt_s']:.4f} | {g['torch_gru_s']:.4f} | {g['ratio']:.2f} "
            f"| ≤ {g['target']:g}: {verdict} |"
        )
    auto = report["spiral"][0]["auto_threads"]
    lines += ["", "Threads golden.threads chooses for it: " + ", ".join(f"{k} {v}" for k, v in auto.items()) + "."]
    return "\n".join(lines) + "\n"
