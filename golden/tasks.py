"""The training tasks behind one interface: inputs, sequence length, which steps are scored, splits.

    spiral  golden.spiral: 2 inputs, 17 steps, the last step scored
    cue     golden.cue: 40 spiking inputs, T from the time step dt, the recall steps scored

Every split has a length and `batch(indices) -> (x [T, B, n_in], y [B])`. The readout of a scored
step t is logit_t = w_out . s_t + b_out, the loss the binary cross-entropy averaged over the scored
steps and the batch, and the prediction the sign of the mean logit over the scored steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch

from golden.cue import CueTiming, cue_dataset
from golden.errors import UserError
from golden.spiral import STEPS, spiral_dataset

TASKS = ("spiral", "cue")


class Split(Protocol):
    def __len__(self) -> int: ...

    def batch(self, idx: list[int]) -> tuple[torch.Tensor, torch.Tensor]: ...


@dataclass
class Task:
    name: str
    n_in: int
    T: int
    scored: int  # the last `scored` steps of every sequence carry the loss
    splits: dict[str, Split]
    settings: dict[str, Any]  # what defines the data, for the run's metrics


def task_shape(name: str, dt: float) -> tuple[int, int, int]:
    """(n_in, T, scored steps) of a task without building its data."""
    if name == "spiral":
        return 2, STEPS, 1
    if name == "cue":
        timing = CueTiming(dt=dt)
        return timing.n_in, timing.T, timing.recall_steps
    raise UserError(f"task: unknown task {name!r}; expected one of {', '.join(TASKS)}")


def make_task(name: str, n_samples: int, seed: int, dt: float, dtype: torch.dtype) -> Task:
    """The task's seeded splits (module doc)."""
    n_in, T, scored = task_shape(name, dt)
    if name == "spiral":
        return Task(name, n_in, T, scored, spiral_dataset(n_samples, seed, dtype=dtype), {"steps": T})
    timing = CueTiming(dt=dt)
    return Task(name, n_in, T, scored, cue_dataset(timing, n_samples, seed, dtype=dtype), timing.to_dict())
