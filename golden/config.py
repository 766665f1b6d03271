"""Cell configuration: which cell, its size, pseudo-derivative, parameter sparsity and dtype."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch

from golden.errors import UserError

CELLS = ("egru", "trnn", "gru", "evnn")
RESETS = ("paper", "subtractive")
DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class CellConfig:
    """Everything that defines a cell's parameters and dynamics (not its weights).

    cell: "egru", "trnn" (threshold RNN of the sparse-RTRL paper, Sec. 4), "gru" or "evnn" (the
        published EvNN code's EGRU, golden.evnn).
    reset: EGRU reset form, "paper" (c_t = ... - y_{t-1}) or "subtractive" (EvNN's); other cells
        ignore it and keep "paper" (the evnn cell's own reset is the subtractive one).
    gamma, epsilon: height and half-width of the pseudo-derivative (see golden.heaviside).
    omega: fraction of each recurrent matrix that is masked (fixed 0/1 mask, seeded).
    seed: seeds the weights and the masks.
    """

    cell: str = "egru"
    n: int = 16
    n_in: int = 2
    reset: str = "paper"
    gamma: float = 0.7
    epsilon: float = 1.0
    omega: float = 0.0
    seed: int = 0
    dtype: str = "float64"

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise UserError(f"cell: unknown cell {self.cell!r}; expected one of {', '.join(CELLS)}")
        if self.reset not in RESETS:
            raise UserError(f"reset: unknown reset {self.reset!r}; expected one of {', '.join(RESETS)}")
        for name in ("n", "n_in"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise UserError(f"{name}: got {value!r}; expected a positive integer")
        if not (math.isfinite(self.gamma) and self.gamma > 0):
            raise UserError(f"gamma: got {self.gamma!r}; expected a finite number > 0")
        if not (math.isfinite(self.epsilon) and self.epsilon > 0):
            raise UserError(f"epsilon: got {self.epsilon!r}; expected a finite number > 0")
        if not (0.0 <= self.omega < 1.0):
            raise UserError(f"omega: got {self.omega!r}; expected a number in [0, 1)")
        if self.dtype not in DTYPES:
            raise UserError(f"dtype: got {self.dtype!r}; expected one of {', '.join(DTYPES)}")
        if self.cell != "egru" and self.reset != "paper":
            raise UserError(f"reset: {self.reset!r} applies to the egru cell only, not {self.cell!r}")

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CellConfig":
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(f"cell config: unknown keys {unknown}; expected some of {sorted(known)}")
        return cls(**data)
