"""`python -m costmodel`: evaluate one design point, run sweeps, validate against golden, benchmark."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from costmodel.errors import UserError
from costmodel.hardware import (
    MAC_TYPES,
    UNITS,
    HardwareSettings,
    load_energy_table,
)
from costmodel.model import evaluate
from costmodel.table1 import CORE_METHOD, METHODS, SWEEP_METHODS, table1
from costmodel.workloads import workload, workloads
from golden.cli_support import Parser, on_interrupt, out_file, out_folder, run_cli
from golden.outlock import locked_folder

EVAL_FIELDS = ("memory", "memory_state", "memory_influence", "time_per_step", "forward_term", "influence_term")


def build_parser() -> Parser:
    parser = Parser(prog="python -m costmodel", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    e = sub.add_parser("eval", help="one design point: Table 1 terms and hardware figures")
    e.add_argument(
        "--method",
        default="all",
        help=f"one of {', '.join(SWEEP_METHODS)} (core: the online-learning core), or all of Table 1 (default)",
    )
    e.add_argument("--workload", help=f"a named EGRU-paper workload: {', '.join(workloads())}")
    e.add_argument("--n", type=int, help="units")
    e.add_argument("--p", type=float, help="parameters (default: n^2, Table 1's vanilla RNN; 3 n^2 with --workload)")
    e.add_argument("--T", type=float, help="sequence length (default 100)")
    e.add_argument("--alpha", type=float, help="activity sparsity in [0, 1] (default 0)")
    e.add_argument("--beta", type=float, help="derivative sparsity in [0, 1] (default 0)")
    e.add_argument("--omega", type=float, default=0.0, help="parameter sparsity in [0, 1) (default 0)")
    e.add_argument("--json", action="store_true", help="print one JSON object per method")
    _hardware_options(e)

    s = sub.add_parser("sweep", help="a design-space sweep from YAML: CSV, metadata and plots")
    s.add_argument("spec", nargs="?", help="sweep spec (default sweeps/default.yaml)")
    s.add_argument("--out", help="output folder (default out/sweeps/<name>)")
    s.add_argument("--no-progress", action="store_true", help="no progress bar (e.g. for logs)")
    s.add_argument(
        "--max-rows",
        type=int,
        default=None,
        dest="max_rows",
        help="refuse sweeps of more rows (points x methods) than this (default 20,000,000: about 5 GB of CSV)",
    )

    v = sub.add_parser("validate", help="predicted against golden-measured counts, per step")
    v.add_argument("--out", default="out/validate", help="report folder (default out/validate)")
    v.add_argument("--n", type=int, default=10, help="units (default 10)")
    v.add_argument("--T", type=int, default=12, help="steps (default 12)")
    v.add_argument("--batch", type=int, default=3, help="samples (default 3)")
    v.add_argument("--no-progress", action="store_true", help="no progress bar (e.g. for logs)")

    b = sub.add_parser("bench", help="design points per second of the vectorised model")
    b.add_argument("--out", default="out/bench", help="report folder (default out/bench)")
    b.add_argument("--points", type=int, default=300_000, help="points per method (default 300000)")

    sub.add_parser("workloads", help="list the named workloads and their sources")

    pt = sub.add_parser("patterns", help="SnAp-1 and SnAp-2 pattern sizes against n and omega (seeded masks)")
    pt.add_argument("--cell", default="egru", help="egru, gru, trnn or evnn (default egru)")
    pt.add_argument("--n", type=int, nargs="+", default=[10, 16, 32, 64, 128], help="units (default 10 16 32 64 128)")
    pt.add_argument("--omega", type=float, nargs="+", default=[0.5, 0.9, 0.95], help="default 0.5 0.9 0.95")
    pt.add_argument("--n-in", type=int, default=2, dest="n_in", help="inputs (default 2)")
    pt.add_argument("--seed", type=int, default=0, help="seeds the masks as golden does (default 0)")

    k = sub.add_parser("core", help="the online-learning core (rtl.core): cycles, time and memory per training step")
    k.add_argument("--n", type=int, required=True, help="units")
    k.add_argument("--omega", type=float, default=0.5, help="masked fraction of V_u, V_r, V_z (default 0.5)")
    k.add_argument("--alpha", type=float, default=0.8, help="fraction of units silent per step (default 0.8)")
    k.add_argument("--beta", type=float, default=0.4, help="fraction of units with d = 0 per step (default 0.4)")
    k.add_argument("--T", type=int, default=17, help="steps per sequence (default 17, the spiral's)")
    k.add_argument("--batch", type=int, default=32, help="sequences per update, a power of two (default 32)")
    k.add_argument("--lanes", type=int, default=4, help="MAC lanes of the influence update (default 4)")
    k.add_argument("--clock-mhz", type=float, default=50.0, dest="clock_mhz", help="clock (default 50)")
    k.add_argument("--json", action="store_true", help="print JSON")

    c = sub.add_parser("calibration", help="RTL cycles measured in cocotb against the cycle functions, as a plot")
    c.add_argument("folder", nargs="?", default="out/calibration", help="CSV folder (default out/calibration)")
    c.add_argument(
        "--out", default="out/calibration/calibration.png", help="output .png, or a folder: FOLDER/calibration.png"
    )
    return parser


def _hardware_options(p: argparse.ArgumentParser) -> None:
    d = HardwareSettings()
    p.add_argument("--lanes", type=int, default=d.lanes, help=f"MAC lanes (default {d.lanes})")
    p.add_argument(
        "--clock-mhz", type=float, default=d.clock_mhz, dest="clock_mhz", help=f"clock (default {d.clock_mhz:g})"
    )
    p.add_argument("--mac", default=d.mac, help=f"MAC type, one of {', '.join(MAC_TYPES)} (default {d.mac})")
    for name in ("weight_bits", "state_bits", "influence_bits", "index_bits"):
        p.add_argument(
            f"--{name.replace('_', '-')}",
            type=int,
            default=getattr(d, name),
            dest=name,
            help=f"default {getattr(d, name)}",
        )
    p.add_argument(
        "--static-power-mw",
        type=float,
        default=d.static_power_mw,
        dest="static_power_mw",
        help=f"static power, mW (default {d.static_power_mw:g}; an assumption, set yours)",
    )
    p.add_argument(
        "--core-batch",
        type=int,
        default=d.core_batch,
        dest="core_batch",
        help=f"method core: sequences per weight update, a power of two (default {d.core_batch})",
    )
    p.add_argument("--energy-table", dest="energy_table", help="YAML energy table (default: Horowitz 45 nm)")
    p.add_argument(
        "--fpga-device",
        dest="fpga_device",
        help="also the accelerator's LUTs, FFs and RAM blocks on this part (ice40-up5k or ecp5-85k)",
    )


def _check(name: str, value: float, low: float, high: float | None, text: str, open_high: bool = False) -> None:
    ok = math.isfinite(value) and value >= low and (high is None or (value < high if open_high else value <= high))
    if not ok:
        raise UserError(f"--{name}: got {value:g}; expected {text}")


def cmd_core(args: argparse.Namespace) -> int:
    from costmodel.core import core_training_step

    r = core_training_step(args.n, args.omega, args.alpha, args.beta, args.T, args.batch, args.lanes, args.clock_mhz)
    if args.json:
        print(json.dumps(r, indent=1))
        return 0
    print(
        f"EGRU core n={args.n} omega={args.omega:g} alpha={args.alpha:g} beta={args.beta:g} T={args.T} "
        f"batch={args.batch}, {args.lanes} MAC lanes at {args.clock_mhz:g} MHz (rtl.core.cycles, rtl.core.memory)"
    )
    print(
        f"  {r['cycles_per_training_step']:,.0f} cycles per training step ({r['us_per_training_step']:.4g} us), "
        f"{r['cycles_per_sequence']:,.0f} per sequence ({r['us_per_sequence']:.4g} us), "
        f"{r['cycles_per_update']:,} per update"
    )
    bits = r["memory_bits"]
    print(
        f"  on-chip memory: {bits['total']:,} bits ("
        + ", ".join(f"{k} {v:,}" for k, v in bits.items() if k != "total")
        + ")"
    )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    wl: dict[str, Any] | None = None
    if args.workload:
        wl = workload(args.workload)
        for key in ("n", "alpha"):
            if getattr(args, key) is None:
                setattr(args, key, wl[key])
        if args.beta is None:
            args.beta = wl["beta_paper"]
        if args.T is None:
            if wl["T"] is None:
                raise UserError(f"--T: workload {args.workload} has no sequence length in its source; give --T")
            args.T = wl["T"]
        if args.p is None:
            args.p = 3.0 * args.n**2
    if args.n is None:
        raise UserError("--n: required (or name a --workload)")
    args.T = 100.0 if args.T is None else args.T
    args.alpha = 0.0 if args.alpha is None else args.alpha
    args.beta = 0.0 if args.beta is None else args.beta
    args.p = float(args.n**2) if args.p is None else args.p
    _check("n", args.n, 1, None, "an integer >= 1")
    _check("p", args.p, 1, None, "a number >= 1")
    _check("T", args.T, 1, None, "a number >= 1")
    _check("alpha", args.alpha, 0, 1, "a number in [0, 1]")
    _check("beta", args.beta, 0, 1, "a number in [0, 1]")
    _check("omega", args.omega, 0, 1, "a number in [0, 1)", open_high=True)
    methods = list(METHODS) if args.method == "all" else [args.method]
    if args.method != "all" and args.method not in SWEEP_METHODS:
        raise UserError(f"--method: unknown method {args.method!r}; expected one of {', '.join(SWEEP_METHODS)} or all")
    if args.fpga_device:
        from costmodel.fpga import check_range

        check_range(args.n, args.lanes, where="--")
    hw = HardwareSettings(**{name: getattr(args, name) for name in HardwareSettings.__dataclass_fields__})
    if CORE_METHOD in methods:  # the sweeps give NaN where the core cannot be built; here its reason
        from costmodel.core import core_training_step

        core_training_step(int(args.n), args.omega, args.alpha, args.beta, int(args.T), hw.core_batch, hw.lanes)
    energy = load_energy_table(hw.energy_table)
    results = [evaluate_point(m, args.n, args.p, args.T, args.alpha, args.beta, args.omega, hw) for m in methods]
    for r in results:
        r["hardware"]["memory_class"]["value"] = energy.memory_names()[int(r["hardware"]["memory_class"]["value"])]
    if wl is not None:
        paper = _workload_comparison(args, wl)
        for r in results:
            r["workload"] = paper
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results, indent=1))
        return 0
    _print_table(results, args, energy.source)
    if wl is not None:
        _print_workload(results[0]["workload"])
    return 0


def evaluate_point(method: str, n, p, T, alpha, beta, omega, hw: HardwareSettings) -> dict[str, Any]:
    """One method at one point (costmodel.model.evaluate): Table 1 terms (words, operations) and
    hardware figures with units."""
    point = {"n": n, "p": p, "T": T, "alpha": alpha, "beta": beta, "omega": omega}
    row = {k: v[0] for k, v in evaluate([method], {k: np.array([float(v)]) for k, v in point.items()}, hw).items()}
    out: dict[str, Any] = {"method": method, **point}
    for field in EVAL_FIELDS:
        out[field] = float(row[field])
    out["units"] = {f: UNITS[f] for f in EVAL_FIELDS}
    hardware = [k for k in UNITS if k not in EVAL_FIELDS and k in row]
    out["hardware"] = {k: {"value": float(row[k]), "unit": UNITS[k]} for k in hardware}
    out["hardware_settings"] = {k: getattr(hw, k) for k in hw.__dataclass_fields__}
    return out


def _workload_comparison(args, wl: dict[str, Any]) -> dict[str, Any]:
    """The paper's reported numbers beside Table 1 and our exact EGRU accounting at those densities."""
    from costmodel.exact import expected_counts
    from costmodel.rtl_cycles import expected_influence_cycles

    n, T = int(args.n), int(args.T)
    exact = expected_counts("egru", n, int(wl["n_in"]), T, args.alpha, args.beta, args.omega)
    dense = exact["dense"]["influence_macs"] / T
    sparse = exact["sparse"]["influence_macs"] / T
    t1 = table1("rtrl-both", n, args.p, T, args.alpha, args.beta, args.omega)
    return {
        "name": args.workload,
        "source": wl["source"],
        "paper": {
            "activity_sparsity": wl["alpha"],
            "backward_sparsity": wl["beta_paper"],
            "note": "the paper's backward sparsity counts H' = 0 under its approximate BPTT; used here as beta",
        },
        "table1_rtrl_both_influence_ratio": float(t1.influence_term / (n * n * args.p)),
        "exact_egru_influence_ratio": sparse / dense,
        "exact_egru_sparse_influence_macs_per_step": sparse,
        "rtl_influence_cycles_per_step": expected_influence_cycles(
            "egru", n, int(wl["n_in"]), T, args.beta, args.omega, int(args.lanes)
        ),
        "rtl_lanes": int(args.lanes),
        "rtl_clock_mhz": float(args.clock_mhz),
    }


def _print_table(results: list[dict[str, Any]], args, source: str) -> None:
    print(
        f"n={args.n:g} p={args.p:g} T={args.T:g} alpha={args.alpha:g} beta={args.beta:g} omega={args.omega:g}; "
        f"{args.lanes} lanes at {args.clock_mhz:g} MHz, {args.mac} MACs"
    )
    head = (
        f"{'method':<14}{'memory (words)':>16}{'time/step (ops)':>17}{'forward':>12}{'influence':>13}"
        f"{'storage (B)':>13}{'cycles':>12}{'latency (us)':>14}{'energy (pJ)':>13}"
    )
    print(head)
    for r in results:
        h = r["hardware"]
        print(
            f"{r['method']:<14}{r['memory']:>16.4g}{r['time_per_step']:>17.4g}{r['forward_term']:>12.4g}"
            f"{r['influence_term']:>13.4g}{h['storage_bytes']['value']:>13.4g}{h['cycles']['value']:>12.4g}"
            f"{h['latency_us']['value']:>14.4g}{h['energy_pj']['value']:>13.4g}"
        )
    print(f"energy coefficients: {source}")


def _print_workload(w: dict[str, Any]) -> None:
    print(f"workload {w['name']}: {w['source']}")
    print(
        f"  paper: activity sparsity {w['paper']['activity_sparsity']:.1%}, backward sparsity "
        f"{w['paper']['backward_sparsity']:.1%} ({w['paper']['note']})"
    )
    print(
        f"  sparse/dense influence ops: Table 1 rtrl-both {w['table1_rtrl_both_influence_ratio']:.4f}; "
        f"exact EGRU accounting {w['exact_egru_influence_ratio']:.4f} (the EGRU's leak keeps every row of M)"
    )
    cycles = w["rtl_influence_cycles_per_step"]
    print(
        f"  RTL influence update (rtl.blocks.cycles, {w['rtl_lanes']} MAC lanes): {cycles:.4g} cycles/step, "
        f"{cycles / w['rtl_clock_mhz']:.4g} us/step at {w['rtl_clock_mhz']:g} MHz"
    )


def cmd_sweep(args: argparse.Namespace) -> int:
    from costmodel.spec import load_spec
    from costmodel.sweep import DEFAULT_SPEC, MAX_ROWS, count_rows, run_sweep

    max_rows = MAX_ROWS if args.max_rows is None else args.max_rows
    _check("max-rows", max_rows, 1, None, "a positive integer")
    spec = load_spec(args.spec or DEFAULT_SPEC)
    folder = out_folder(args.out or Path("out") / "sweeps" / spec.name)
    points, rows = count_rows(spec)
    if not args.no_progress and rows <= max_rows:
        print(f"sweep {spec.name}: {points:,} points x {len(spec.methods)} methods = {rows:,} rows", file=sys.stderr)
    with locked_folder(folder) as out:
        on_interrupt(f"the finished chunks are kept in {out}/.partial; run the same command again to resume")
        meta = run_sweep(spec, out, progress=not args.no_progress, max_rows=max_rows)
    resumed = f", {meta['chunks_resumed']} chunk(s) resumed" if meta["chunks_resumed"] else ""
    print(
        f"sweep {spec.name}: {meta['design_points']} points x {len(spec.methods)} methods = {meta['rows']} rows"
        f"{resumed}; wrote {out}/results.csv, meta.json and {', '.join(meta['figures']) or 'no plots'}"
    )
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from costmodel.validate import markdown, validate

    for name in ("n", "T", "batch"):
        _check(name, getattr(args, name), 1, None, "a positive integer")
    with locked_folder(out_folder(args.out)) as out:
        report = validate(out, n=args.n, T=args.T, B=args.batch, progress=not args.no_progress)
    print(markdown(report), end="")
    print(f"wrote {args.out}/validate.json and validate.md")
    return 0 if report["exact_ok"] else 1


def cmd_patterns(args: argparse.Namespace) -> int:
    from costmodel.exact_rules import pattern_table

    print(pattern_table(args.cell, args.n, args.omega, args.n_in, args.seed), end="")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from costmodel.bench import run_bench

    _check("points", args.points, 1, None, "a positive integer")
    with locked_folder(out_folder(args.out)) as out:
        r = run_bench(out, points=args.points)
    print(
        f"{r['points_per_second']:.3g} design points per second ({r['design_points']} in {r['seconds']:.3f} s; "
        f"target 1e6: {'met' if r['meets_target'] else 'MISSED'}); wrote {args.out}/bench.json"
    )
    return 0


def cmd_workloads(args: argparse.Namespace) -> int:
    for name, w in workloads().items():
        T = "T not stated" if w["T"] is None else f"T={w['T']}"
        print(
            f"{name:<16} n={w['n']:<5} {T:<14} alpha={w['alpha']:.3f} beta_paper={w['beta_paper']:.3f}  {w['source']}"
        )
    return 0


def cmd_calibration(args: argparse.Namespace) -> int:
    from costmodel.calibration import plot_calibration, read_calibration, summarise

    out = out_file(args.out, "calibration.png")
    rows = read_calibration(Path(args.folder))
    plot_calibration(rows, out)
    failed = False
    for block, s in summarise(rows).items():
        if s["steps"]:
            print(
                f"{block}: {s['steps']} steps without backpressure ({len(s['files'])} files in {args.folder}), "
                f"worst |measured - cycle function| = {s['worst']}"
            )
        if s["stalled_steps"]:
            print(
                f"{block}: {s['stalled_steps']} steps with backpressure ({len(s['stalled_files'])} files), "
                f"up to {s['largest_excess']} cycles above the cycle function (stalls; only more is allowed)"
            )
        if s["below_cycle_function"]:
            print(f"{block}: {s['below_cycle_function']} steps took FEWER cycles than the cycle function")
        failed |= bool(s["worst"]) or bool(s["below_cycle_function"])
    print(f"wrote {out}")
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    commands = {
        "eval": cmd_eval,
        "core": cmd_core,
        "sweep": cmd_sweep,
        "validate": cmd_validate,
        "bench": cmd_bench,
        "workloads": cmd_workloads,
        "patterns": cmd_patterns,
        "calibration": cmd_calibration,
    }
    return run_cli("costmodel", build_parser(), commands, argv)


if __name__ == "__main__":
    sys.exit(main())
