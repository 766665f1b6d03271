"""Coverage of a block's testbench runs on Verilator: line and toggle coverage (`--coverage`) of the
block's Verilog, and SystemVerilog cover points for what those two do not show:

    FSM states   `<fsm> == <state>` for every state of every FSM in the block (names from Amaranth)
    stalls       for every stream port: `<stream>: valid, not ready` (the source waits) and
                 `<stream>: ready, not valid` (the sink waits)

The cover points sit in a module bound into the block (`bind`), so the block's own Verilog is the one
every other run uses. A run leaves coverage.dat (Verilator's format: one `C '<key/value pairs>' count`
line per point); `summarise` reads it into counts per kind, keeping only points of the block's file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from amaranth.hdl import Fragment
from amaranth.lib import wiring

from golden.errors import UserError
from rtl.blocks.layouts import stream_ports


@dataclass(frozen=True)
class CoverPoint:
    kind: str  # "fsm" or "stall"
    name: str  # label in coverage.dat and the report
    expression: str  # SystemVerilog over the block's signals


def fsm_states(component: wiring.Component) -> dict[str, list[tuple[int, str]]]:
    """FSM state signal name (as Amaranth names it in the Verilog) -> [(encoding, state name)], for
    every FSM the block's own module drives (from the decoder Amaranth gives the state signal)."""
    fragment = Fragment.get(component, None)
    found: dict[str, list[tuple[int, str]]] = {}
    for statements in fragment.statements.values():
        for statement in statements:
            for signal in statement._lhs_signals():
                if signal.name in found or not signal.name.endswith("fsm_state") or signal.decoder is None:
                    continue
                states = []
                for value in range(1 << len(signal)):
                    try:
                        decoded = signal.decoder(value)  # "NAME/value"; no name for unused encodings
                    except KeyError:
                        continue
                    states.append((value, decoded.rsplit("/", 1)[0]))
                found[signal.name] = states
    return found


def cover_points(component: wiring.Component) -> list[CoverPoint]:
    points = []
    for fsm, states in fsm_states(component).items():
        for value, state in states:
            points.append(CoverPoint("fsm", f"{fsm} {state}", f"{fsm} == {value}"))
    for port, _, _ in stream_ports(component):
        points.append(CoverPoint("stall", f"{port}: valid, not ready", f"{port}__valid && !{port}__ready"))
        points.append(CoverPoint("stall", f"{port}: ready, not valid", f"{port}__ready && !{port}__valid"))
    return points


def _label(name: str) -> str:
    return "cov_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def cover_module(module: str, component: wiring.Component, verilog: str) -> str:
    """SystemVerilog: a module of cover properties over the block's signals, bound into `module`."""
    signals = {"clk": 1, "rst": 1}
    for fsm in fsm_states(component):
        match = re.search(rf"reg (?:\[(\d+):0\] )?{re.escape(fsm)}\b", verilog)
        if match is None:
            raise UserError(f"coverage: FSM state register {fsm!r} not found in {module}'s Verilog")
        signals[fsm] = int(match.group(1)) + 1 if match.group(1) else 1
    for port, _, _ in stream_ports(component):
        signals |= {f"{port}__valid": 1, f"{port}__ready": 1}
    inputs = ",\n".join(f"    input wire {f'[{w - 1}:0] ' if w > 1 else ''}{name}" for name, w in signals.items())
    body = "\n".join(
        f"  {_label(p.name)}: cover property (@(posedge clk) disable iff (rst) {p.expression});"
        for p in cover_points(component)
    )
    return (
        f"// Cover points of {module} (sim/coverage.py): FSM states and stream stalls.\n"
        f"module {module}_cover (\n{inputs}\n);\n{body}\nendmodule\n\n"
        f"bind {module} {module}_cover cover_points (.*);\n"
    )


def demangle(name: str) -> str:
    """Verilator's escaped names back to the Verilog's: `__0XX` is the character with hex code XX
    (events___05F0___05Fvalid -> events__0__valid, __024 -> $)."""
    return re.sub(r"__0([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), name)


def read_coverage(path: Path) -> list[tuple[dict[str, str], int]]:
    """coverage.dat's points: (keys, count). Pairs are separated by \\x01, key from value by \\x02."""
    points = []
    for line in path.read_text(errors="replace").splitlines():
        if not line.startswith("C '"):
            continue
        body, _, count = line[3:].rpartition("' ")
        keys = dict(pair.split("\x02", 1) for pair in body.split("\x01") if "\x02" in pair)
        points.append((keys, int(count)))
    return points


KINDS = {"v_line": "lines", "v_branch": "branches", "v_toggle": "toggles"}
# Yosys's Verilog declares a register that is 0 forever (`reg \\$auto$verilog_backend...dump_module$1 = 0`)
# and opens processes with an empty `if` on it, so that simulators run them at time 0. No run can
# take that branch or toggle that register: such points are kept out of the counts, and reported.
KICK = "verilog_backend.cc"


def _unreachable(kind: str, what: str, source: str) -> bool:
    return KICK in (what if kind == "v_toggle" else source) and (kind != "v_branch" or what == "if")


def summarise(files: list[Path], verilog: Path, component: wiring.Component) -> dict[str, Any]:
    """Counts per point summed over runs (files): lines, branches and toggles of the block's file,
    and the cover points. Per kind: covered, total, and what was never reached (lines and branches
    with their source line; toggles per signal, as bits missed; cover points by name)."""
    totals: dict[tuple[str, str, str, str], int] = {}
    for path in files:
        for keys, count in read_coverage(path):
            kind = keys.get("page", "").split("/", 1)[0]
            if kind in KINDS and Path(keys.get("f", "")).name != verilog.name:
                continue  # the cover module's own signals
            if kind in KINDS or kind == "v_user":
                key = (kind, keys.get("l", "0"), keys.get("n", "0"), demangle(keys.get("o", "")))
                totals[key] = totals.get(key, 0) + count
    source = verilog.read_text().splitlines()
    report: dict[str, Any] = {}
    for kind, label in KINDS.items():
        points = {k: c for k, c in totals.items() if k[0] == kind}
        kick = {k for k in points if _unreachable(kind, k[3], _line(source, int(k[1])))}
        points = {k: c for k, c in points.items() if k not in kick}
        missed = sorted((int(k[1]), k[3]) for k, c in points.items() if c == 0)
        entry: dict[str, Any] = {
            "covered": sum(1 for c in points.values() if c),
            "total": len(points),
            "unreachable_kick": len(kick),
        }
        if kind == "v_toggle":
            bits: dict[str, int] = {}
            for _, what in missed:  # "signal[bit]:0->1"
                signal = re.sub(r"(\[\d+\])?:[01]->[01]$", "", what)
                bits[signal] = bits.get(signal, 0) + 1
            entry["missed_by_signal"] = dict(sorted(bits.items(), key=lambda kv: (-kv[1], kv[0])))
        else:
            entry["missed"] = [{"line": line, "what": what, "source": _line(source, line)} for line, what in missed]
        report[label] = entry
    reached = {k[3]: c for k, c in totals.items() if k[0] == "v_user"}
    points = cover_points(component)
    missing = [p.name for p in points if _label(p.name) not in reached]
    if missing:
        raise UserError(f"coverage: cover points {missing} are not in the coverage files")
    for kind, label in (("fsm", "fsm_states"), ("stall", "stalls")):
        counts = {p.name: reached[_label(p.name)] for p in points if p.kind == kind}
        report[label] = {"covered": sum(1 for c in counts.values() if c), "total": len(counts), "counts": counts}
    return report


def _line(source: list[str], line: int) -> str:
    return source[line - 1].strip() if 0 < line <= len(source) else ""


def block_coverage(
    block: str,
    traces: list[str],
    lanes: int,
    samples: int | None,
    seeds: tuple[int, ...],
    backpressure: tuple[float, ...],
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """The block's cocotb testbench over every trace's samples x seeds x backpressure probabilities,
    in one Verilator run with coverage; its summary (`summarise`) and the run's bit-exactness."""
    from golden.trace import load_trace
    from rtl.verilog import BLOCKS
    from sim.jobs import BLOCKS as SIM_BLOCKS
    from sim.jobs import CaseSpec, make_job
    from sim.runner import run_job

    if block not in SIM_BLOCKS:
        raise UserError(f"--blocks: got {block!r}; expected some of {', '.join(SIM_BLOCKS)}")
    cases = []
    for trace in traces:
        B = load_trace(trace).meta["B"]
        used = B if samples is None else min(samples, B)
        cases += [CaseSpec(trace, b, seed, bp) for b in range(used) for seed in seeds for bp in backpressure]
    job = make_job(block, lanes, cases)
    result = run_job(job, "verilator", f"coverage-{block}-L{lanes}", progress=progress, coverage=True)
    component = BLOCKS[block][0](BLOCKS[block][1](**job["params"]))
    files = [Path(result["run_dir"]) / "coverage.dat"]
    if not files[0].is_file():
        raise UserError(f"coverage: the run left no coverage.dat; see {result['run_dir']}/sim.log")
    summary = summarise(files, Path(result["verilog"]), component)
    steps = sum(len(c["steps"]) for c in job["cases"]) if "steps" in job["cases"][0] else None
    return {
        "block": block,
        "params": job["params"],
        "passed": result["passed"],
        "cases": len(cases),
        "steps": steps,
        "backpressure": list(backpressure),
        "seeds": list(seeds),
        "run_dir": result["run_dir"],
        **summary,
    }


def _share(entry: dict[str, Any]) -> str:
    total = entry["total"]
    return f"{entry['covered']:,} / {total:,} ({100 * entry['covered'] / total:.1f}%)" if total else "none"


def markdown(reports: list[dict[str, Any]]) -> str:
    """The per-block table, then per block what was never reached."""
    lines = [
        "| block | bit-exact | lines | branches | toggles | FSM states | stall conditions |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in reports:
        lines.append(
            f"| {r['block']} | {'yes' if r['passed'] else 'NO'} | {_share(r['lines'])} | {_share(r['branches'])} | "
            f"{_share(r['toggles'])} | {_share(r['fsm_states'])} | {_share(r['stalls'])} |"
        )
    for r in reports:
        lines += ["", f"**{r['block']}** ({r['cases']} cases; parameters {r['params']}):", ""]
        kick = r["branches"]["unreachable_kick"] + r["toggles"]["unreachable_kick"]
        lines.append(f"- left out as unreachable: {kick} points on Yosys's time-0 process kick")
        for kind in ("fsm_states", "stalls"):
            never = [name for name, count in r[kind]["counts"].items() if not count]
            lines.append(f"- {kind.replace('_', ' ')} never reached: {', '.join(never) if never else 'none'}")
        for kind in ("lines", "branches"):
            missed = r[kind]["missed"]
            shown = "; ".join(f"{m['line']} {m['what']} `{m['source']}`" for m in missed[:12])
            more = f" and {len(missed) - 12} more" if len(missed) > 12 else ""
            lines.append(f"- {kind} never taken: {shown + more if missed else 'none'}")
        signals = r["toggles"]["missed_by_signal"]
        shown = ", ".join(f"{name} ({bits})" for name, bits in list(signals.items())[:10])
        more = f" and {len(signals) - 10} more signals" if len(signals) > 10 else ""
        lines.append(f"- toggles missed, by signal (bit transitions): {shown + more if signals else 'none'}")
    return "\n".join(lines) + "\n"
