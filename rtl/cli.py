"""`python -m rtl`: Verilog for one accelerator block, with its parameters and fixed-point formats
in a JSON file beside it, optionally linted with Verilator; synthesis and place-and-route reports;
the golden self-test top in simulation and as a board bitstream."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import fields
from pathlib import Path
from typing import Sequence

from golden.cli_support import Parser, on_interrupt, out_file, out_folder, run_cli
from golden.errors import UserError
from golden.fixedpoint import FixedPointConfig, fixed_point
from golden.outlock import locked_folder
from golden.trace_file import read_trace_file
from rtl.blocks.params import (
    AccumulateParams,
    CellUnitParams,
    GradientParams,
    InfluenceParams,
    InputParams,
    LinearizeParams,
    ReadoutParams,
    RouterParams,
    UpdateParams,
    check_blocks,
    egru_columns,
    make_params,
)
from rtl.core.params import CoreParams
from rtl.toolchain import check_verilator

SELFTEST_LANES = {"router": 2, "accumulate": 2, "influence": 4}
PROVE_N = {"router": 4, "accumulate": 2, "influence": 3}  # small: the solver's time grows fast with n


def _executor_options(p: argparse.ArgumentParser) -> None:
    """Where the points run: golden.executor's local cluster or a running dask scheduler."""
    p.add_argument(
        "--workers",
        type=int,
        help="worker processes of the local dask cluster (default: one per core; 0: in this process, in turn)",
    )
    p.add_argument("--scheduler", help="address of a running dask scheduler (e.g. tcp://host:8786) instead")


def build_parser() -> Parser:
    parser = Parser(prog="python -m rtl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    v = sub.add_parser("verilog", help="generate Verilog (and a JSON of parameters and formats) for one block")
    v.add_argument(
        "--block",
        required=True,
        help="router, accumulate, influence, cell (the cell unit), linearise (its linearisation), gradient, "
        "input (W x + b), readout (logit and credit), update (the weight update) or core (the learner)",
    )
    v.add_argument("--n", type=int, help="units (default 16, or the trace's)")
    v.add_argument(
        "--lanes",
        type=int,
        help="event lanes (router, default 1), words of L weights (accumulate, "
        "default 1) or MAC lanes (influence, default 4)",
    )
    v.add_argument(
        "--columns",
        type=int,
        help="influence, linearise: compacted parameter columns P (default: the trace's, "
        "else the EGRU's p for n units and n_in inputs)",
    )
    v.add_argument("--n-in", type=int, help="linearise, input: inputs (default 2, or the trace's)")
    v.add_argument(
        "--batch", type=int, default=1, help="gradient, readout, update, core: samples per update (default 1)"
    )
    v.add_argument("--steps", type=int, default=17, help="gradient, update, core: steps per sample (default 17)")
    v.add_argument("--no-decay", action="store_true", help="influence: no decay term (the threshold RNN)")
    v.add_argument("--trace", help="take n, columns and the decay term from this trace (.npz)")
    _format_option(v)
    v.add_argument("--lint", action="store_true", help="lint the result with verilator --lint-only -Wall")
    v.add_argument("--out", required=True, help="output folder")
    s = sub.add_parser("synth", help="synthesis and place-and-route of one block (YoWASP Yosys and nextpnr)")
    s.add_argument(
        "--block", required=True, help="router, accumulate, influence, cell, linearise, gradient, input or readout"
    )
    s.add_argument("--device", required=True, help="ice40-up5k, ecp5-25k or ecp5-85k")
    s.add_argument("--n", type=int, help="units (default 16, or the trace's)")
    s.add_argument("--lanes", type=int, help="as for verilog")
    s.add_argument("--columns", type=int, help="influence, linearise: compacted parameter columns P")
    s.add_argument("--n-in", type=int, help="linearise, input: inputs (default 2, or the trace's)")
    s.add_argument(
        "--batch", type=int, default=1, help="gradient, readout, update, core: samples per update (default 1)"
    )
    s.add_argument("--steps", type=int, default=17, help="gradient, update, core: steps per sample (default 17)")
    s.add_argument("--no-decay", action="store_true", help="influence: no decay term (the threshold RNN)")
    s.add_argument("--trace", help="take n, columns and the decay term from this trace (.npz)")
    _format_option(s)
    s.add_argument(
        "--out", help="also copy the JSON report to this file (or FOLDER/<block>_n<n>_L<lanes>_<device>.json)"
    )
    w = sub.add_parser("sweep", help="resources over n and lanes (Yosys), a fitted model with held-back error, a plot")
    w.add_argument("--blocks", nargs="+", default=["router", "accumulate", "influence"], help="default: all three")
    w.add_argument("--devices", nargs="+", default=["ice40-up5k", "ecp5-85k"], help="default: ice40-up5k ecp5-85k")
    w.add_argument("--n", type=int, nargs="+", default=[4, 8, 12, 16], help="units (default 4 8 12 16)")
    w.add_argument("--lanes", type=int, nargs="+", default=[1, 2, 4], help="lanes (default 1 2 4)")
    w.add_argument(
        "--hold-out-n", type=int, nargs="+", default=[12], dest="hold_out_n", help="n held back (default 12)"
    )
    w.add_argument("--out", required=True, help="folder: resources.csv (resumable), fit.json, resources.png")
    w.add_argument(
        "--place", action="store_true", help="also place and route every point (nextpnr): Fmax and fit; slow"
    )
    _format_option(w)
    _executor_options(w)
    w.add_argument("--no-progress", action="store_true", help="no progress bar")
    f = sub.add_parser("prove", help="formal verification of a block's properties with SymbiYosys")
    f.add_argument("--block", required=True, help="router (six properties), accumulate or influence (three each)")
    f.add_argument("--n", type=int, help="units (default: router 4, accumulate 2, influence 3; solver time grows fast)")
    f.add_argument("--lanes", type=int, help="lanes (default: router 2, the others 1)")
    f.add_argument("--columns", type=int, default=3, help="influence: compacted parameter columns P (default 3)")
    f.add_argument("--mode", default="bmc", help="bmc (bounded, default) or prove (k-induction)")
    f.add_argument("--depth", type=int, default=20, help="cycles of the bounded check, k of the induction (default 20)")
    f.add_argument("--faults", action="store_true", help="also check that every broken variant is caught")
    f.add_argument("--out", default="out/prove", help="folder: jobs, prove.json, prove.md (default out/prove)")
    f.add_argument("--no-progress", action="store_true", help="no progress bar")
    c = sub.add_parser("capacity", help="largest n of each block that fits each part (Yosys counts, then nextpnr)")
    c.add_argument("--blocks", nargs="+", default=list(SELFTEST_LANES), help="default: all three")
    c.add_argument("--devices", nargs="+", default=["ice40-up5k", "ecp5-85k"], help="default: ice40-up5k ecp5-85k")
    c.add_argument("--omega", type=float, default=0.5, help="parameter sparsity of V (influence columns; default 0.5)")
    c.add_argument("--lanes", type=int, default=1, help="lanes of every block (default 1)")
    c.add_argument("--limit", type=int, default=256, help="largest n tried (default 256)")
    c.add_argument(
        "--no-place", action="store_true", help="trust Yosys's counts; skip nextpnr (slow on the largest blocks)"
    )
    _format_option(c)
    c.add_argument("--out", required=True, help="folder: probes.csv (resumable), capacity.json, capacity.md")
    _executor_options(c)
    c.add_argument("--no-progress", action="store_true", help="no progress bar")
    for name, what in (
        ("selftest", "run the golden self-test top in Amaranth's simulator (pass/fail and its UART report)"),
        ("build", "bitstream of the golden self-test for a board (amaranth-boards, YoWASP)"),
    ):
        b = sub.add_parser(name, help=what)
        if name == "build":
            b.add_argument("--board", required=True, help="icebreaker or ulx3s-85f")
        else:
            b.add_argument("--board", help="simulate the top as built for this board (its RAM tiling)")
        b.add_argument("--trace", required=True, help="golden trace (.npz) whose sample the blocks replay")
        b.add_argument("--blocks", nargs="+", default=list(SELFTEST_LANES), help="default: router accumulate influence")
        b.add_argument("--sample", type=int, default=0, help="trace sample (default 0)")
        b.add_argument("--steps", type=int, help="replay the first STEPS steps (default: all)")
        b.add_argument(
            "--lanes",
            action="append",
            default=[],
            metavar="BLOCK=L",
            help="lanes of a block (repeatable; default "
            + ", ".join(f"{k}={v}" for k, v in SELFTEST_LANES.items())
            + ")",
        )
        if name == "selftest":
            b.add_argument(
                "--corrupt",
                metavar="BLOCK:STREAM:INDEX",
                help="flip the low bit of one expected word (e.g. influence:readback:5): the test must fail",
            )
        else:
            b.add_argument("--out", help="build folder (default out/build/BOARD-BLOCKS-<hash of the settings>)")
    for name, what in (
        ("core-selftest", "the core's on-board training self-test, run in Amaranth's simulator (its UART report)"),
        ("core-build", "bitstream of the core's training self-test for a board (amaranth-boards, YoWASP)"),
    ):
        small = name == "core-selftest"
        k = sub.add_parser(name, help=what)
        if not small:
            k.add_argument("--board", required=True, help="ulx3s-85f (the core does not fit the UP5K)")
        k.add_argument("--n", type=int, default=4 if small else 8, help=f"units (default {4 if small else 8})")
        k.add_argument("--iterations", type=int, default=2 if small else 20, help="updates of the core in ROM")
        k.add_argument("--batch", type=int, default=2 if small else 32, help="sequences per update (a power of two)")
        k.add_argument("--tests", type=int, default=4 if small else 1000, help="test sequences predicted at the end")
        k.add_argument("--seed", type=int, default=0, help="initialisation and batch order (default 0)")
        k.add_argument("--lanes", type=int, default=4, help="MAC lanes of the influence update (default 4)")
        if small:
            k.add_argument("--corrupt", action="store_true", help="expect a CRC one off: the test must FAIL")
        else:
            k.add_argument("--out", help="build folder (default out/build/BOARD-core-n<n>)")
    return parser


def _format_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format",
        action="append",
        default=[],
        metavar="SIGNAL=WIDTH,FRAC",
        help="override a fixed-point format, e.g. influence=20,14 or lut_bits=8 (repeatable; "
        "signals: " + ", ".join(f.name for f in fields(FixedPointConfig)) + ")",
    )


def trace_meta(path: str) -> dict:
    """A trace's `meta` (contract 1), read and checked by golden.trace_file (numpy alone: this
    package does not import torch)."""
    try:
        meta, _ = read_trace_file(path)
    except UserError as exc:
        raise UserError(f"--trace: {exc}") from None
    missing = [k for k in ("n", "cell", "p_kept") if k not in meta]
    if missing:
        raise UserError(f"--trace: {path}: 'meta' lacks {', '.join(missing)}")
    return meta


def trace_and_n(args: argparse.Namespace) -> tuple[dict | None, int]:
    """The trace's meta (None without --trace) and n: the trace's (--n must agree), --n, or 16."""
    if not args.trace:
        return None, 16 if args.n is None else args.n
    meta = trace_meta(args.trace)
    if args.n is not None and args.n != meta["n"]:
        raise UserError(f"--n: got {args.n} but the trace has n = {meta['n']}")
    return meta, meta["n"]


def block_params(args: argparse.Namespace) -> RouterParams | AccumulateParams | InfluenceParams:
    """The block's parameters from the options (and a trace's shape when given)."""
    meta, n = trace_and_n(args)
    columns, decay = args.columns, not args.no_decay
    if meta is not None:
        columns = columns if columns is not None else meta["p_kept"]
        decay = meta["cell"] != "trnn"
    return make_params(args.block, n, args.lanes, columns, decay, fixed_point(args.format))


def cell_unit_params(args: argparse.Namespace) -> CellUnitParams:
    """The cell unit's parameters: n, gamma, epsilon and the reset from a trace's meta when given
    (an EGRU's), else n = 16 and the golden defaults (gamma 0.7, epsilon 1.0, the paper's reset)."""
    fp = fixed_point(args.format)
    meta, n = trace_and_n(args)
    if meta is None:
        return CellUnitParams(n=n, fp=fp)
    if meta["cell"] != "egru":
        raise UserError(f"--trace: {args.trace} is a {meta['cell']} trace; the cell unit is the EGRU's")
    subtractive = meta.get("reset", "paper") == "subtractive"
    return CellUnitParams(n, meta.get("gamma", 0.7), meta.get("epsilon", 1.0), subtractive, fp)


def linearise_params(args: argparse.Namespace) -> LinearizeParams:
    """The linearisation unit's parameters: n, n_in, the kept columns and the reset from a trace's
    meta when given (an EGRU's), else n = 16, --n-in (default 2), --columns (default: nothing
    masked), --lanes (default 4) and the paper's reset."""
    fp, lanes = fixed_point(args.format), 4 if args.lanes is None else args.lanes
    meta, n = trace_and_n(args)
    if meta is None:
        n_in = 2 if args.n_in is None else args.n_in
        columns = egru_columns(n, n_in) if args.columns is None else args.columns
        return LinearizeParams(n=n, n_in=n_in, columns=columns, lanes=lanes, fp=fp)
    if meta["cell"] != "egru":
        raise UserError(f"--trace: {args.trace} is a {meta['cell']} trace; the linearisation unit is the EGRU's")
    subtractive = meta.get("reset", "paper") == "subtractive"
    return LinearizeParams(n, meta["n_in"], meta["p_kept"], lanes, subtractive, fp)


def gradient_params(args: argparse.Namespace) -> GradientParams:
    """The gradient unit's parameters: n and the kept columns from a trace when given, else n = 16
    and --columns (default: the EGRU's P with 2 inputs); --lanes (default 4); --batch and --steps
    (default 1 and 17: the spiral's sequences) size the exact accumulators."""
    meta, n = trace_and_n(args)
    columns = args.columns if args.columns is not None else (meta["p_kept"] if meta else egru_columns(n))
    lanes = 4 if args.lanes is None else args.lanes
    return GradientParams(n, columns, lanes, args.batch, args.steps, fixed_point(args.format))


def core_params(args: argparse.Namespace) -> CoreParams:
    """The core's parameters: n, n_in, the kept columns, gamma, epsilon and the reset from a trace
    when given (an EGRU's), else n = 16, --n-in (default 2), --columns (default: nothing masked);
    --steps, --batch and --lanes as given."""
    fp, lanes = fixed_point(args.format), 4 if args.lanes is None else args.lanes
    meta, n = trace_and_n(args)
    if meta is not None and meta["cell"] != "egru":
        raise UserError(f"--trace: {args.trace} is a {meta['cell']} trace; the core learns an EGRU")
    meta = meta or {}
    n_in = meta.get("n_in", 2) if args.n_in is None else args.n_in
    columns = args.columns if args.columns is not None else meta.get("p_kept", egru_columns(n, n_in))
    subtractive = meta.get("reset", "paper") == "subtractive"
    return CoreParams(
        n,
        n_in,
        columns,
        args.steps,
        args.batch,
        lanes=lanes,
        gamma=meta.get("gamma", 0.7),
        epsilon=meta.get("epsilon", 1.0),
        subtractive=subtractive,
        fp=fp,
    )


def unit_params(args: argparse.Namespace) -> RouterParams | AccumulateParams | InfluenceParams | CellUnitParams:
    """The parameters of --block from the options and a trace."""
    if args.block == "gradient":
        return gradient_params(args)
    if args.block == "core":
        return core_params(args)
    if args.block == "update":
        meta, n = trace_and_n(args)
        n_in = (meta or {}).get("n_in", 2) if args.n_in is None else args.n_in
        columns = args.columns if args.columns is not None else (meta["p_kept"] if meta else egru_columns(n, n_in))
        lanes = 4 if args.lanes is None else args.lanes
        return UpdateParams(n, n_in, columns, lanes, args.batch, args.steps, fp=fixed_point(args.format))
    if args.block in ("input", "readout"):
        meta, n = trace_and_n(args)
        fp = fixed_point(args.format)
        if args.block == "readout":
            return ReadoutParams(n, args.batch, fp)
        return InputParams(n, (meta or {}).get("n_in", 2) if args.n_in is None else args.n_in, fp)
    if args.block == "cell":
        return cell_unit_params(args)
    if args.block == "linearise":
        return linearise_params(args)
    return block_params(args)


def cmd_verilog(args: argparse.Namespace) -> int:
    from rtl.verilog import lint, write_block  # imports Amaranth

    out = out_folder(args.out)
    params = unit_params(args)
    if args.lint:
        check_verilator()
    v_path, j_path = write_block(args.block, params, out)
    print(f"wrote {v_path} and {j_path}")
    if args.lint:
        lint(v_path)
        print(f"verilator --lint-only -Wall: clean ({v_path.name})")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from rtl.fpga.synth import synthesize, table  # imports Amaranth

    params = unit_params(args)
    copy = None
    if args.out:
        copy = out_file(args.out, f"{args.block}_n{params.n}_L{getattr(params, 'lanes', 1)}_{args.device}.json")
    summary = synthesize(args.block, params, args.device)
    print(table(summary))
    print(f"wrote {summary['work_dir']}/synth.json")
    if copy:
        from golden.atomic import atomic_write_text

        atomic_write_text(copy, json.dumps(summary, indent=2) + "\n")
        print(f"wrote {copy}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from rtl.fpga.synth_sweep import fit, plot, run_sweep, write_fit  # imports Amaranth

    fp = fixed_point(args.format)
    with locked_folder(out_folder(args.out)) as out:
        on_interrupt(f"the finished points are kept in {out}/resources.csv; run the same command again to resume")
        rows = run_sweep(
            args.blocks,
            args.devices,
            args.n,
            args.lanes,
            out,
            args.place,
            fp,
            progress=not args.no_progress,
            workers=args.workers,
            scheduler=args.scheduler,
        )
        fits = fit(rows, args.hold_out_n)
        write_fit(fits, out / "fit.json")
        plot(rows, fits, out / "resources.png")
    for label, blocks in fits.items():
        widths = "" if label == "default" else f" ({label})"
        for block, devices in blocks.items():
            for device, resources in devices.items():
                errs = ", ".join(f"{r} max {m['max_error']:.1%}" for r, m in resources.items())
                print(f"{block} on {device}{widths}: model error on held-back points: {errs}")
    for group in sorted({(r["format"], r["block"], r["device"]) for r in rows}):
        mine = [r for r in rows if (r["format"], r["block"], r["device"]) == group]
        fmax = [r["fmax_mhz"] for r in mine if r["fmax_mhz"]]
        unplaced = sum(r["placed"].startswith("no") for r in mine)
        if fmax or unplaced:
            span = f"Fmax {min(fmax):.1f} .. {max(fmax):.1f} MHz" if fmax else "no Fmax"
            widths = "" if group[0] == "default" else f" ({group[0]})"
            print(f"{group[1]} on {group[2]}{widths}: {span} ({len(fmax)} placed, {unplaced} do not fit)")
    print(f"wrote {out}/resources.csv, fit.json and resources.png ({len(rows)} points)")
    return 0


def _selftest_vectors(args: argparse.Namespace) -> list:
    """Each block's self-test vectors for the options, with its parameters for --board if given
    (imports torch and Amaranth)."""
    from golden.trace import load_trace
    from rtl.fpga.boards import for_board
    from rtl.fpga.selftest import block_vectors

    lanes = dict(SELFTEST_LANES)
    for option in args.lanes:
        block, _, value = option.partition("=")
        if block not in lanes or not value.isdigit():
            raise UserError(f"--lanes: {option!r}; expected BLOCK=L with BLOCK one of {', '.join(lanes)}")
        lanes[block] = int(value)
    check_blocks(args.blocks)
    trace = load_trace(args.trace)
    vectors = [block_vectors(b, trace, args.sample, lanes[b], args.steps) for b in args.blocks]
    if getattr(args, "corrupt", None):
        from rtl.fpga.selftest import corrupt

        corrupt(vectors, args.corrupt)
    return for_board(vectors, args.board) if args.board else vectors


def cmd_selftest(args: argparse.Namespace) -> int:
    from rtl.blocks.simulation import simulate_selftest
    from rtl.fpga.selftest import SelfTest

    test = SelfTest(_selftest_vectors(args))
    print(f"simulating the self-test: {', '.join(args.blocks)}, {test.checked_words} output words to compare")
    result = simulate_selftest(test)
    print(f"{result.report.strip()}   ({result.cycles} cycles)")
    return 0 if result.passed else 1


def default_build_folder(args: argparse.Namespace) -> Path:
    """out/build/<board>-<blocks>-<hash>: the hash covers everything else that changes the bitstream
    (trace, sample, steps, lanes), so two different builds never share a folder."""
    settings = json.dumps([args.trace, args.sample, args.steps, sorted(args.lanes)])
    digest = hashlib.sha256(settings.encode()).hexdigest()[:8]
    return Path("out") / "build" / f"{args.board}-{'-'.join(args.blocks)}-{digest}"


def cmd_core_selftest(args: argparse.Namespace) -> int:
    from rtl.blocks.simulation import simulate_selftest
    from rtl.fpga.core_selftest import CoreSelfTest, core_vectors

    vectors = core_vectors(args.n, args.iterations, args.batch, args.tests, args.seed, args.lanes)
    if args.corrupt:
        vectors.crc ^= 1
    print(
        f"simulating the core's self-test: n = {args.n}, {args.iterations * args.batch} training and "
        f"{args.tests} test sequences; the reference: {vectors.correct}/{args.tests} correct, CRC-32 {vectors.crc:08X}"
    )
    result = simulate_selftest(CoreSelfTest(vectors), max_cycles=50_000_000)
    print(f"{result.report.strip()}   ({result.cycles} cycles)")
    return 0 if result.passed else 1


def cmd_core_build(args: argparse.Namespace) -> int:
    from golden.atomic import atomic_write_text
    from rtl.fpga.boards import BOARDS, build_top
    from rtl.fpga.core_selftest import CoreSelfTest, core_vectors
    from rtl.fpga.synth import lut_mapper

    if args.board != "ulx3s-85f":
        raise UserError(f"--board: got {args.board!r}; expected ulx3s-85f (the core does not fit the iCE40 UP5K)")
    folder = out_folder(args.out or Path("out") / "build" / f"{args.board}-core-n{args.n}")
    vectors = core_vectors(args.n, args.iterations, args.batch, args.tests, args.seed, args.lanes)
    with locked_folder(folder) as out:
        mapper = lut_mapper("core", BOARDS[args.board].device)
        report = build_top(args.board, CoreSelfTest(vectors), out, half_rate=True, mapper=mapper)
        report.update(
            lut_mapper=mapper,
            n=args.n,
            iterations=args.iterations,
            batch=args.batch,
            tests=args.tests,
            expected={"correct": vectors.correct, "crc32": f"{vectors.crc:08X}"},
        )
        atomic_write_text(out / "build.json", json.dumps(report, indent=2) + "\n")
    fmax = "-" if report["fmax_mhz"] is None else f"{report['fmax_mhz']:.1f} MHz"
    print(
        f"wrote {report['bitstream']} ({report['bitstream_bytes']} bytes); the core runs at "
        f"{report['clock_mhz']:g} MHz (half the board's clock), nextpnr's Fmax {fmax}; LEDs: {report['leds']}"
    )
    print(f"expected report: correct {vectors.correct:04X}/{args.tests:04X} crc {vectors.crc:08X}")
    print(f"wrote {out / 'build.json'}")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from golden.atomic import atomic_write_text
    from rtl.fpga.boards import build

    folder = out_folder(args.out or default_build_folder(args))
    vectors = _selftest_vectors(args)
    with locked_folder(folder) as out:
        report = build(args.board, vectors, out)
        report.update(
            trace=args.trace,
            sample=args.sample,
            steps=args.steps,
            blocks=args.blocks,
            lanes={v.block: v.params.lanes for v in vectors},
            checked_words=sum(v.checked_words for v in vectors),
        )
        atomic_write_text(out / "build.json", json.dumps(report, indent=2) + "\n")
    fmax = "-" if report["fmax_mhz"] is None else f"{report['fmax_mhz']:.1f} MHz"
    print(f"wrote {report['bitstream']} ({report['bitstream_bytes']} bytes), Fmax {fmax}; LEDs: {report['leds']}")
    for cell, use in report["utilisation"].items():
        if use["used"]:
            print(f"  {cell}: {use['used']} / {use['available']}")
    print(f"wrote {out / 'build.json'}")
    return 0


def _quiet(_: str) -> None:
    """A search's per-probe progress, not shown (its progress bar counts finished searches)."""


def cmd_prove(args: argparse.Namespace) -> int:
    from rtl.formal.prove import failures, markdown, prove_block, prove_params  # imports Amaranth
    from rtl.formal.sby import check_settings

    n = args.n if args.n is not None else PROVE_N.get(args.block, 2)
    lanes = args.lanes if args.lanes is not None else (2 if args.block == "router" else 1)
    params = prove_params(args.block, n, lanes, args.columns)  # checked before any job starts
    check_settings(args.mode, args.depth)
    with locked_folder(out_folder(args.out)) as out:
        report = prove_block(args.block, params, args.mode, args.depth, out, args.faults, not args.no_progress)
    print(markdown(report), end="")
    print(f"wrote {out}/prove.json and prove.md")
    bad = failures(report)
    if bad:
        raise UserError("prove: " + "; ".join(bad) + f" (counterexample traces in {out})")
    return 0


def cmd_capacity(args: argparse.Namespace) -> int:
    from golden.atomic import atomic_write_text
    from golden.executor import dask_client, run_points
    from rtl.fpga.capacity import largest_n, markdown, merge_results
    from rtl.fpga.parts import PARTS

    check_blocks(args.blocks)
    if args.lanes < 1 or args.limit < 4:
        raise UserError(f"--lanes / --limit: got {args.lanes} / {args.limit}; expected lanes >= 1 and limit >= 4")
    fp = fixed_point(args.format)
    for device in args.devices:  # checked here, before a cluster starts
        if device not in PARTS:
            raise UserError(f"--devices: got {device!r}; expected some of {', '.join(PARTS)}")
    if not 0 <= args.omega < 1:
        raise UserError(f"--omega: got {args.omega}; expected a fraction in [0, 1)")
    with locked_folder(out_folder(args.out)) as out:
        on_interrupt(f"the finished probes are kept in {out}/probes.csv; run the same command again to resume")
        searches = [(block, device) for device in args.devices for block in args.blocks]
        with dask_client(args.workers, args.scheduler) as client:
            fresh = run_points(
                client,
                largest_n,
                [
                    (b, d, args.lanes, args.omega, out, fp, 4, args.limit, not args.no_place, _quiet)
                    for b, d in searches
                ],
                [f"{b}-{d}" for b, d in searches],
                progress=not args.no_progress,
                desc="capacity searches",
            )
        results = merge_results(out / "capacity.json", fresh, fp)
        document = {"fixed_point": fp.to_dict(), "results": results}
        atomic_write_text(out / "capacity.json", json.dumps(document, indent=2))
        table = markdown(results, fp)
        atomic_write_text(out / "capacity.md", table)
    print(table)
    print(f"wrote {out}/capacity.json, capacity.md and probes.csv")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    commands = {
        "verilog": cmd_verilog,
        "synth": cmd_synth,
        "sweep": cmd_sweep,
        "capacity": cmd_capacity,
        "prove": cmd_prove,
        "selftest": cmd_selftest,
        "build": cmd_build,
        "core-selftest": cmd_core_selftest,
        "core-build": cmd_core_build,
    }
    return run_cli("rtl", build_parser(), commands, argv)


if __name__ == "__main__":
    sys.exit(main())
