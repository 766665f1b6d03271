"""The evidence-accumulation ("cue") task of the e-prop paper (Bellec et al., Nat. Commun. 2020, Fig. 3),
the task ReckOn learns on chip.

40 spiking input channels in four groups of 10: left cue, right cue, recall cue, background noise.
A sequence shows `cues` = 7 cues one after another, each on one side (left or right with probability
1/2, drawn per cue); a cue is `cue_ms` = 100 ms during which the channels of its side fire at
`cue_hz` = 40 Hz, followed by `gap_ms` = 50 ms of silence. After the last cue comes a delay of
`delay_ms` = 1000 ms, then the recall cue: `recall_ms` = 150 ms during which the recall channels
fire at 40 Hz. The noise channels fire at `noise_hz` = 10 Hz throughout. The label is the side that
showed more cues (1 = right; an odd number of cues leaves no tie), and only the recall steps are
scored. Published figures, as above; Bellec et al. give the delay as "about one second" and the
noise rate as 10 Hz.

Time is discretised by `dt` milliseconds (1 ms as published; coarser for speed): every interval
becomes round(ms / dt) steps (at least one), and a channel firing at rate f spikes at each step
independently with probability min(1, f dt / 1000). So at dt = 1 ms a sequence has 7 x 150 + 1000 +
150 = 2,200 steps; at dt = 25 ms it has 7 x 6 + 40 + 6 = 88, and the cue channels fire at every step
of their cue.

Samples are drawn one by one from a generator seeded by (seed, index), so any batch is produced on
demand (a split at dt = 1 ms would not fit in memory) and is the same whatever else was drawn.
Splits are disjoint index ranges: train the first 80%, validation the next 10%, test the rest.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from golden.errors import UserError
from golden.spiral import split_ranges

GROUPS = ("left", "right", "recall", "noise")


@dataclass(frozen=True)
class CueTiming:
    """The task's published constants (module doc) and the time step, all in ms and Hz."""

    dt: float = 1.0
    cues: int = 7
    cue_ms: float = 100.0
    gap_ms: float = 50.0
    delay_ms: float = 1000.0
    recall_ms: float = 150.0
    cue_hz: float = 40.0
    noise_hz: float = 10.0
    channels: int = 10  # per group

    def __post_init__(self) -> None:
        if not (self.dt > 0 and self.dt <= 1000):
            raise UserError(f"dt: got {self.dt} ms; expected a time step in (0, 1000] ms")
        if self.cues < 1 or self.cues % 2 == 0:
            raise UserError(f"cues: got {self.cues}; expected an odd positive number (no ties)")
        if self.channels < 1:
            raise UserError(f"channels: got {self.channels}; expected at least 1 per group")

    def steps(self, ms: float) -> int:
        """An interval of `ms` in steps: round(ms / dt), at least 1 (0 for a zero interval)."""
        return 0 if ms == 0 else max(1, round(ms / self.dt))

    @property
    def slot(self) -> int:
        return self.steps(self.cue_ms) + self.steps(self.gap_ms)

    @property
    def T(self) -> int:
        return self.cues * self.slot + self.steps(self.delay_ms) + self.steps(self.recall_ms)

    @property
    def recall_steps(self) -> int:
        return self.steps(self.recall_ms)

    @property
    def n_in(self) -> int:
        return len(GROUPS) * self.channels

    def probability(self, hz: float) -> float:
        """Spike probability per step of a channel firing at hz."""
        return min(1.0, hz * self.dt / 1000.0)

    def to_dict(self) -> dict:
        return asdict(self)


def cue_sample(timing: CueTiming, seed: int, index: int) -> tuple[torch.Tensor, int, torch.Tensor]:
    """Sample `index`: (spikes [T, n_in] float 0/1, label 0/1, sides [cues] with 1 = right)."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + index)
    c, T = timing.channels, timing.T
    sides = (torch.rand(timing.cues, generator=gen) < 0.5).to(torch.int64)
    rate = torch.zeros(T, timing.n_in, dtype=torch.float64)
    cue = timing.steps(timing.cue_ms)
    for i, side in enumerate(sides.tolist()):
        start = i * timing.slot
        rate[start : start + cue, side * c : (side + 1) * c] = timing.probability(timing.cue_hz)
    rate[T - timing.recall_steps :, 2 * c : 3 * c] = timing.probability(timing.cue_hz)
    rate[:, 3 * c :] = timing.probability(timing.noise_hz)
    spikes = (torch.rand(T, timing.n_in, generator=gen, dtype=torch.float64) < rate).to(torch.float64)
    label = int(2 * int(sides.sum()) > timing.cues)
    return spikes, label, sides


class CueSplit:
    """One split: samples first..first+size-1 of the seeded stream, drawn when asked for."""

    def __init__(self, timing: CueTiming, seed: int, first: int, size: int, dtype: torch.dtype):
        self.timing, self.seed, self.first, self.size, self.dtype = timing, seed, first, size, dtype

    def __len__(self) -> int:
        return self.size

    def batch(self, idx: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """(x [T, B, n_in], y [B]) for the split's samples idx."""
        samples = [cue_sample(self.timing, self.seed, self.first + i) for i in idx]
        x = torch.stack([s[0] for s in samples], dim=1).to(self.dtype)
        return x, torch.tensor([s[1] for s in samples], dtype=self.dtype)


def cue_dataset(
    timing: CueTiming,
    n_samples: int = 10_000,
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    dtype: torch.dtype = torch.float64,
) -> dict[str, CueSplit]:
    """Disjoint train / val / test index ranges of the seeded sample stream."""
    ranges = split_ranges(n_samples, fractions)
    return {name: CueSplit(timing, seed, span.start, span.stop - span.start, dtype) for name, span in ranges.items()}
