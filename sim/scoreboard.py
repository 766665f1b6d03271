"""Scoreboard: compares what a block produced with the integer reference, value by value, and keeps
the first difference (step, what, unit, expected, got) for the report."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Mismatch:
    case: str
    step: int
    what: str
    unit: int
    expected: int
    got: int

    def __str__(self) -> str:
        return (
            f"{self.case}: first mismatch at step {self.step}, {self.what} unit {self.unit}: "
            f"expected {self.expected}, got {self.got}"
        )


@dataclass
class Scoreboard:
    compared: int = 0
    mismatches: int = 0
    first: Mismatch | None = field(default=None)

    def compare(self, case: str, step: int, what: str, expected, got) -> bool:
        """Compare two integer arrays (any shape; units are flat indices); True when equal."""
        expected, got = np.asarray(expected, dtype=np.int64), np.asarray(got, dtype=np.int64)
        if expected.shape != got.shape:
            raise ValueError(f"{case} step {step} {what}: shape {got.shape}, expected {expected.shape}")
        self.compared += expected.size
        diff = np.flatnonzero(expected.reshape(-1) != got.reshape(-1))
        if diff.size == 0:
            return True
        self.mismatches += int(diff.size)
        if self.first is None:
            u = int(diff[0])
            self.first = Mismatch(case, step, what, u, int(expected.reshape(-1)[u]), int(got.reshape(-1)[u]))
        return False

    @property
    def passed(self) -> bool:
        return self.mismatches == 0
