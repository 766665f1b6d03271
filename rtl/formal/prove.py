"""`python -m rtl prove --block B`: every property of a block through SymbiYosys, and with --faults
every broken variant against the property it must break; a report (prove.json, prove.md).

Every block has "handshake", the stream rule on every stream it drives (rtl.formal.handshake),
and its own properties in its own harness: the router five (rtl.formal.router), the accumulator
two (rtl.formal.accumulate), the influence update two (rtl.formal.influence).

A property PASSes (bmc: no counterexample within the depth; prove: k-induction closed), FAILs
(a counterexample trace, written into its job folder) or stays UNKNOWN (an induction that did not
close; its bounded check is the bmc run). A broken variant is caught when its property FAILs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from amaranth import Elaboratable
from tqdm import tqdm

from golden.atomic import atomic_write_text
from golden.errors import UserError
from rtl.blocks.accumulate import EventAccumulator
from rtl.blocks.influence import InfluenceUpdate
from rtl.blocks.params import AccumulateParams, InfluenceParams, RouterParams
from rtl.blocks.router import EventRouter
from rtl.formal.accumulate import AccumulateProof
from rtl.formal.handshake import StreamRules
from rtl.formal.influence import InfluenceProof
from rtl.formal.router import RouterProof
from rtl.formal.sby import check_settings, run_proof

# block -> (its class, its parameters' class, the harness of its own properties)
BLOCK_KINDS = {
    "router": (EventRouter, RouterParams, RouterProof),
    "accumulate": (EventAccumulator, AccumulateParams, AccumulateProof),
    "influence": (InfluenceUpdate, InfluenceParams, InfluenceProof),
}
BLOCKS = tuple(BLOCK_KINDS)


def properties_of(block: str) -> tuple[str, ...]:
    return ("handshake",) + BLOCK_KINDS[block][2].PROPERTIES


def faults_of(block: str) -> dict[str, str]:
    """Broken variants -> the property each must break."""
    return {"drop_valid": "handshake", **BLOCK_KINDS[block][2].FAULTS}


def block_harness(params, prop: str, fault: str | None) -> Elaboratable:
    """The harness of one property of the block `params` describe (and its broken variant)."""
    block, _, harness = next(kind for kind in BLOCK_KINDS.values() if isinstance(params, kind[1]))
    return StreamRules(block(params), fault) if prop == "handshake" else harness(params, prop, fault)


def not_applicable(block: str, params) -> dict[str, str]:
    """Broken variants that cannot exist at these parameters -> why."""
    return BLOCK_KINDS[block][2].not_applicable(params)


def prove_params(block: str, n: int, lanes: int, columns: int) -> RouterParams | AccumulateParams | InfluenceParams:
    """The block's parameters, checked (columns: the influence update's P)."""
    if block not in BLOCKS:
        raise UserError(f"--block: got {block!r}; expected one of {', '.join(BLOCKS)}")
    if block == "router":
        return RouterParams(n=n, lanes=lanes)
    return AccumulateParams(n=n, lanes=lanes) if block == "accumulate" else InfluenceParams(n, columns, lanes)


def prove_block(
    block: str,
    params: RouterParams | AccumulateParams | InfluenceParams,
    mode: str,
    depth: int,
    out: Path,
    faults: bool,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the block's properties (and broken variants); write and return the report."""
    check_settings(mode, depth)
    properties, broken = properties_of(block), faults_of(block)
    jobs = [(prop, None) for prop in properties] + ([(prop, fault) for fault, prop in broken.items()] if faults else [])
    rows, caught = [], []
    skipped = not_applicable(block, params)
    for prop, fault in tqdm(jobs, desc=f"prove {block}", unit="job", disable=not progress):
        if fault in skipped:
            caught.append({"fault": fault, "property": prop, "status": "n/a: " + skipped[fault], "caught": None})
        elif fault is None:
            r = run_proof(block_harness(params, prop, None), prop, out / "properties", mode, depth)
            rows.append({"property": prop, "mode": mode, "depth": depth, "status": r.status, "seconds": r.seconds})
        else:
            r = run_proof(block_harness(params, prop, fault), fault, out / "faults", "bmc", depth)
            caught.append({"fault": fault, "property": prop, "status": r.status, "caught": r.status == "FAIL"})
    report = {"block": block, "n": params.n, "lanes": params.lanes, "mode": mode, "depth": depth, "properties": rows}
    if block == "influence":
        report["columns"] = params.columns
    if faults:
        report["faults"] = caught
    atomic_write_text(out / "prove.json", json.dumps(report, indent=1))
    atomic_write_text(out / "prove.md", markdown(report))
    return report


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"{report['block']}, n = {report['n']}, {report['lanes']} lanes"
        + (f", {report['columns']} columns" if "columns" in report else "")
        + ":",
        "",
        "| property | mode | depth | result | seconds |",
        "|---|---|---|---|---|",
    ]
    for r in report["properties"]:
        lines.append(f"| {r['property']} | {r['mode']} | {r['depth']} | {r['status']} | {r['seconds']:.1f} |")
    if "faults" in report:
        lines += ["", "| broken variant | property | result | caught |", "|---|---|---|---|"]
        for f in report["faults"]:
            verdict = "-" if f["caught"] is None else ("yes" if f["caught"] else "NO")
            lines.append(f"| {f['fault']} | {f['property']} | {f['status']} | {verdict} |")
    return "\n".join(lines) + "\n"


def failures(report: dict[str, Any]) -> list[str]:
    """What makes `rtl prove` exit non-zero: a property that FAILs, a broken variant not caught."""
    bad = [f"{r['property']} {r['status']}" for r in report["properties"] if r["status"] in ("FAIL", "TIMEOUT")]
    return bad + [f"broken variant {f['fault']} not caught" for f in report.get("faults", []) if f["caught"] is False]
