"""Verilog generation: one block per file with clean, stable names (emit_src=False keeps machine
paths out), a JSON beside it with the parameters, fixed-point formats and ports, and a Verilator
lint (`verilator --lint-only -Wall` with the waivers in LINT_WAIVERS)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import amaranth
from amaranth import Value
from amaranth.back import verilog
from amaranth.lib import wiring

from golden.atomic import atomic_write_text, write_text_if_changed
from golden.errors import UserError
from rtl.blocks.accumulate import EventAccumulator
from rtl.blocks.cell import CellUnit
from rtl.blocks.gradient import GradientUnit
from rtl.blocks.influence import InfluenceUpdate
from rtl.blocks.input_part import InputUnit
from rtl.blocks.linearise import LinearizeUnit
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
    describe,
)
from rtl.blocks.readout import ReadoutUnit
from rtl.blocks.router import EventRouter
from rtl.blocks.update import UpdateUnit
from rtl.core.egru_core import EGRUCore
from rtl.core.params import CoreParams
from rtl.toolchain import verilator_env

BLOCKS = {
    "router": (EventRouter, RouterParams, "egru_event_router", "rtl.blocks.cycles.router_cycles"),
    "accumulate": (EventAccumulator, AccumulateParams, "egru_event_accumulator", "rtl.blocks.cycles.accumulate_cycles"),
    "influence": (InfluenceUpdate, InfluenceParams, "egru_influence_update", "rtl.blocks.cycles.influence_cycles"),
    "cell": (CellUnit, CellUnitParams, "egru_cell_unit", "rtl.blocks.cycles.cell_cycles"),
    "gradient": (GradientUnit, GradientParams, "egru_gradient_unit", "rtl.blocks.cycles.gradient_clear_cycles"),
    "input": (InputUnit, InputParams, "egru_input_unit", "rtl.blocks.cycles.input_cycles"),
    "readout": (ReadoutUnit, ReadoutParams, "egru_readout_unit", "rtl.blocks.cycles.readout_cycles"),
    "update": (UpdateUnit, UpdateParams, "egru_update_unit", "rtl.blocks.cycles.update_cycles"),
    "core": (EGRUCore, CoreParams, "egru_core", "rtl.core.cycles.core_step_cycles"),
    "linearise": (LinearizeUnit, LinearizeParams, "egru_linearize_unit", "rtl.blocks.cycles.linearise_cycles"),
}
LINT_WAIVERS = (
    # The file is named after the block's module by us, but Verilator wants file = module exactly.
    "-Wno-DECLFILENAME",
    # Flattened stream payloads carry fields a block does not read (e.g. an end marker's value).
    "-Wno-UNUSEDSIGNAL",
    # The next four are idioms of Yosys's Verilog backend, which Amaranth emits through; the
    # Amaranth netlist itself is width-exact and simulated bit-exact against the reference:
    # `!x` for a multi-bit x == 0, and arithmetic and comparisons that rely on Verilog's
    # context-determined width extension,
    "-Wno-WIDTHTRUNC",
    "-Wno-WIDTHEXPAND",
    # reset values written as declaration initialisers of registers assigned in processes,
    "-Wno-PROCASSINIT",
    # and case statements over FSM states without a default, preceded by a default assignment.
    "-Wno-CASEINCOMPLETE",
)


def ports(component: wiring.Component) -> list[dict]:
    """Top-level ports as Amaranth names them (interface members joined with '__')."""
    return [
        {"name": "__".join(str(part) for part in path), "direction": member.flow.value, "width": len(Value.cast(value))}
        for path, member, value in component.signature.flatten(component)
    ]


def write_block(block: str, params, out_dir: Path) -> tuple[Path, Path]:
    """Write <out>/<module>.v and <module>.json for one block; returns both paths."""
    if block not in BLOCKS:
        raise UserError(f"--block: got {block!r}; expected one of {', '.join(BLOCKS)}")
    component_class, _, module, cycle_function = BLOCKS[block]
    component = component_class(params)
    text = verilog.convert(component, name=module, emit_src=False)
    out_dir.mkdir(parents=True, exist_ok=True)
    v_path, j_path = out_dir / f"{module}.v", out_dir / f"{module}.json"
    write_text_if_changed(v_path, text)
    description = {
        "block": block,
        "module": module,
        "parameters": describe(params),
        "fixed_point": params.fp.to_dict(),
        "ports": ports(component),
        "clock": "clk (rising edge)",
        "reset": "rst (synchronous, active high)",
        "cycle_function": cycle_function,
        "generator": f"amaranth {amaranth.__version__}",
    }
    atomic_write_text(j_path, json.dumps(description, indent=2) + "\n")
    return v_path, j_path


def lint(v_path: Path) -> str:
    """verilator --lint-only -Wall on one file (waivers above); raises UserError with its output on failure."""
    cmd = ["verilator", "--lint-only", "-Wall", *LINT_WAIVERS, str(v_path)]
    result = subprocess.run(cmd, capture_output=True, text=True, env=verilator_env())
    if result.returncode != 0:
        raise UserError(f"verilator lint of {v_path} failed:\n{result.stderr.strip()}")
    return result.stderr
