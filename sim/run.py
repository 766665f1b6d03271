"""`python -m sim run` and `python -m sim bench`: one block's cocotb testbench on a trace, on Icarus or
Verilator, with a JSON report and calibration rows (measured cycles against the step's activity,
beside the cycle function) for the cost model; and the simulators' throughput on the same job."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Callable

from golden.atomic import atomic_write_text
from golden.errors import UserError
from golden.trace import load_trace
from sim.jobs import BLOCKS, EGRU_ONLY, SIMULATORS, CaseSpec, make_job
from sim.runner import run_job

CALIBRATION_FIELDS = (
    "block",
    "simulator",
    "trace",
    "n",
    "lanes",
    "columns",
    "step",
    "activity",
    "measured",
    "predicted",
    "backpressure",
)
ACTIVITY = {"router": "events", "accumulate": "events", "influence": "sources", "cell": "events"}


def run_block(
    block: str,
    simulator: str,
    trace: str,
    lanes: int,
    samples: int | None = None,
    seeds: tuple[int, ...] = (0,),
    backpressure: float = 0.0,
    waves: bool = False,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Run the testbench over the trace's samples and seeds; returns the report (see `summary`)."""
    if block not in BLOCKS:
        raise UserError(f"--block: got {block!r}; expected one of {', '.join(BLOCKS)}")
    if simulator not in SIMULATORS:
        raise UserError(f"--sim: got {simulator!r}; expected one of {', '.join(SIMULATORS)}")
    if lanes < 1:
        raise UserError(f"--lanes: got {lanes}; expected a positive integer")
    if not seeds:
        raise UserError("--seeds: expected at least one seed")
    B = load_trace(trace).meta["B"]
    if samples is not None and samples < 1:
        raise UserError(f"--samples: got {samples}; expected a positive integer")
    used = B if samples is None else min(samples, B)
    cases = [CaseSpec(trace, b, seed, backpressure) for b in range(used) for seed in seeds]
    job = make_job(block, lanes, cases)
    name = f"{block}-{simulator}-{Path(trace).stem}-L{lanes}"
    report = summary(job, run_job(job, simulator, name, waves=waves, progress=progress), trace)
    report["backpressure"] = backpressure
    return report


def summary(job: dict[str, Any], result: dict[str, Any], trace: str) -> dict[str, Any]:
    """Totals and per-step records of a run: cycles, the cycle function, events per cycle, lane utilisation."""
    records = result["records"]
    cycles = sum(r["cycles"] for r in records)
    out = {
        "block": job["block"],
        "simulator": result["simulator"],
        "trace": trace,
        "params": job["params"],
        "passed": result["passed"],
        "first_mismatch": result["first_mismatch"],
        "cycle_errors": result["cycle_errors"],
        "compared_values": result["compared"],
        "steps": len(records),
        "cycles": cycles,
        "cycle_function": sum(r["predicted"] for r in records),
        "simulated_cycles": result["simulated_cycles"],
        "wall_seconds": result["wall_seconds"],
        "records": records,
        "run_dir": result["run_dir"],
    }
    if "waves_dir" in result:
        out["waves_dir"] = result["waves_dir"]
    if job["block"] in ("router", "accumulate"):
        out["events_per_cycle"] = sum(r["events"] for r in records) / max(cycles, 1)
    if job["block"] == "influence":
        out["lane_utilisation"] = sum(r["lane_macs"] for r in records) / (job["params"]["lanes"] * max(cycles, 1))
    return out


def calibration_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Measured cycles per step against the step's activity (events, or active sources), and the
    cycle function's value: what `python -m costmodel calibration` plots."""
    p = report["params"]
    key = ACTIVITY[report["block"]]
    return [
        {
            "block": report["block"],
            "simulator": report["simulator"],
            "trace": Path(report["trace"]).name,
            "n": p["n"],
            "lanes": p.get("lanes", 1),  # the cell unit has none: one unit at a time
            "columns": p.get("columns", ""),
            "step": r["step"],
            "activity": r[key],
            "measured": r["cycles"],
            "predicted": r["predicted"],
            "backpressure": report.get("backpressure", 0.0),
        }
        for r in report["records"]
    ]


def write_calibration(report: dict[str, Any], folder: Path) -> Path:
    """Write (replace) <folder>/<block>-<simulator>-<trace>-L<lanes>[-bp<probability>].csv: a run with
    backpressure does not replace the one without."""
    folder.mkdir(parents=True, exist_ok=True)
    p = report["params"]
    bp = report.get("backpressure", 0.0)
    stem = f"{report['block']}-{report['simulator']}-{Path(report['trace']).stem}-L{p.get('lanes', 1)}"
    path = folder / f"{stem}{f'-bp{bp:g}' if bp else ''}.csv"
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CALIBRATION_FIELDS)
    writer.writeheader()
    writer.writerows(calibration_rows(report))
    atomic_write_text(path, buf.getvalue())
    return path


def describe(report: dict[str, Any]) -> str:
    """A short human summary: pass/fail, cycles per step, events per cycle or lane utilisation."""
    status = "PASS" if report["passed"] else "FAIL"
    lines = [
        f"{status}: {report['block']} on {report['simulator']}, {Path(report['trace']).name}, "
        f"{report['steps']} steps, {report['compared_values']} values compared",
        f"cycles {report['cycles']} (cycle function {report['cycle_function']}), "
        f"{report['cycles'] / max(report['steps'], 1):.1f} per step",
    ]
    if "events_per_cycle" in report:
        lines.append(f"events per cycle {report['events_per_cycle']:.3f}")
    if "lane_utilisation" in report:
        lines.append(f"MAC-lane utilisation {report['lane_utilisation']:.3f}")
    per_step = ", ".join(str(r["cycles"]) for r in report["records"][:12])
    lines.append(f"cycles per step: {per_step}{', ...' if len(report['records']) > 12 else ''}")
    if report["first_mismatch"]:
        lines.append(report["first_mismatch"])
    lines += report["cycle_errors"][:3]
    if "waves_dir" in report:
        lines.append(f"waveforms of the failing run: {report['waves_dir']}")
    return "\n".join(lines)


def write_json(data: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def bench(
    trace: str, lanes: int, seeds: tuple[int, ...], progress: Callable[[str], None] = lambda _: None
) -> dict[str, Any]:
    """Simulated cycles per second of every block's testbench on Icarus and on Verilator, same job
    (builds excluded: the testbench times itself inside the simulator)."""
    rows = []
    for block in BLOCKS:
        if block in EGRU_ONLY and load_trace(trace).config.cell != "egru":
            continue
        for simulator in SIMULATORS:
            r = run_block(block, simulator, trace, lanes, seeds=seeds, progress=progress)
            if not r["passed"]:
                raise UserError(f"bench: {block} failed on {simulator}: {r['first_mismatch'] or r['cycle_errors']}")
            rows.append(
                {
                    "block": block,
                    "simulator": simulator,
                    "simulated_cycles": r["simulated_cycles"],
                    "wall_seconds": r["wall_seconds"],
                    "cycles_per_second": r["simulated_cycles"] / r["wall_seconds"],
                }
            )
    speed = {(r["block"], r["simulator"]): r["cycles_per_second"] for r in rows}
    for r in rows:
        r["verilator_over_icarus"] = speed[(r["block"], "verilator")] / speed[(r["block"], "icarus")]
    return {"trace": trace, "lanes": lanes, "seeds": list(seeds), "rows": rows}


def bench_markdown(report: dict[str, Any]) -> str:
    lines = [
        "| block | simulator | simulated cycles | seconds | cycles / s | Verilator / Icarus |",
        "|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        lines.append(
            f"| {r['block']} | {r['simulator']} | {r['simulated_cycles']} | {r['wall_seconds']:.2f} | "
            f"{r['cycles_per_second']:.0f} | {r['verilator_over_icarus']:.2f} |"
        )
    return "\n".join(lines) + "\n"
