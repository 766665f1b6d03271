"""Hardware figures on top of Table 1's word and operation counts: bytes, traffic, cycles, energy.

For one method at design points (arrays broadcast together):

    weight words      p, or w~ p for the methods that exploit parameter sparsity (rtrl-param,
                      rtrl-both, snap1, snap2), which also store an index of index_bits per weight
    storage bytes     weights + Table 1 memory (state words at state_bits, influence words at
                      influence_bits; BPTT's T n history counts as state)
    traffic / step    every forward operation reads one weight word; RTRL-type methods read the old
                      and write the new influence entries (2 x Table 1's influence memory); BPTT writes
                      and reads back n state words and reads p weights and updates p gradient
                      words (2 n + 2 p)
    cycles / step     ceil(time_per_step / lanes): one MAC per lane per cycle, no stalls, for
                      Table 1's abstract methods. The RTL influence update's own cycle function
                      (rtl.blocks.cycles, DESIGN.md contract 3) gives the cycles of the exact EGRU engine:
                      costmodel.rtl_cycles, reported by `eval --workload`.
    latency           cycles / clock
    energy / step     time_per_step x E_mac + traffic x E_access + static power x latency, with
                      E_mac = E_mult + E_add of the MAC type and E_access per 64-bit access of the
                      smallest memory class that holds the storage, scaled by word_bits / 64.

Coefficients come from a YAML energy table (default: `data/energy_45nm.yaml`, Horowitz ISSCC 2014).
The static power has no published default here: it is a setting (1 mW unless you give yours).
With hardware.fpga_device set, the accelerator's LUTs, flip-flops and RAM blocks on that part come
beside these (costmodel.fpga: the synthesis sweep's fitted model).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from costmodel.errors import UserError
from costmodel.fpga import UNITS as FPGA_UNITS
from costmodel.fpga import check_part, fpga_figures
from costmodel.table1 import Table1Cost
from golden.fixedpoint import fixed_point

DEFAULT_ENERGY_TABLE = Path(__file__).parent / "data" / "energy_45nm.yaml"
MAC_TYPES = ("int8", "int32", "fp16", "fp32")
PARAM_SPARSE_METHODS = ("rtrl-param", "rtrl-both", "snap1", "snap2")


def check_core_batch(batch: int) -> None:
    """Method core's batch: a power of two (the core divides by shifting)."""
    if batch < 1 or batch & (batch - 1):
        raise UserError(f"hardware.core_batch: got {batch!r}; expected a power of two")


@dataclass(frozen=True)
class HardwareSettings:
    lanes: int = 8
    clock_mhz: float = 100.0
    mac: str = "fp16"
    weight_bits: int = 16
    state_bits: int = 16
    influence_bits: int = 16
    index_bits: int = 16
    static_power_mw: float = 1.0
    energy_table: str | None = None
    fpga_device: str | None = None  # adds the accelerator's FPGA resources on this part (costmodel.fpga)
    core_batch: int = 32  # method core (costmodel.core): sequences per weight update

    def __post_init__(self) -> None:
        if self.fpga_device is not None:
            check_part(self.fpga_device)
        if self.mac not in MAC_TYPES:
            raise UserError(f"hardware.mac: got {self.mac!r}; expected one of {', '.join(MAC_TYPES)}")
        for name in ("lanes", "weight_bits", "state_bits", "influence_bits", "index_bits"):
            if int(getattr(self, name)) <= 0:
                raise UserError(f"hardware.{name}: got {getattr(self, name)!r}; expected a positive integer")
        if not self.clock_mhz > 0:
            raise UserError(f"hardware.clock_mhz: got {self.clock_mhz!r}; expected a number > 0")
        check_core_batch(self.core_batch)
        if not self.static_power_mw >= 0:
            raise UserError(f"hardware.static_power_mw: got {self.static_power_mw!r}; expected a number >= 0")

    @classmethod
    def from_formats(cls, formats: tuple[str, ...], **settings: Any) -> "HardwareSettings":
        """Word widths from a fixed-point configuration (golden.fixedpoint, `--format` strings):
        weight_bits, state_bits and influence_bits are its weight, state and influence widths."""
        cfg = fixed_point(list(formats))
        return cls(
            weight_bits=cfg.weight.width, state_bits=cfg.state.width, influence_bits=cfg.influence.width, **settings
        )


@dataclass(frozen=True)
class EnergyTable:
    name: str
    source: str
    operations: dict[str, float]
    memories: tuple[tuple[str, float, float], ...] = field(default_factory=tuple)  # (name, pJ, capacity)

    def mac_pj(self, mac: str) -> float:
        return self.operations[f"{mac}_mult"] + self.operations[f"{mac}_add"]

    def memory_class(self, storage_bytes: np.ndarray) -> np.ndarray:
        """Index into `memories` of the smallest class whose capacity holds `storage_bytes`."""
        capacities = np.array([cap for _, _, cap in self.memories])
        return np.minimum(np.searchsorted(capacities, storage_bytes, side="left"), len(self.memories) - 1)

    def access_pj_per_64bit(self, memory_class: np.ndarray) -> np.ndarray:
        """Energy of one 64-bit access to each point's memory class."""
        return np.array([pj for _, pj, _ in self.memories])[memory_class]

    def memory_names(self) -> list[str]:
        return [name for name, _, _ in self.memories]


def load_energy_table(path: str | None = None) -> EnergyTable:
    """Read and check an energy table (see data/energy_45nm.yaml for the layout); cached per file
    version, so an edited file is read again."""
    file = Path(path) if path else DEFAULT_ENERGY_TABLE
    if not file.is_file():
        raise UserError(f"energy_table: no such file {file}")
    stat = file.stat()
    return _parse_energy_table(file, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _parse_energy_table(file: Path, mtime_ns: int, size: int) -> EnergyTable:
    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        raise UserError(f"energy_table {file}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(data, dict) or not {"source", "operations", "memories"} <= set(data):
        raise UserError(f"energy_table {file}: expected keys source, operations, memories")
    ops = {}
    for mac in MAC_TYPES:
        for kind in ("mult", "add"):
            key = f"{mac}_{kind}"
            entry = data["operations"].get(key)
            if (
                not isinstance(entry, dict)
                or entry.get("unit") != "pJ"
                or not isinstance(entry.get("value"), (int, float))
            ):
                raise UserError(f"energy_table {file}: operations.{key} must be {{value: <number>, unit: pJ}}")
            ops[key] = float(entry["value"])
    memories = []
    for name, entry in data["memories"].items():
        if not isinstance(entry, dict) or entry.get("unit") != "pJ" or not isinstance(entry.get("value"), (int, float)):
            raise UserError(
                f"energy_table {file}: memories.{name} must be {{value: <number>, unit: pJ, capacity_bytes: ...}}"
            )
        cap = entry.get("capacity_bytes")
        memories.append((name, float(entry["value"]), float("inf") if cap is None else float(cap)))
    memories.sort(key=lambda m: m[2])
    return EnergyTable(str(data.get("name", file.stem)), str(data["source"]), ops, tuple(memories))


def hardware_figures(
    method: str, cost: Table1Cost, n, p, omega, hw: HardwareSettings, lanes=None, clock_mhz=None
) -> dict[str, Any]:
    """Bytes, traffic, cycles, latency and energy per step for one method (see module doc); lanes
    and clock_mhz may be arrays that override the settings' values point by point."""
    lanes = np.asarray(hw.lanes if lanes is None else lanes, dtype=np.float64)
    clock_mhz = np.asarray(hw.clock_mhz if clock_mhz is None else clock_mhz, dtype=np.float64)
    table = load_energy_table(hw.energy_table)
    n, p, w = (np.asarray(v, dtype=np.float64) for v in (n, p, 1 - np.asarray(omega, dtype=np.float64)))
    sparse_weights = method in PARAM_SPARSE_METHODS
    weight_words = w * p if sparse_weights else p * np.ones_like(w)
    weight_bytes = weight_words * (hw.weight_bits + (hw.index_bits if sparse_weights else 0)) / 8
    state_bytes = cost.memory_state * hw.state_bits / 8
    influence_bytes = cost.memory_influence * hw.influence_bits / 8
    storage = weight_bytes + state_bytes + influence_bytes
    forward_bytes = cost.forward_term * hw.weight_bits / 8
    if method == "bptt":
        update_bytes = (2 * n * hw.state_bits + 2 * p * hw.weight_bits) / 8 * np.ones_like(storage)
    else:
        update_bytes = 2 * influence_bytes
    traffic = forward_bytes + update_bytes
    cycles = np.ceil(cost.time_per_step / lanes)
    latency_s = cycles / (clock_mhz * 1e6)
    e_compute = cost.time_per_step * table.mac_pj(hw.mac)
    memory_class = table.memory_class(storage)
    e_memory = traffic * 8 / 64 * table.access_pj_per_64bit(memory_class)
    e_static = hw.static_power_mw * 1e-3 * latency_s * 1e12
    return {
        "weight_bytes": weight_bytes,
        "state_bytes": state_bytes,
        "influence_bytes": influence_bytes,
        "storage_bytes": storage,
        "traffic_bytes": traffic,
        "memory_class": memory_class,
        "cycles": cycles,
        "latency_us": latency_s * 1e6,
        "energy_compute_pj": e_compute,
        "energy_memory_pj": e_memory,
        "energy_static_pj": e_static,
        "energy_pj": e_compute + e_memory + e_static,
    } | (
        fpga_figures(hw.fpga_device, n, lanes, storage, cost.memory_influence, hw.influence_bits)
        if hw.fpga_device
        else {}
    )


UNITS = {
    "memory": "words",
    "memory_state": "words",
    "memory_influence": "words",
    "time_per_step": "operations (MACs)",
    "forward_term": "operations (MACs)",
    "influence_term": "operations (MACs)",
    "weight_bytes": "bytes",
    "state_bytes": "bytes",
    "influence_bytes": "bytes",
    "storage_bytes": "bytes",
    "traffic_bytes": "bytes per step",
    "memory_class": "index into the energy table's memories",
    "cycles": "cycles per step",
    "latency_us": "microseconds per step",
    "energy_compute_pj": "pJ per step",
    "energy_memory_pj": "pJ per step",
    "energy_static_pj": "pJ per step",
    "energy_pj": "pJ per step",
    **FPGA_UNITS,
}
