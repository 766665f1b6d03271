"""The online-learning core (rtl.core) in the cost model: cycles, time and on-chip memory per
training step of an EGRU learning with exact sparse RTRL, from the same functions the simulations
check (rtl.core.cycles.core_step_cycles, rtl.core.memory.core_memory_bits).

From mean densities: at t = 0 nothing has fired (y_0 = d_0 = 0); at t >= 1 the events are
round((1 - alpha) n) units and the active sources round((1 - beta) n); every recurrent column keeps
K / 3n entries per matrix (K = 3 (n^2 - round(omega n^2)) kept weights), so an event's column is
round(2 K / 3n) words in the accumulator's first pass and round(K / 3n) in its second. A sequence
is T such steps, the last with the readout's credit, and the update after every batch adds its
cycles divided by the batch. Given a run's own per-step events and sources, core_step_cycles
gives the measured cycles exactly (tests/test_rtl_core.py, tests/test_sim_native.py).

Energy per training step (method "core" of the sweeps, core_figures) is priced like Table 1's
methods (costmodel.hardware) from what the core does in a step on the mean pattern: MACs (the input
part's 3 n n_in, the accumulator's words of the event columns, the influence update's n C L (A + 1)
lane-MACs issued, padding lanes included, and at the last step the readout's 2 n; the update's Q
words shared by the batch) at the MAC energy, and memory traffic (those accumulator words, the
influence update's reads of M_{t-1} and coefficients, one per lane-MAC, its writes of M_t, n C L,
the gradient unit's read and write of its sums for each word of M_t written, the update's read and
write of master and momentum words) at the access energy of the memory class that holds the core's
memory bits, plus static power over the step's time. Those counts are the model's, not measured.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from costmodel.core_memory import kept_recurrent
from costmodel.errors import UserError
from costmodel.hardware import HardwareSettings, load_energy_table
from golden.fixedpoint import DEFAULT, FixedPointConfig
from rtl.blocks.params import egru_columns
from rtl.core.cycles import core_step_cycles
from rtl.core.memory import core_memory_bits
from rtl.core.params import CoreParams


@functools.lru_cache(maxsize=256)
def core_params(n: int, omega: float, T: int, batch: int, lanes: int, n_in: int, fp: FixedPointConfig) -> CoreParams:
    """The core for an EGRU of n units with round(omega n^2) of each recurrent matrix masked (cached:
    a sweep asks for the same core at many alpha and beta)."""
    return CoreParams(n, n_in, egru_columns(n, n_in, omega), T, batch, lanes=lanes, fp=fp)


def core_training_step(
    n: int,
    omega: float,
    alpha: float,
    beta: float,
    T: int,
    batch: int = 32,
    lanes: int = 4,
    clock_mhz: float = 50.0,
    n_in: int = 2,
    fp: FixedPointConfig = DEFAULT,
) -> dict[str, Any]:
    """Expected cycles per training step and per sequence, microseconds at clock_mhz, the core's
    memory bits by unit, and its MACs and memory traffic per training step (module docstring)."""
    for name, value in (("alpha", alpha), ("beta", beta), ("omega", omega)):
        if not 0 <= value <= 1:
            raise UserError(f"--{name}: got {value:g}; expected a number in [0, 1]")
    if clock_mhz <= 0:
        raise UserError(f"--clock-mhz: got {clock_mhz:g}; expected a number > 0")
    p = core_params(n, omega, T, batch, lanes, n_in, fp)
    per_column = int(kept_recurrent(n, omega)) / (3 * n)
    pass1, pass2 = round(2 * per_column), round(per_column)
    words = ([pass1] * n, [pass2] * n)
    events, sources = list(range(round((1 - alpha) * n))), round((1 - beta) * n)

    def step(t: int) -> int:
        return core_step_cycles(p, events if t else [], sources if t else 0, words, True, t == T - 1, False)

    # Every step but the first (nothing fired yet) and the last (the readout's credit) is the same.
    middle = max(T - 2, 0)
    steps = step(0) + (step(T - 1) if T > 1 else 0) + (middle * step(1) if middle else 0)
    update = core_step_cycles(p, events, sources, words, True, True, True) - step(T - 1)
    sequence = steps + update / batch
    return {
        "params": {k: v for k, v in vars(p).items() if k != "fp"},
        "cycles_per_training_step": sequence / T,
        "cycles_per_sequence": sequence,
        "cycles_per_update": update,
        "us_per_training_step": sequence / T / clock_mhz,
        "us_per_sequence": sequence / clock_mhz,
        "memory_bits": core_memory_bits(p),
        **_work_per_step(p, len(events), sources, pass1 + pass2),
        "clock_mhz": clock_mhz,
    }


def _work_per_step(p: CoreParams, events: int, sources: int, words_per_event: int) -> dict[str, float]:
    """MACs and memory bits moved per training step on the mean pattern (module docstring), summed
    over a sequence: t = 0 accumulates nothing (y_0 = 0) and has no sources; t >= 1 are alike."""
    n, T, fp = p.n, p.steps, p.fp
    C, L, Q = p.influence.chunks, p.lanes, p.update.parameters
    entry = p.accumulate.slot_bits + 2 + fp.weight.width + 1
    acc_words = (T - 1) * events * words_per_event
    lane_macs = n * C * L * (1 + (T - 1) * (sources + 1))
    macs = T * 3 * n * p.n_in + acc_words + lane_macs + 2 * n + Q / p.batch
    bits = (
        acc_words * entry
        + lane_macs * (fp.influence.width + fp.coef.width)
        + T * n * C * L * (fp.influence.width + 2 * p.gradient.acc_width)
        + 2 * Q * (fp.master.width + fp.grad.width) / p.batch
    )
    return {
        "macs_per_training_step": macs / T,
        "influence_macs_per_training_step": lane_macs / T,
        "memory_bits_moved_per_training_step": bits / T,
    }


WEIGHT_UNITS = ("input", "accumulate", "linearise", "update")  # weights and their masters
INFLUENCE_UNITS = ("influence", "gradient")  # M, its coefficients and the gradient's sums


ROW_FIELDS = ("cycles", "clock", "weight", "state", "influence", "macs", "influence_macs", "moved")


def _core_row(n, T, alpha, beta, omega, lanes, clock, batch: int) -> dict[str, float]:
    """core_figures' per-point figures (bytes by kind, MACs, bits moved), NaN where the core cannot
    be built with these lanes (more than a third of its parameters)."""
    try:
        r = core_training_step(int(n), omega, alpha, beta, int(T), batch, int(lanes), clock)
    except UserError:
        return dict.fromkeys(ROW_FIELDS, np.nan)
    bits = r["memory_bits"]
    return {
        "cycles": r["cycles_per_training_step"],
        "clock": clock,
        "weight": sum(bits[u] for u in WEIGHT_UNITS) / 8,
        "state": (bits["total"] - sum(bits[u] for u in WEIGHT_UNITS + INFLUENCE_UNITS)) / 8,
        "influence": sum(bits[u] for u in INFLUENCE_UNITS) / 8,
        "macs": r["macs_per_training_step"],
        "influence_macs": r["influence_macs_per_training_step"],
        "moved": r["memory_bits_moved_per_training_step"],
    }


def core_figures(points: dict[str, np.ndarray], hw: HardwareSettings) -> dict[str, np.ndarray]:
    """hardware_figures' columns for the core at each design point (n, T, alpha, beta, omega, lanes,
    clock_mhz), and its MACs per training step as Table 1's two time terms (influence: the influence
    update's lane-MACs; forward: the rest): cycles and latency per training step from the cycle
    function (core_training_step); storage from rtl.core.memory (weights: the input part's, the
    accumulator's, linearisation's and the update's memories; influence: M, coefficients, gradient
    sums; state: the rest, the tables); energy as the module docstring says; the core's own fixed
    point, batch hw.core_batch, two inputs. Points that repeat are computed once; lanes the core
    cannot use (more than a third of its parameters) give NaN."""
    table = load_energy_table(hw.energy_table)
    keys = ("n", "T", "alpha", "beta", "omega", "lanes", "clock_mhz")
    cols = [np.asarray(points[k], dtype=np.float64) for k in keys]
    rows: dict[tuple, dict[str, float]] = {}
    out = {k: np.empty(len(cols[0])) for k in ROW_FIELDS}
    for i, point in enumerate(zip(*cols)):
        if point not in rows:
            rows[point] = _core_row(*point, hw.core_batch)
        for k, v in rows[point].items():
            out[k][i] = v
    storage = out["weight"] + out["state"] + out["influence"]
    latency_s = out["cycles"] / (out["clock"] * 1e6)
    memory_class = table.memory_class(np.nan_to_num(storage, nan=0.0))
    e_compute = out["macs"] * table.mac_pj(hw.mac)
    e_memory = out["moved"] / 64 * table.access_pj_per_64bit(memory_class)
    e_static = hw.static_power_mw * 1e-3 * latency_s * 1e12
    return {
        "forward_term": out["macs"] - out["influence_macs"],
        "influence_term": out["influence_macs"],
        "weight_bytes": out["weight"],
        "state_bytes": out["state"],
        "influence_bytes": out["influence"],
        "storage_bytes": storage,
        "traffic_bytes": out["moved"] / 8,
        "memory_class": memory_class,
        "cycles": out["cycles"],
        "latency_us": latency_s * 1e6,
        "energy_compute_pj": e_compute,
        "energy_memory_pj": e_memory,
        "energy_static_pj": e_static,
        "energy_pj": e_compute + e_memory + e_static,
    }
