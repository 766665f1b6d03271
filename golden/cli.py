"""`python -m golden`: reference traces, a BPTT / RTRL demonstration, spiral training and its Fig. 3."""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from golden.atomic import atomic_write_text
from golden.bench import markdown, run_bench
from golden.bptt import bptt_gradients, run_bptt
from golden.cells import make_cell
from golden.checkpoint import load_checkpoint, read_torch_file
from golden.cli_support import Parser, on_interrupt, out_file, out_folder, run_cli
from golden.config import CELLS, DTYPES, RESETS, CellConfig
from golden.errors import UserError
from golden.evnn import from_evnn_state_dict
from golden.figures import load_run, plot_fig3
from golden.fixed_errors import markdown as fixed_errors_markdown
from golden.fixed_errors import measure
from golden.outlock import locked_folder
from golden.params import CellParams
from golden.rtrl import run_rtrl
from golden.snap import RULES
from golden.sweep_bench import markdown as markdown_sweep_bench
from golden.sweep_bench import run_sweep_bench
from golden.tasks import TASKS
from golden.threads import cores, step_work, use_threads
from golden.trace import TRACE_ALGOS, make_trace
from golden.train import ALGOS, TrainConfig, train
from golden.train_sweep import load_sweep_spec, run_sweep
from golden.widths import load_widths_spec, run_widths

CELL_KEYS = ("cell", "reset", "n", "n_in", "gamma", "epsilon", "omega")
DEFAULTS = {k: CellConfig.__dataclass_fields__[k].default for k in CELL_KEYS}  # one source: CellConfig


def _positive_int(name: str, value: int) -> int:
    if value <= 0:
        raise UserError(f"{name}: got {value}; expected a positive integer")
    return value


def _threads_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads (default 0: one for small work, every core for large; see golden.threads)",
    )


def _add_cell_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cell", help=f"one of {', '.join(CELLS)} (default egru)")
    p.add_argument("--reset", help=f"EGRU reset, one of {', '.join(RESETS)} (default paper)")
    p.add_argument("--n", type=int, help="units (default 16)")
    p.add_argument("--n-in", type=int, dest="n_in", help="inputs (default 2)")
    p.add_argument("--gamma", type=float, help="pseudo-derivative height (default 0.7)")
    p.add_argument("--epsilon", type=float, help="pseudo-derivative half-width (default 1.0)")
    p.add_argument("--omega", type=float, help="masked fraction of each recurrent matrix, in [0, 1) (default 0)")
    p.add_argument("--seed", type=int, default=0, help="seeds weights, masks, inputs and credits (default 0)")
    p.add_argument("--dtype", default="float64", choices=sorted(DTYPES), help="float precision (default float64)")
    p.add_argument("--steps", type=int, default=20, help="sequence length T (default 20)")
    p.add_argument("--batch", type=int, default=2, help="batch size B (default 2)")
    p.add_argument(
        "--input-scale",
        type=float,
        default=1.0,
        dest="input_scale",
        help="standard deviation of the random input drive x ~ N(0, s^2) (default 1.0)",
    )
    _threads_option(p)


def build_parser() -> Parser:
    parser = Parser(prog="python -m golden", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    tr = sub.add_parser("trace", help="write a reference trace (.npz, format egru-trace v1)")
    _add_cell_options(tr)
    tr.add_argument("--checkpoint", help="take the cell, weights and masks from this checkpoint")
    tr.add_argument(
        "--evnn-state",
        dest="evnn_state",
        help="take the weights from an EvNN EGRU layer's state dict (a torch .pt file; golden.evnn); the cell is evnn",
    )
    tr.add_argument("--inputs", help="a .npy array [T, B, n_in] to use as x instead of random input")
    tr.add_argument("--out", required=True, help="output .npz path (or a folder: FOLDER/trace.npz)")
    tr.add_argument(
        "--algo",
        default="sparse-rtrl",
        help=f"the gradient stored as grad_<param>: one of {', '.join(TRACE_ALGOS)} (default sparse-rtrl)",
    )
    demo = sub.add_parser(
        "demo", help="BPTT vs dense and sparse RTRL and the approximate rules on one random sequence: agreement, costs"
    )
    _add_cell_options(demo)
    demo.add_argument(
        "--json", help="also write the sparse run's counters (per-step arrays) to this file (or FOLDER/counters.json)"
    )

    t = sub.add_parser("train", help="train on the spiral or cue task with BPTT, exact RTRL or an approximate rule")
    t.add_argument("--task", default="spiral", help=f"one of {', '.join(TASKS)} (default spiral)")
    t.add_argument(
        "--dt",
        type=float,
        default=1.0,
        help="the cue task's time step in ms (default 1, as published; 25 gives 88 steps a sequence)",
    )
    t.add_argument("--cell", default="egru", help=f"one of {', '.join(CELLS)} (default egru)")
    t.add_argument("--reset", default="paper", help=f"EGRU reset, one of {', '.join(RESETS)} (default paper)")
    t.add_argument("--algo", default="sparse-rtrl", help=f"one of {', '.join(ALGOS)} (default sparse-rtrl)")
    t.add_argument("--n", type=int, default=16, help="units (default 16)")
    t.add_argument("--omega", type=float, default=0.0, help="masked fraction of each recurrent matrix (default 0)")
    t.add_argument("--epsilon", type=float, default=1.0, help="pseudo-derivative half-width (default 1.0)")
    t.add_argument("--gamma", type=float, default=0.7, help="pseudo-derivative height (default 0.7)")
    t.add_argument("--iterations", type=int, default=1700, help="parameter updates (default 1700)")
    t.add_argument("--batch", type=int, default=32, help="batch size (default 32)")
    t.add_argument("--lr", type=float, help="learning rate (default: 3e-3 adam, 0.25 sgdm, 2^-8 signum)")
    t.add_argument(
        "--optimizer",
        help="adam, sgdm (SGD with momentum) or signum (sign of the momentum) (default: adam; signum with "
        "--numerics fixed)",
    )
    t.add_argument("--momentum", type=float, default=0.875, help="sgdm's and signum's (default 0.875 = 1 - 2^-3)")
    t.add_argument(
        "--numerics",
        default="float",
        help="float (torch, --dtype) or fixed: the integer training step of golden.fixed_step (default float)",
    )
    t.add_argument(
        "--format",
        action="append",
        default=[],
        dest="formats",
        metavar="SIGNAL=WIDTH,FRAC",
        help="with --numerics fixed: override one word format (repeatable), as rtl's --format",
    )
    t.add_argument("--seed", type=int, default=0, help="seeds weights, masks and batch order (default 0)")
    t.add_argument("--data-seed", type=int, default=0, dest="data_seed", help="seeds the data set (default 0)")
    t.add_argument("--samples", type=int, default=10_000, dest="n_samples", help="data set size (default 10000)")
    t.add_argument(
        "--update-every",
        type=int,
        dest="update_every",
        help="online RTRL: update the weights every K steps (default: once per sequence)",
    )
    t.add_argument("--eval-every", type=int, default=100, dest="eval_every", help="validation every K iterations")
    t.add_argument(
        "--checkpoint-every",
        type=int,
        default=100,
        dest="checkpoint_every",
        help="checkpoint and metrics.json every K iterations (default 100)",
    )
    t.add_argument("--dtype", default="float64", choices=sorted(DTYPES), help="float precision (default float64)")
    t.add_argument("--out", required=True, help="run folder: checkpoint.pt and metrics.json")
    t.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    t.add_argument("--no-progress", action="store_true", help="no progress bar (e.g. for logs)")
    _threads_option(t)

    f = sub.add_parser("fig3", help="the sparse-RTRL paper's Fig. 3 (A-D) from training runs, as PNG")
    f.add_argument("runs", nargs="+", help="run folders written by `train`")
    f.add_argument("--out", required=True, help="output .png (or a folder: FOLDER/fig3.png)")

    b = sub.add_parser("bench", help="dense vs sparse RTRL wall-clock beside the ideal speedup; JSON and markdown")
    b.add_argument("--out", required=True, help="folder for bench.json and bench.md")
    b.add_argument("--n", type=int, nargs="+", default=[16, 64, 128], help="sizes (default 16 64 128)")
    b.add_argument("--omega", type=float, nargs="+", default=[0.0, 0.5, 0.9], help="parameter sparsities")
    b.add_argument("--epsilon", type=float, nargs="+", default=[0.1, 1.0], help="pseudo-derivative half-widths")
    b.add_argument(
        "--steps", type=int, default=10, help="T: runs of T and 2T steps, timed per step between (default 10)"
    )
    b.add_argument("--batch", type=int, default=32, help="batch per run (default 32, as in training)")
    b.add_argument("--repeats", type=int, default=2, help="best of this many runs (default 2)")
    b.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads for the grid (default 0: chosen per point from its work); the spiral "
        "iteration is timed at 1 thread and at every core either way",
    )

    e = sub.add_parser(
        "fixed-errors", help="the integer training step against float64, quantity by quantity; JSON and markdown"
    )
    e.add_argument("--run", help="a --numerics fixed run folder: measure its network (default: a seeded initial one)")
    e.add_argument("--n", type=int, default=16, help="units of the initial network (default 16)")
    e.add_argument("--omega", type=float, default=0.0, help="masked fraction of the initial network (default 0)")
    e.add_argument("--reset", default="paper", help=f"EGRU reset, one of {', '.join(RESETS)} (default paper)")
    e.add_argument("--epsilon", type=float, default=1.0, help="pseudo-derivative half-width (default 1.0)")
    e.add_argument("--seed", type=int, default=0, help="seeds the initial network and the batch (default 0)")
    e.add_argument("--optimizer", default="signum", help="the rule of the weights row: signum or sgdm (default signum)")
    e.add_argument(
        "--format",
        action="append",
        default=[],
        dest="formats",
        metavar="SIGNAL=WIDTH,FRAC",
        help="override one word format (repeatable)",
    )
    e.add_argument("--updates", type=int, default=10, help="k of the weights row (default 10)")
    e.add_argument("--out", required=True, help="folder for fixed_errors.json and fixed_errors.md")
    _threads_option(e)

    w = sub.add_parser("widths", help="fixed-point training over grids of word widths: CSV, table, plot")
    w.add_argument("spec", help="a widths spec (YAML; see golden/widths.py and sweeps/widths/widths-spiral.yaml)")
    w.add_argument("--out", help="output folder (default out/widths/<spec name>)")
    w.add_argument("--workers", type=int, default=0, help="runs trained at once (default 0: one per core)")
    w.add_argument("--no-progress", action="store_true", help="no progress bar (e.g. for logs)")

    sw = sub.add_parser("sweep", help="a grid of training runs on dask: CSV, accuracy-versus-cost table and plots")
    sw.add_argument("spec", help="a training-sweep spec (YAML; see golden/train_sweep.py, sweeps/learning-rules.yaml)")
    sw.add_argument("--out", required=True, help="output folder: points/, results.csv, table.md, plots")
    sw.add_argument(
        "--workers",
        type=int,
        help="worker processes of the local cluster (default: one per core; 0: in this process, in turn)",
    )
    sw.add_argument("--scheduler", help="address of a running dask scheduler (e.g. tcp://host:8786) instead")
    sw.add_argument(
        "--finished-only",
        action="store_true",
        dest="finished_only",
        help="run nothing: write results.csv, table.md and the plots from the points finished so far",
    )
    sw.add_argument("--no-progress", action="store_true", help="no progress bar (e.g. for logs)")

    sb = sub.add_parser("sweep-bench", help="a 12-point training grid on 1 and on 2 dask workers: speedup, same CSV")
    sb.add_argument("--out", required=True, help="folder for sweep_bench.json, sweep_bench.md and the two sweeps")
    sb.add_argument("--iterations", type=int, default=100, help="training iterations per point (default 100)")
    sb.add_argument("--workers", type=int, default=2, help="workers of the second run (default 2)")
    sb.add_argument("--repeats", type=int, default=3, help="runs of each, alternating; the best counts (default 3)")
    sb.add_argument("--no-progress", action="store_true", help="no progress bar (e.g. for logs)")
    return parser


def _cell_params(args: argparse.Namespace) -> CellParams:
    """From a checkpoint (cell options must agree with it when given), an EvNN state dict, or a seeded
    initialisation."""
    if getattr(args, "evnn_state", None):
        return _evnn_params(args)
    if getattr(args, "checkpoint", None):
        params, _ = load_checkpoint(args.checkpoint)
        stored = params.config.to_dict()
        for key in CELL_KEYS:
            given = getattr(args, key)
            if given is not None and given != stored[key]:
                raise UserError(f"--{key.replace('_', '-')}: got {given!r} but the checkpoint has {stored[key]!r}")
        if args.dtype != params.config.dtype:
            params = CellParams(CellConfig(**{**stored, "dtype": args.dtype}), params.tensors, params.masks)
        return params
    values = {k: (getattr(args, k) if getattr(args, k) is not None else DEFAULTS[k]) for k in CELL_KEYS}
    return CellParams.initialise(CellConfig(**values, seed=args.seed, dtype=args.dtype))


def _evnn_params(args: argparse.Namespace) -> CellParams:
    """The evnn cell with an EvNN layer's weights (n and n_in from their shapes, nothing masked)."""
    path = Path(args.evnn_state)
    state = read_torch_file(path, f"--evnn-state: {path}", "torch state dict")
    if not isinstance(state, dict):
        raise UserError(f"--evnn-state: {path} holds a {type(state).__name__}, not a state dict")
    if args.cell not in (None, "evnn"):
        raise UserError(f"--cell: got {args.cell!r}; an EvNN state dict makes an evnn cell")
    tensors = from_evnn_state_dict(state)
    n, n_in = tensors["theta"].shape[0], tensors["W_u"].shape[1]
    for key, value in (("n", n), ("n_in", n_in)):
        if getattr(args, key) not in (None, value):
            raise UserError(f"--{key.replace('_', '-')}: got {getattr(args, key)} but the state dict has {value}")
    values = {k: (getattr(args, k) if getattr(args, k) is not None else DEFAULTS[k]) for k in ("gamma", "epsilon")}
    config = CellConfig(cell="evnn", n=n, n_in=n_in, seed=args.seed, dtype=args.dtype, **values)
    return CellParams(config, tensors, {})


def _inputs(args: argparse.Namespace, config: CellConfig) -> torch.Tensor:
    if getattr(args, "inputs", None):
        path = Path(args.inputs)
        if not path.is_file():
            raise UserError(f"--inputs: no such file {path}")
        try:
            x = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise UserError(f"--inputs: {path} is not a .npy array ({exc.__class__.__name__}: {exc})") from None
        if not isinstance(x, np.ndarray) or x.dtype.kind not in "biuf":
            raise UserError(f"--inputs: {path} is not a .npy array of numbers (an .npz archive or another dtype)")
        if x.ndim != 3 or x.shape[2] != config.n_in:
            raise UserError(f"--inputs: shape {x.shape}; expected [T, B, n_in={config.n_in}]")
        if not np.isfinite(x).all():
            raise UserError(f"--inputs: {path} contains NaN or infinite values; expected finite inputs")
        return torch.from_numpy(np.ascontiguousarray(x)).to(config.torch_dtype)
    _positive_int("--steps", args.steps)
    _positive_int("--batch", args.batch)
    if not (math.isfinite(args.input_scale) and args.input_scale > 0):
        raise UserError(f"--input-scale: got {args.input_scale}; expected a finite number > 0")
    gen = torch.Generator().manual_seed(args.seed + 7)
    return torch.randn(args.steps, args.batch, config.n_in, generator=gen, dtype=config.torch_dtype) * args.input_scale


def _credits(config: CellConfig, T: int, B: int, seed: int) -> dict[str, torch.Tensor]:
    """Dense random credits at every step (a real loss's credits are often zero until the end)."""
    gen = torch.Generator().manual_seed(seed + 11)
    keys = make_cell(config).credit_keys
    return {k: torch.randn(T, B, config.n, generator=gen, dtype=config.torch_dtype) for k in keys}


def cmd_trace(args: argparse.Namespace) -> int:
    out = out_file(args.out, "trace.npz")
    params = _cell_params(args)
    x = _inputs(args, params.config)
    use_threads(args.threads, step_work("rtrl", params.config.n, params.config.n_in, x.shape[1]))
    credits = _credits(params.config, x.shape[0], x.shape[1], args.seed)
    source = {"checkpoint": str(args.checkpoint)} if args.checkpoint else {"init": "random (seeded)"}
    inputs = {"inputs": str(args.inputs)} if args.inputs else {"input_scale": args.input_scale}
    trace = make_trace(params, x, credits, algo=args.algo, input_seed=args.seed, **source, **inputs)
    trace.save(out)
    m = trace.meta
    print(
        f"wrote {out}: {m['cell']} n={m['n']} n_in={m['n_in']} T={m['T']} B={m['B']} omega={m['omega']}"
        f" | events {1 - m['alpha']:.1%} of unit-steps, alpha={m['alpha']:.3f}, beta={m['beta']:.3f}"
        f" | gradient: {m['algo']}"
    )
    return 0


def _rel_error(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """max over parameters of max|a - b| / max|b| (0 where b is all zero and a equals it)."""
    worst = 0.0
    for k in b:
        scale = b[k].abs().max().item()
        diff = (a[k] - b[k]).abs().max().item()
        worst = max(worst, diff / scale if scale > 0 else diff)
    return worst


def cmd_demo(args: argparse.Namespace) -> int:
    json_out = out_file(args.json, "counters.json", "--json") if args.json else None
    params = _cell_params(args)
    cfg = params.config
    x = _inputs(args, cfg)
    threads = use_threads(args.threads, step_work("rtrl", cfg.n, cfg.n_in, x.shape[1]))
    credits = _credits(cfg, x.shape[0], x.shape[1], args.seed)
    t0 = time.perf_counter()
    g_bptt = bptt_gradients(params, x, credits)
    t1 = time.perf_counter()
    adjoint = run_bptt(params, x, credits)
    t_adjoint = time.perf_counter() - t1
    t1 = time.perf_counter()
    dense = run_rtrl(params, x, credits, mode="dense")
    t2 = time.perf_counter()
    sparse = run_rtrl(params, x, credits, mode="sparse")
    t3 = time.perf_counter()
    rules = {}
    for rule in RULES:
        start = time.perf_counter()
        rules[rule] = (run_rtrl(params, x, credits, mode=rule), time.perf_counter() - start)
    s = sparse.counters
    print(
        f"{cfg.cell} ({cfg.reset} reset) n={cfg.n} n_in={cfg.n_in} T={x.shape[0]} B={x.shape[1]} "
        f"omega={cfg.omega} epsilon={cfg.epsilon} gamma={cfg.gamma} {cfg.dtype}, {threads} thread(s)"
    )
    sp = params.sparsity()
    print(
        f"parameters: p={sp['p_total']} (maskable {sp['p_maskable']}), kept {sp['p_kept']}; "
        f"alpha={s.mean('alpha'):.3f} beta={s.mean('beta'):.3f}"
    )
    header = (
        f"{'method':<12}{'max rel err vs BPTT':>20}{'influence MACs/step':>22}{'stored entries':>16}"
        f"{'fwd MACs/step':>15}{'time s':>9}"
    )
    print(header)
    print("(bptt-adjoint: backward MACs per step in the influence column, activation words held in the stored one)")
    print(f"{'bptt':<12}{'(reference)':>20}{'-':>22}{'-':>16}{'-':>15}{t1 - t0:>9.3f}")
    a = adjoint.counters
    print(
        f"{'bptt-adjoint':<12}{_rel_error(adjoint.grads, g_bptt):>20.2e}{a.mean('backward_macs'):>22.0f}"
        f"{a.total('activation_words') / a.batch:>16.0f}{a.mean('forward_macs'):>15.0f}{t_adjoint:>9.3f}"
    )
    runs = [("rtrl-dense", dense, t2 - t1), ("rtrl-sparse", sparse, t3 - t2)]
    for name, run, dt in runs + [(rule, run, dt) for rule, (run, dt) in rules.items()]:
        c = run.counters
        print(
            f"{name:<12}{_rel_error(run.grads, g_bptt):>20.2e}{c.mean('influence_macs'):>22.0f}"
            f"{c.mean('influence_stored'):>16.0f}{c.mean('forward_macs'):>15.0f}{dt:>9.3f}"
        )
    ratio = s.total("influence_macs") / dense.counters.total("influence_macs")
    table1 = _table1_ratio(s)
    print(
        f"sparse/dense influence MACs: measured {ratio:.4f}; Table 1 rtrl-both "
        f"(1-beta)^2 (1-omega)^2 = {table1:.4f} with the measured mean beta and omega of the maskable parameters"
    )
    print("approximate rules against dense RTRL (n^2 p MACs, n p entries): measured, and Table 1 at the measured omega")
    dense_macs, dense_entries = dense.counters.mean("influence_macs"), cfg.n * sp["p_total"]
    for rule, (run, _) in rules.items():
        c = run.counters
        macs, entries = _table1_rule_ratios(rule, cfg.n, sp["omega_maskable"])
        print(
            f"  {rule:<6} influence MACs {c.mean('influence_macs') / dense_macs:.3g} (Table 1 {macs}), "
            f"stored entries {c.mean('influence_stored') / dense_entries:.3g} (Table 1 {entries})"
        )
    T = x.shape[0]
    print(
        f"  bptt   backward MACs per step {a.mean('backward_macs'):.0f} "
        f"(Table 1 n^2 + p = {cfg.n**2 + sp['p_total']}), "
        f"activation words {a.total('activation_words') / a.batch:.0f} (Table 1 T n = {T * cfg.n}; we keep the record"
        " and x_t of every step)"
    )
    if json_out:
        counters = {"dense": dense.counters.to_json(False), "sparse": s.to_json(), "bptt": a.to_json()}
        counters.update({rule: run.counters.to_json() for rule, (run, _) in rules.items()})
        atomic_write_text(json_out, json.dumps(counters, indent=1))
        print(f"wrote {json_out}")
    return 0


def _table1_rule_ratios(rule: str, n: int, omega: float) -> tuple[str, str]:
    """Table 1's influence MACs and memory of a SnAp row over dense RTRL's n^2 p and n p: SnAp-1
    w~ p / n^2 p and w~ p / n p, SnAp-2 w~^3 and w~^2; e-prop is not in Table 1."""
    w = 1 - omega
    if rule == "snap1":
        return f"{w / n**2:.3g}", f"{w / n:.3g}"
    if rule == "snap2":
        return f"{w**3:.3g}", f"{w**2:.3g}"
    return "-", "-"


def _table1_ratio(c) -> float:
    """Table 1's rtrl-both influence term over dense RTRL's: beta~^2 omega~^2."""
    return (1 - c.mean("beta")) ** 2 * (1 - c.sparsity["omega_maskable"]) ** 2


def cmd_train(args: argparse.Namespace) -> int:
    fields = {k: getattr(args, k) for k in TrainConfig.__dataclass_fields__ if hasattr(args, k)}
    config = TrainConfig(**fields)
    use_threads(args.threads, step_work(config.algo, config.n, config.cell_config().n_in, config.batch))
    with locked_folder(out_folder(args.out)) as out:

        def kept(iteration: int) -> None:
            on_interrupt(
                f"kept {out}/checkpoint.pt and metrics.json of iteration {iteration} of {config.iterations}; "
                "run the same command with --resume to continue"
            )

        metrics = train(config, out, resume=args.resume, progress=not args.no_progress, on_checkpoint=kept)
    acc = {k: round(v["accuracy"], 4) for k, v in metrics["final"].items()}
    wall = json.loads((out / "timing.json").read_text())["wall_seconds"]
    test = metrics["final"]["test"]
    print(
        f"{config.algo} {config.cell} omega={config.omega}: accuracy {acc}, test alpha={test['alpha']:.3f} "
        f"beta={test['beta']:.3f}, {wall:.0f} s; wrote {args.out}/metrics.json, timing.json and checkpoint.pt"
    )
    if config.numerics == "fixed":
        clipped = metrics["saturations"]
        detail = ", ".join(f"{k} {v}" for k, v in sorted(clipped.items(), key=lambda kv: -kv[1]))
        print(f"saturated values over the run: {sum(clipped.values())}" + (f" ({detail})" if detail else ""))
    return 0


def cmd_fig3(args: argparse.Namespace) -> int:
    out = out_file(args.out, "fig3.png")
    out = plot_fig3([load_run(r) for r in args.runs], out)
    print(f"wrote {out}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    for name in ("steps", "batch", "repeats"):
        _positive_int(f"--{name}", getattr(args, name))
    for n in args.n:
        _positive_int("--n", n)
    with locked_folder(out_folder(args.out)) as out:
        report = run_bench(
            out, args.n, args.omega, args.epsilon, args.steps, args.batch, args.repeats, threads=args.threads
        )
    print(markdown(report), end="")
    print(f"wrote {out}/bench.json and bench.md")
    return 0


def cmd_fixed_errors(args: argparse.Namespace) -> int:
    _positive_int("--updates", args.updates)
    if args.run:
        run = Path(args.run)
        _, extra = load_checkpoint(run / "checkpoint.pt")
        if "train_config" not in extra:
            raise UserError(f"--run: {run}/checkpoint.pt is not a training checkpoint")
        config = TrainConfig(**extra["train_config"])
        if config.numerics != "fixed":
            raise UserError(f"--run: {run} was trained with --numerics {config.numerics}; expected fixed")
    else:
        run = None
        fields = ("n", "omega", "reset", "epsilon", "seed", "optimizer", "formats")
        config = TrainConfig(numerics="fixed", **{k: getattr(args, k) for k in fields})
    use_threads(args.threads, step_work("sparse-rtrl", config.n, 2, config.batch))
    with locked_folder(out_folder(args.out)) as out, tempfile.TemporaryDirectory() as scratch:
        report = measure(config, run, args.updates, Path(scratch))
        atomic_write_text(out / "fixed_errors.json", json.dumps(report, indent=1))
        atomic_write_text(out / "fixed_errors.md", fixed_errors_markdown(report))
    print(fixed_errors_markdown(report), end="")
    outside = [r["quantity"] for r in report["rows"] if not r["within"]]
    print(f"{len(outside)} of {len(report['rows'])} rows outside their bound; wrote {out}/fixed_errors.json and .md")
    return 0


def cmd_widths(args: argparse.Namespace) -> int:
    spec = load_widths_spec(args.spec)
    if args.workers < 0:
        raise UserError(f"--workers: got {args.workers}; expected 0 (one per core) or a positive count")
    workers = args.workers or cores()
    with locked_folder(out_folder(args.out or f"out/widths/{spec.name}")) as out:
        on_interrupt(f"finished runs are kept in {out}/runs and started ones resume; run the same command again")
        rows = run_widths(spec, out, workers, progress=not args.no_progress)
    print((out / "widths.md").read_text(), end="")
    print(f"{len(rows)} runs; wrote {out}/widths.csv, widths.md and widths.png")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    load_sweep_spec(args.spec)  # a bad spec fails before the folder is made or a cluster started
    with locked_folder(out_folder(args.out)) as out:
        on_interrupt(f"finished points are kept in {out}/points and started ones resume; run the same command again")
        rows = run_sweep(
            args.spec,
            out,
            args.workers,
            args.scheduler,
            progress=not args.no_progress,
            finished_only=args.finished_only,
        )
    print((out / "table.md").read_text(), end="")
    tasks = ", ".join(f"accuracy_vs_cost_{t}.png" for t in dict.fromkeys(r["task"] for r in rows))
    total = len(load_sweep_spec(args.spec)[1])
    print(f"{len(rows)} of {total} points; wrote {out}/results.csv, table.md and {tasks}")
    return 0


def cmd_sweep_bench(args: argparse.Namespace) -> int:
    _positive_int("--iterations", args.iterations)
    _positive_int("--repeats", args.repeats)
    if args.workers < 2:
        raise UserError(f"--workers: got {args.workers}; expected at least 2 (the first run has 1)")
    with locked_folder(out_folder(args.out)) as out:
        report = run_sweep_bench(out, args.iterations, args.workers, not args.no_progress, args.repeats)
    print(markdown_sweep_bench(report), end="")
    print(f"wrote {out}/sweep_bench.json and sweep_bench.md")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    commands = {
        "trace": cmd_trace,
        "demo": cmd_demo,
        "train": cmd_train,
        "fig3": cmd_fig3,
        "bench": cmd_bench,
        "fixed-errors": cmd_fixed_errors,
        "widths": cmd_widths,
        "sweep": cmd_sweep,
        "sweep-bench": cmd_sweep_bench,
    }
    return run_cli("golden", build_parser(), commands, argv)


if __name__ == "__main__":
    sys.exit(main())
