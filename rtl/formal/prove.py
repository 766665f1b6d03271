"""`python -m rtl prove --block B`: every property of a block through SymbiYosys, and with --faults
every broken variant against the property it must break; a report (prove.json, prove.md).

A property PASSes (bmc: no counterexample within the depth; prove: k-induction closed), FAILs
(a counterexample trace, written into its job folder) or stays UNKNOWN (an induction that did not
close; its bounded check is the bmc run). A broken variant is caught when its property FAILs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tqdm import tqdm

from golden.atomic import atomic_write_text
from golden.errors import UserError
from rtl.blocks.params import RouterParams
from rtl.formal.router import FAULTS, PROPERTIES, RouterProof
from rtl.formal.sby import check_settings, run_proof

BLOCKS = ("router",)  # the accumulator and the influence update have no harness yet


def prove_block(
    block: str, n: int, lanes: int, mode: str, depth: int, out: Path, faults: bool, progress: bool = True
) -> dict[str, Any]:
    """Run the block's properties (and broken variants); write and return the report."""
    if block not in BLOCKS:
        raise UserError(f"--block: got {block!r}; expected one of {', '.join(BLOCKS)} (the others have no harness yet)")
    check_settings(mode, depth)
    params = RouterParams(n=n, lanes=lanes)
    jobs = [(prop, None) for prop in PROPERTIES] + ([(prop, fault) for fault, prop in FAULTS.items()] if faults else [])
    rows, caught = [], []
    for prop, fault in tqdm(jobs, desc=f"prove {block}", unit="job", disable=not progress):
        if fault is None:
            r = run_proof(RouterProof(params, prop), prop, out / "properties", mode, depth)
            rows.append({"property": prop, "mode": mode, "depth": depth, "status": r.status, "seconds": r.seconds})
        else:
            r = run_proof(RouterProof(params, prop, fault), fault, out / "faults", "bmc", depth)
            caught.append({"fault": fault, "property": prop, "status": r.status, "caught": r.status == "FAIL"})
    report = {"block": block, "n": n, "lanes": lanes, "mode": mode, "depth": depth, "properties": rows}
    if faults:
        report["faults"] = caught
    atomic_write_text(out / "prove.json", json.dumps(report, indent=1))
    atomic_write_text(out / "prove.md", markdown(report))
    return report


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"{report['block']}, n = {report['n']}, {report['lanes']} lanes:",
        "",
        "| property | mode | depth | result | seconds |",
        "|---|---|---|---|---|",
    ]
    for r in report["properties"]:
        lines.append(f"| {r['property']} | {r['mode']} | {r['depth']} | {r['status']} | {r['seconds']:.1f} |")
    if "faults" in report:
        lines += ["", "| broken variant | property | result | caught |", "|---|---|---|---|"]
        for f in report["faults"]:
            lines.append(f"| {f['fault']} | {f['property']} | {f['status']} | {'yes' if f['caught'] else 'NO'} |")
    return "\n".join(lines) + "\n"


def failures(report: dict[str, Any]) -> list[str]:
    """What makes `rtl prove` exit non-zero: a property that FAILs, a broken variant not caught."""
    bad = [f"{r['property']} {r['status']}" for r in report["properties"] if r["status"] in ("FAIL", "TIMEOUT")]
    return bad + [f"broken variant {f['fault']} not caught" for f in report.get("faults", []) if not f["caught"]]
