"""The online-learning core (rtl.core) in the cost model: cycles, time and on-chip memory per
training step of an EGRU learning with exact sparse RTRL, from the same functions the simulations
check (rtl.core.cycles.core_step_cycles, rtl.core.memory.core_memory_bits).

From mean densities: at t = 0 nothing has fired (y_0 = d_0 = 0); at t >= 1 the events are
round((1 - alpha) n) units and the active sources round((1 - beta) n); every recurrent column keeps
K / 3n entries per matrix (K = 3 (n^2 - round(omega n^2)) kept weights), so an event's column is
round(2 K / 3n) words in the accumulator's first pass and round(K / 3n) in its second. A sequence
is T such steps, the last with the readout's credit, and the update after every batch adds its
cycles divided by the batch. Given a run's own per-step events and sources, core_step_cycles
gives the measured cycles exactly (tests/test_rtl_core.py, tests/test_sim_native.py)."""

from __future__ import annotations

from typing import Any

from costmodel.core_memory import kept_recurrent
from costmodel.errors import UserError
from golden.fixedpoint import DEFAULT, FixedPointConfig
from rtl.blocks.params import egru_columns
from rtl.core.cycles import core_step_cycles
from rtl.core.memory import core_memory_bits
from rtl.core.params import CoreParams


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
    """Expected cycles per training step and per sequence, microseconds at clock_mhz, and the core's
    memory bits by unit (module docstring)."""
    for name, value in (("alpha", alpha), ("beta", beta), ("omega", omega)):
        if not 0 <= value <= 1:
            raise UserError(f"--{name}: got {value:g}; expected a number in [0, 1]")
    if clock_mhz <= 0:
        raise UserError(f"--clock-mhz: got {clock_mhz:g}; expected a number > 0")
    p = CoreParams(n, n_in, egru_columns(n, n_in, omega), T, batch, lanes=lanes, fp=fp)
    per_column = int(kept_recurrent(n, omega)) / (3 * n)
    words = ([round(2 * per_column)] * n, [round(per_column)] * n)
    events, sources = list(range(round((1 - alpha) * n))), round((1 - beta) * n)
    steps = []
    for t in range(T):
        last = t == T - 1
        steps.append(core_step_cycles(p, events if t else [], sources if t else 0, words, True, last, False))
    update = core_step_cycles(p, events, sources, words, True, True, True) - steps[-1]
    sequence = sum(steps) + update / batch
    return {
        "params": {k: v for k, v in vars(p).items() if k != "fp"},
        "cycles_per_training_step": sequence / T,
        "cycles_per_sequence": sequence,
        "cycles_per_update": update,
        "us_per_training_step": sequence / T / clock_mhz,
        "us_per_sequence": sequence / clock_mhz,
        "memory_bits": core_memory_bits(p),
        "clock_mhz": clock_mhz,
    }
