"""The cocotb job of the online-learning core: one core configuration, its load transactions, and
cases that replay a CoreCase's sequences (sim.core_cases) with a backpressure seed and, optionally,
a reset in the middle of one sequence followed by a replay from the start."""

from __future__ import annotations

from typing import Any

from golden.errors import UserError
from sim.core_cases import CoreCase


def core_job(case: CoreCase, specs: list[tuple[int, float, int | None]]) -> dict[str, Any]:
    """specs: (seed, backpressure, reset_sequence or None) per case; every case replays all of the
    CoreCase's sequences from a fresh load."""
    p = case.p
    cases = []
    for seed, backpressure, reset_sequence in specs:
        if not 0 <= backpressure < 1:
            raise UserError(f"backpressure: {backpressure}, expected a probability in [0, 1)")
        if reset_sequence is not None and not 0 <= reset_sequence < len(case.sequences):
            raise UserError(f"reset_sequence: {reset_sequence}, expected 0..{len(case.sequences) - 1}")
        cases.append(
            {
                "name": f"core seed {seed} bp {backpressure:g}"
                + (f" reset@{reset_sequence}" if reset_sequence is not None else ""),
                "seed": seed,
                "backpressure": backpressure,
                "reset_sequence": reset_sequence,
                "sequences": [
                    {"target": int(t), "learn": bool(learn), "x": [[int(v) for v in x] for x in xs]}
                    for t, learn, xs in case.sequences
                ],
                "logits": case.logits,
                "states": case.states,
                "cycles": case.cycles,
            }
        )
    return {
        "block": "core",
        "params": {k: v for k, v in vars(p).items() if k != "fp"},
        "loads": case.loads,
        "cases": cases,
        "corrupt": None,
    }
