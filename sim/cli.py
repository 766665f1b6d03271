"""`python -m sim`: replay golden traces through the RTL blocks (cocotb on Icarus or Verilator, or
Amaranth's simulator) and report bit-exactness, cycles, events per cycle and lane utilisation."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from golden.atomic import atomic_write_text
from golden.cli_support import Parser, out_file, out_folder, run_cli
from golden.errors import UserError
from golden.outlock import locked_folder

COVERED = ("router", "accumulate", "influence", "cell")  # the blocks with trace testbenches
SPIRAL_TRACE = Path(__file__).resolve().parent.parent / "tests" / "data" / "spiral_egru_n8_w0.5.npz"


def build_parser() -> Parser:
    parser = Parser(prog="python -m sim", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    b = sub.add_parser("blocks", help="run traces through the blocks in Amaranth's simulator; JSON and markdown")
    b.add_argument("traces", nargs="+", help="trace files (.npz, egru-trace v1)")
    b.add_argument("--blocks", nargs="+", default=["router", "accumulate", "influence"], help="default: all three")
    b.add_argument("--lanes", type=int, nargs="+", default=[4, 8], help="lane counts (default 4 8)")
    b.add_argument("--samples", type=int, help="samples per trace (default: all)")
    b.add_argument("--out", required=True, help="folder for blocks.json and blocks.md")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    r = sub.add_parser("run", help="one block's cocotb testbench on a trace, on Icarus or Verilator")
    r.add_argument("--block", required=True, help="router, accumulate, influence or cell (the cell unit; no lanes)")
    r.add_argument("--sim", required=True, dest="simulator", help="icarus or verilator")
    r.add_argument("--trace", required=True, help="trace file (.npz, egru-trace v1)")
    r.add_argument("--lanes", type=int, default=4, help="event lanes / weights per word / MAC lanes (default 4)")
    r.add_argument("--samples", type=int, help="samples of the trace (default: all)")
    r.add_argument("--seeds", type=int, nargs="+", default=[0], help="backpressure seeds (default 0)")
    r.add_argument("--backpressure", type=float, default=0.0, help="idle / not-ready probability (default 0)")
    r.add_argument("--waves", action="store_true", help="write an FST waveform")
    r.add_argument(
        "--out",
        default="out/sim/report.json",
        help="JSON report, or a folder for report.json (default out/sim/report.json)",
    )
    r.add_argument(
        "--calibration", default="out/calibration", help="folder for the calibration CSV (default out/calibration)"
    )
    be = sub.add_parser("bench", help="simulated cycles per second, Icarus against Verilator, on one trace")
    be.add_argument("--trace", default=str(SPIRAL_TRACE), help="trace (default: the checkout's spiral-trained one)")
    be.add_argument("--lanes", type=int, default=4, help="lanes (default 4)")
    be.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds (default 0 1 2)")
    be.add_argument("--out", required=True, help="folder for throughput.json and throughput.md")
    cv = sub.add_parser("coverage", help="line, branch, toggle, FSM-state and stall coverage of testbench runs")
    cv.add_argument("--blocks", nargs="+", default=list(COVERED), help="default: all four")
    cv.add_argument(
        "--traces", nargs="+", default=[str(SPIRAL_TRACE)], help="traces (default: the checkout's spiral-trained one)"
    )
    cv.add_argument("--lanes", type=int, default=4, help="lanes (default 4)")
    cv.add_argument("--samples", type=int, help="samples of the trace (default: all)")
    cv.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="backpressure seeds (default 0 1)")
    cv.add_argument(
        "--backpressure", type=float, nargs="+", default=[0.0, 0.3], help="probabilities, each run (default 0 0.3)"
    )
    cv.add_argument("--out", required=True, help="folder for coverage.json and coverage.md")
    cv.add_argument("--no-progress", action="store_true", help="no progress bar")
    cb = sub.add_parser("core-bench", help="simulated cycles per second of the core: native harness against cocotb")
    cb.add_argument("--n", type=int, default=8, help="units (default 8)")
    cb.add_argument("--batches", type=int, default=2, help="batches of 2 sequences of 17 steps (default 2)")
    cb.add_argument("--out", required=True, help="folder for core_bench.json and core_bench.md")
    t = sub.add_parser("train", help="train the spiral inside the simulated core, checked against the integer trainer")
    t.add_argument("--sim", required=True, dest="simulator", help="verilator (native harness) or amaranth")
    t.add_argument("--n", type=int, default=8, help="units (default 8)")
    t.add_argument("--omega", type=float, default=0.5, help="masked fraction of V_u, V_r, V_z (default 0.5)")
    t.add_argument("--iterations", type=int, default=300, help="updates (default 300)")
    t.add_argument("--batch", type=int, default=32, help="sequences per update, a power of two (default 32)")
    t.add_argument("--update-every", type=int, help="with --batch 1: also update every k steps")
    t.add_argument("--lr", type=float, help="learning rate, a power of two (default 2^-8)")
    t.add_argument("--optimizer", default="signum", help="signum (default) or sgdm")
    t.add_argument("--reset", default="paper", help="paper (default) or subtractive")
    t.add_argument("--seed", type=int, default=0, help="initialisation and batch order (default 0)")
    t.add_argument("--n-samples", type=int, default=10_000, help="spiral dataset size (default 10000)")
    t.add_argument("--lanes", type=int, default=4, help="MAC lanes of the influence update (default 4)")
    t.add_argument("--out", required=True, help="folder for report.json and report.md")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def cmd_train(args: argparse.Namespace) -> int:
    from golden.train import TrainConfig
    from sim.train import describe, train_on_core

    out = out_folder(args.out)
    config = TrainConfig(
        n=args.n, omega=args.omega, iterations=args.iterations, batch=args.batch,
        update_every=args.update_every, lr=args.lr, optimizer=args.optimizer, reset=args.reset, seed=args.seed,
        n_samples=args.n_samples, numerics="fixed",
    )  # fmt: skip
    with locked_folder(out):
        report = train_on_core(config, args.simulator, args.lanes, out, progress=not args.no_progress)
    print(describe(report))
    print(f"wrote {out / 'report.json'} and {out / 'report.md'}")
    exact = report["bit_exact"]
    same = exact["predictions_differing"] == 0 and exact["updates_differing"] == 0
    return 0 if same and report["cycles"]["steps_differing_from_the_cycle_function"] == 0 else 1


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def cmd_run(args: argparse.Namespace) -> int:
    from sim.run import describe, run_block, write_calibration, write_json

    out = out_file(args.out, "report.json")
    calibration_folder = out_folder(args.calibration, "--calibration")
    report = run_block(
        args.block,
        args.simulator,
        args.trace,
        args.lanes,
        args.samples,
        tuple(args.seeds),
        args.backpressure,
        args.waves,
        progress=_say,
    )
    write_json(report, out)
    calibration = write_calibration(report, calibration_folder)
    print(describe(report))
    print(f"wrote {out} and {calibration}")
    return 0 if report["passed"] else 1


def cmd_bench(args: argparse.Namespace) -> int:
    from sim.run import bench, bench_markdown, write_json

    with locked_folder(out_folder(args.out)) as out:
        report = bench(args.trace, args.lanes, tuple(args.seeds), progress=_say)
        write_json(report, out / "throughput.json")
        atomic_write_text(out / "throughput.md", bench_markdown(report))
    print(bench_markdown(report), end="")
    print(f"wrote {out}/throughput.json and throughput.md")
    return 0


def cmd_coverage(args: argparse.Namespace) -> int:
    import json

    from tqdm import tqdm

    from sim.coverage import block_coverage, markdown

    if args.lanes < 1:
        raise UserError(f"--lanes: got {args.lanes}; expected a positive integer")
    with locked_folder(out_folder(args.out)) as out:
        reports = []
        for block in tqdm(args.blocks, desc="coverage", unit="block", disable=args.no_progress):
            report = block_coverage(
                block, args.traces, args.lanes, args.samples, tuple(args.seeds), tuple(args.backpressure), _say
            )
            reports.append(report)
        atomic_write_text(out / "coverage.json", json.dumps(reports, indent=1))
        atomic_write_text(out / "coverage.md", markdown(reports))
    print(markdown(reports), end="")
    print(f"wrote {out}/coverage.json and coverage.md")
    return 0 if all(r["passed"] for r in reports) else 1


def cmd_core_bench(args: argparse.Namespace) -> int:
    from sim.core_bench import core_bench, core_bench_markdown
    from sim.run import write_json

    with locked_folder(out_folder(args.out)) as out:
        report = core_bench(args.n, args.batches, progress=_say)
        write_json(report, out / "core_bench.json")
        atomic_write_text(out / "core_bench.md", core_bench_markdown(report))
    print(core_bench_markdown(report), end="")
    print(f"wrote {out}/core_bench.json and core_bench.md")
    return 0


def cmd_blocks(args: argparse.Namespace) -> int:
    from sim.blocks import blocks_report, markdown, write_report

    with locked_folder(out_folder(args.out)) as out:
        report = blocks_report(args.traces, args.lanes, args.samples, args.blocks, progress=not args.no_progress)
        write_report(report, out)
    print(markdown(report), end="")
    print(f"wrote {args.out}/blocks.json and blocks.md")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    commands = {
        "blocks": cmd_blocks,
        "run": cmd_run,
        "bench": cmd_bench,
        "train": cmd_train,
        "core-bench": cmd_core_bench,
        "coverage": cmd_coverage,
    }
    return run_cli("sim", build_parser(), commands, argv)


if __name__ == "__main__":
    sys.exit(main())
