"""Sweep specifications (YAML), validated with pydantic; errors name the key path and the value.

    name: default                      # names the output folder (out/sweeps/<name>)
    description: ...
    methods: [bptt, rtrl, ..., core]   # default: all of Table 1; core: the online-learning core
    axes:                              # the sweep is the cartesian product of the grid axes
      n:     {values: [16, 64, 256]}   #   values / linspace: [start, stop, num] / geomspace: [start, stop, num]
      beta:  {linspace: [0, 0.95, 20]}
      omega: {uniform: [0, 0.95]}      # random axes (uniform / loguniform [low, high]) are drawn
    random: {count: 200, seed: 0}      #   jointly, `count` points, crossed with the grid axes
    fixed: {T: 100, alpha: 0.8}        # single values for the parameters no axis names
    hardware: {lanes: 8, clock_mhz: 100, mac: fp16, ...}   # formats: [influence=20,14] sets the bits;
                                       #   core_batch: 32 (method core: sequences per update)
    reference: {n: 64, T: 100, beta: 0.5, omega: 0.8, alpha: 0.8}   # slice drawn in the 1-D plots
    plots: [op_ratio, memory_vs_n, time_vs_n, latency_vs_n, storage_vs_n, crossover_T,
            energy_memory_pareto, learning_curves, fpga_vs_n]
    golden_runs: [runs/egru_w0.0]      # folders with golden training metrics (learning curves)

Parameters: n, T (>= 1), alpha, beta in [0, 1], omega in [0, 1), and either p or p_per_n2 (p = p_per_n2
n^2; default 1, Table 1's vanilla RNN; 3 for the EGRU's recurrent matrices), lanes, clock_mhz.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from costmodel.errors import UserError
from costmodel.fpga import check_part, check_range
from costmodel.hardware import MAC_TYPES, HardwareSettings, check_core_batch
from costmodel.table1 import METHODS, SWEEP_METHODS
from golden.yaml_spec import read_yaml, validate_document

PARAMETERS = ("n", "p", "p_per_n2", "T", "alpha", "beta", "omega", "lanes", "clock_mhz")
PLOTS = (
    "op_ratio",
    "memory_vs_n",
    "time_vs_n",
    "latency_vs_n",
    "storage_vs_n",
    "crossover_T",
    "energy_memory_pareto",
    "learning_curves",
    "fpga_vs_n",
)
DEFAULTS = {"n": 64, "p_per_n2": 1.0, "T": 100, "alpha": 0.0, "beta": 0.0, "omega": 0.0}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


MAX_AXIS = 10_000_000  # values on one axis; the sweep's total is limited by --max-rows
Count = Annotated[int, Field(ge=1, le=MAX_AXIS)]


class ValuesAxis(_Strict):
    values: list[float] = Field(min_length=1, max_length=MAX_AXIS)


class LinspaceAxis(_Strict):
    linspace: tuple[float, float, Count]


class GeomspaceAxis(_Strict):
    geomspace: tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)], Count]


class UniformAxis(_Strict):
    uniform: tuple[float, float]


class LogUniformAxis(_Strict):
    loguniform: tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]]


Axis = Union[ValuesAxis, LinspaceAxis, GeomspaceAxis, UniformAxis, LogUniformAxis]


class RandomSettings(_Strict):
    count: int = Field(ge=1, le=MAX_AXIS)
    seed: int = 0


class Hardware(_Strict):
    lanes: int = Field(8, ge=1)
    clock_mhz: float = Field(100.0, gt=0)
    mac: Literal[MAC_TYPES] = "fp16"  # type: ignore[valid-type]
    weight_bits: int = Field(16, ge=1, le=64)
    state_bits: int = Field(16, ge=1, le=64)
    influence_bits: int = Field(16, ge=1, le=64)
    index_bits: int = Field(16, ge=1, le=64)
    static_power_mw: float = Field(1.0, ge=0)
    energy_table: str | None = None
    fpga_device: str | None = None
    core_batch: int = Field(32, ge=1)  # method core: sequences per weight update (a power of two)

    @field_validator("core_batch")
    @classmethod
    def _power_of_two(cls, batch: int) -> int:
        try:
            check_core_batch(batch)
        except UserError as error:
            raise ValueError(str(error).removeprefix("hardware.core_batch: ")) from None
        return batch

    @field_validator("fpga_device")
    @classmethod
    def _known_part(cls, part: str | None) -> str | None:
        if part is not None:
            try:
                check_part(part)
            except UserError as error:
                raise ValueError(str(error).removeprefix("hardware.fpga_device: ")) from None
        return part

    formats: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _widths_from_formats(self) -> "Hardware":
        """formats (SIGNAL=WIDTH,FRAC, as `golden train --format`) set weight, state and influence bits."""
        if self.formats:
            given = sorted({"weight_bits", "state_bits", "influence_bits"} & self.model_fields_set)
            if given:
                raise ValueError(f"give either formats or {', '.join(given)}, not both")
            try:
                HardwareSettings.from_formats(tuple(self.formats))
            except UserError as error:
                raise ValueError(f"formats: {str(error).removeprefix('--format: ')}") from None
        return self

    def settings(self) -> HardwareSettings:
        fields = self.model_dump(exclude={"formats"})
        if not self.formats:
            return HardwareSettings(**fields)
        for name in ("weight_bits", "state_bits", "influence_bits"):
            del fields[name]
        return HardwareSettings.from_formats(tuple(self.formats), **fields)


class SweepSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    methods: list[Literal[SWEEP_METHODS]] = Field(default_factory=lambda: list(METHODS), min_length=1)  # type: ignore[valid-type]
    axes: dict[Literal[PARAMETERS], Axis] = Field(default_factory=dict)  # type: ignore[valid-type]
    random: RandomSettings | None = None
    fixed: dict[Literal[PARAMETERS], float] = Field(default_factory=dict)  # type: ignore[valid-type]
    hardware: Hardware = Field(default_factory=Hardware)
    reference: dict[Literal[PARAMETERS], float] = Field(default_factory=dict)  # type: ignore[valid-type]
    plots: list[Literal[PLOTS]] = Field(default_factory=list)  # type: ignore[valid-type]
    golden_runs: list[str] = Field(default_factory=list)

    @field_validator("fixed", "reference")
    @classmethod
    def _ranges(cls, values: dict[str, float]) -> dict[str, float]:
        for key, value in values.items():
            _check_range(key, [value])
        return values

    def _extent(self, key: str) -> list[float]:
        """The values a parameter takes (a random axis: its bounds; unnamed: its default)."""
        if key in self.axes:
            axis = self.axes[key]
            if isinstance(axis, UniformAxis):
                return list(axis.uniform)
            if isinstance(axis, LogUniformAxis):
                return list(axis.loguniform)
            return axis_values(axis).tolist()
        if key in self.fixed:
            return [self.fixed[key]]
        return [getattr(self.hardware, key)] if key == "lanes" else [DEFAULTS.get(key, 1)]

    @model_validator(mode="after")
    def _consistent(self) -> "SweepSpec":
        named = set(self.axes) | set(self.fixed)
        if {"p", "p_per_n2"} <= named:
            raise ValueError("give either p or p_per_n2, not both")
        both = set(self.axes) & set(self.fixed)
        if both:
            raise ValueError(f"{sorted(both)} appear both as an axis and as fixed")
        randoms = [k for k, a in self.axes.items() if isinstance(a, (UniformAxis, LogUniformAxis))]
        if randoms and self.random is None:
            raise ValueError(f"random axes {randoms} need a 'random: {{count: N}}' section")
        for key, axis in self.axes.items():
            if isinstance(axis, (UniformAxis, LogUniformAxis)):
                low, high = axis.uniform if isinstance(axis, UniformAxis) else axis.loguniform
                if low > high:
                    raise ValueError(f"axes.{key}: low {low} > high {high}")
                values = [low, high]
            else:
                values = axis_values(axis)
            try:
                _check_range(key, values)
            except ValueError as error:
                raise ValueError(f"axes.{key}: {error}") from None
        needs = {
            "op_ratio": ("beta", "omega"),
            "memory_vs_n": ("n",),
            "time_vs_n": ("n",),
            "latency_vs_n": ("n",),
            "storage_vs_n": ("n",),
            "crossover_T": ("T",),
            "fpga_vs_n": ("n",),
        }
        if self.hardware.fpga_device is not None:
            try:
                check_range(self._extent("n"), self._extent("lanes"))
            except UserError as error:
                raise ValueError(str(error)) from None
        if "fpga_vs_n" in self.plots and self.hardware.fpga_device is None:
            raise ValueError("plot fpga_vs_n needs hardware.fpga_device (ice40-up5k or ecp5-85k)")
        for plot in self.plots:
            missing = [k for k in needs.get(plot, ()) if k not in self.axes]
            if missing:
                raise ValueError(f"plot {plot} needs axes {missing}")
        if "learning_curves" in self.plots and not self.golden_runs:
            raise ValueError("plot learning_curves needs golden_runs (folders written by `python -m golden train`)")
        return self


def _check_range(key: str, values) -> None:
    values = np.asarray(values, dtype=np.float64)
    bounds = {
        "n": (1, None, "an integer >= 1"),
        "T": (1, None, "a number >= 1"),
        "p": (1, None, "a number >= 1"),
        "p_per_n2": (0, None, "a number > 0"),
        "lanes": (1, None, "an integer >= 1"),
        "clock_mhz": (0, None, "a number > 0"),
        "alpha": (0, 1, "a number in [0, 1]"),
        "beta": (0, 1, "a number in [0, 1]"),
        "omega": (0, 1, "a number in [0, 1)"),
    }
    low, high, text = bounds[key]
    bad = ~np.isfinite(values)
    bad |= values <= low if key in ("p_per_n2", "clock_mhz") else values < low
    if high is not None:
        bad |= values >= high if key == "omega" else values > high
    if bad.any():
        raise ValueError(f"{key} = {values[bad][0]:g} is out of range; expected {text}")


def axis_length(axis: Axis) -> int:
    """How many values a grid axis has, without making them."""
    if isinstance(axis, ValuesAxis):
        return len(axis.values)
    if isinstance(axis, (LinspaceAxis, GeomspaceAxis)):
        return (axis.linspace if isinstance(axis, LinspaceAxis) else axis.geomspace)[2]
    raise TypeError("random axes have no fixed values")


def axis_values(axis: Axis) -> np.ndarray:
    """The values of a grid axis."""
    if isinstance(axis, ValuesAxis):
        return np.asarray(axis.values, dtype=np.float64)
    if isinstance(axis, LinspaceAxis):
        return np.linspace(*axis.linspace)
    if isinstance(axis, GeomspaceAxis):
        return np.geomspace(*axis.geomspace)
    raise TypeError("random axes have no fixed values")


def parse_spec(data: Any, source: str = "spec") -> SweepSpec:
    """Validate a loaded YAML document; raises UserError naming the key path and the value."""
    return validate_document(SweepSpec, data, source, skip=frozenset(c.__name__ for c in Axis.__args__))


def load_spec(path: str | Path) -> SweepSpec:
    path = Path(path)
    data = read_yaml(path)
    if isinstance(data, dict) and isinstance(data.get("golden_runs"), list):
        # relative run folders are relative to the spec file
        data["golden_runs"] = [
            str((path.parent / r).resolve()) if isinstance(r, str) else r for r in data["golden_runs"]
        ]
    return parse_spec(data, f"spec {path}")
