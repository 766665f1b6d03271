"""The spiral task of the sparse-RTRL paper (facts from the paper and its authors' code).

N sequences of 17 steps with 2 inputs: t = linspace(0, 2 pi, 17), offset ~ U(0, 2 pi) per sample,
x1 = sin(t + offset) / (1 + t), x2 = cos(t + offset) / (1 + t); x1 is negated for class 0 (exactly
half the samples), giving the opposite sense of rotation. Unlike the authors' code, which samples
with replacement, train, validation and test splits are disjoint slices of one seeded permutation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from golden.errors import UserError

STEPS = 17


@dataclass
class Split:
    x: torch.Tensor  # [T, N, 2]
    y: torch.Tensor  # [N] float 0/1 labels

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def batch(self, idx: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """(x [T, B, 2], y [B]) for the samples idx."""
        index = torch.tensor(idx, dtype=torch.int64)
        return self.x[:, index], self.y[index]


def split_ranges(n_samples: int, fractions: tuple[float, float, float]) -> dict[str, slice]:
    """The train / val / test index ranges of n_samples (sizes int(f n) for train and val, the rest
    test), shared by every task; UserError below 10 samples."""
    if n_samples < 10:
        raise UserError(f"n_samples: got {n_samples}; expected at least 10")
    n_train, n_val = int(fractions[0] * n_samples), int(fractions[1] * n_samples)
    return {
        "train": slice(0, n_train),
        "val": slice(n_train, n_train + n_val),
        "test": slice(n_train + n_val, n_samples),
    }


def spiral_dataset(
    n_samples: int = 10_000,
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    dtype: torch.dtype = torch.float64,
) -> dict[str, Split]:
    """Disjoint train / val / test splits of the spiral data set (sizes by `fractions`)."""
    ranges = split_ranges(n_samples, fractions)
    gen = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 2 * math.pi, STEPS, dtype=dtype)
    offset = torch.rand(n_samples, generator=gen, dtype=dtype) * 2 * math.pi
    labels = torch.zeros(n_samples, dtype=dtype)
    labels[torch.randperm(n_samples, generator=gen)[: n_samples // 2]] = 1.0
    phase = t[:, None] + offset[None, :]
    x1 = torch.sin(phase) / (1 + t[:, None])
    x2 = torch.cos(phase) / (1 + t[:, None])
    x1 = torch.where(labels[None, :] == 0, -x1, x1)
    x = torch.stack([x1, x2], dim=-1)  # [T, N, 2]
    order = torch.randperm(n_samples, generator=gen)
    return {name: Split(x[:, order[span]], labels[order[span]]) for name, span in ranges.items()}
