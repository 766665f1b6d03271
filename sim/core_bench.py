"""Simulated cycles per second of the online-learning core: the native Verilator harness against the
cocotb path on the same core (the same Verilog, the same sequences, Verilator under both), in one
run, so the ratio is measured on one machine at one time. Both runs check every prediction and
update against the integer trainer (sim.core_cases) before their speed counts."""

from __future__ import annotations

from typing import Any, Callable

from golden.errors import UserError
from sim.core_cases import core_case
from sim.core_job import core_job


def core_bench(n: int, batches: int, progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    from sim.native_core import build, case_stimulus, run
    from sim.runner import run_job

    case = core_case(False, "signum", 2, 0, n=n, steps=17, batches=batches)
    progress(f"native harness: n = {n}, {len(case.sequences)} sequences")
    build(case.p, say=progress)
    native = run(case.p, case_stimulus(case))
    exact = [s.pred for s in native.sequences] == case.logits and all(
        state is None or state == got for state, got in zip(case.states, native.readbacks, strict=True)
    )
    if not exact:
        raise UserError("core bench: the native harness disagrees with the integer trainer")
    result = run_job(core_job(case, [(0, 0.0, None)]), "verilator", f"core-bench-n{n}", progress=progress)
    if not result["passed"]:
        raise UserError(f"core bench: the cocotb run failed: {result['first_mismatch'] or result['cycle_errors'][:1]}")
    rows = {
        "native": {"cycles": native.cycles, "seconds": native.seconds},
        "cocotb": {"cycles": result["simulated_cycles"], "seconds": result["wall_seconds"]},
    }
    for row in rows.values():
        row["cycles_per_second"] = row["cycles"] / row["seconds"]
    return {
        "n": n,
        "sequences": len(case.sequences),
        "runs": rows,
        "ratio": rows["native"]["cycles_per_second"] / rows["cocotb"]["cycles_per_second"],
    }


def core_bench_markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Core simulation speed, n = {report['n']} ({report['sequences']} sequences, Verilator)",
        "",
        "| path | simulated cycles | wall s | cycles/s |",
        "|---|---:|---:|---:|",
    ]
    for name, row in report["runs"].items():
        lines.append(f"| {name} | {row['cycles']:,} | {row['seconds']:.2f} | {row['cycles_per_second']:,.0f} |")
    lines += ["", f"native / cocotb: {report['ratio']:.0f}x (one run)", ""]
    return "\n".join(lines)
