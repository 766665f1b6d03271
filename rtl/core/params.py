"""Parameters of the online-learning core (pure Python, no Amaranth: the cost model and the cycle
functions import them): the network, the sequence and batch, the rule, and the blocks' parameters
derived from them, checked once."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from golden.errors import UserError
from golden.fixedpoint import DEFAULT, FixedPointConfig
from rtl.blocks.params import (
    MAX_UNITS,
    AccumulateParams,
    CellUnitParams,
    GradientParams,
    InfluenceParams,
    InputParams,
    LinearizeParams,
    ReadoutParams,
    RouterParams,
    UpdateParams,
    _check_int,
)


@dataclass(frozen=True)
class CoreParams:
    """EGRUCore: an EGRU of n units, n_in inputs and `columns` kept parameters (P, from the masks),
    trained on sequences of `steps` steps, `batch` sequences per update (a power of two; the samples
    run one after another) or, with batch 1, also every `update_every` steps (0: at the end of each
    sequence only); `lanes` MAC lanes in the influence update; the cell's gamma, epsilon and reset;
    the rule (golden.fixed_step.ShiftRule)."""

    n: int
    n_in: int
    columns: int
    steps: int
    batch: int = 1
    update_every: int = 0
    lanes: int = 4
    gamma: float = 0.7
    epsilon: float = 1.0
    subtractive: bool = False
    kind: str = "signum"
    lr_shift: int = 8
    momentum_shift: int = 3
    fp: FixedPointConfig = field(default=DEFAULT)

    def __post_init__(self) -> None:
        _check_int("n", self.n, 2, MAX_UNITS)
        _check_int("steps", self.steps, 1, 1 << 20)
        _check_int("update_every", self.update_every, 0, self.steps)
        if self.update_every and self.batch != 1:
            raise UserError(
                f"update_every: got {self.update_every} with batch {self.batch}; expected batch 1 (the core "
                "runs a batch's samples one after another, so it can update mid-sequence only with one sample)"
            )
        for part in (self.cell, self.linearise, self.update, self.gradient, self.readout, self.input):
            assert part is not None  # each block checks its own parameters, naming the field
        if self.influence.chunks < 3:
            raise UserError(
                f"lanes: got {self.lanes} for {self.columns} columns; expected at most {self.columns // 3} "
                "(three words of M per row at least, as rtl.core.cycles assumes)"
            )

    @classmethod
    def for_training(cls, config, columns: int, steps: int, lanes: int, rule, fp: FixedPointConfig) -> "CoreParams":
        """The core that runs a golden.train.TrainConfig's fixed-point training (n_in = 2, its cell,
        batch, update_every and golden.fixed_step.ShiftRule) on sequences of `steps` steps."""
        return cls(
            config.n, 2, columns, steps, config.batch, config.update_every or 0, lanes, config.gamma,
            config.epsilon, config.reset == "subtractive", rule.kind, rule.lr_shift, rule.momentum_shift, fp,
        )  # fmt: skip

    @property
    def input(self) -> InputParams:
        return InputParams(self.n, self.n_in, self.fp)

    @property
    def router(self) -> RouterParams:
        return RouterParams(self.n, 1, self.fp)

    @property
    def accumulate(self) -> AccumulateParams:
        """One lane: the words are laid out by mask (rtl.blocks.transactions.accumulate_mask_load)."""
        return AccumulateParams(self.n, 1, self.fp)

    @property
    def cell(self) -> CellUnitParams:
        return CellUnitParams(self.n, self.gamma, self.epsilon, self.subtractive, self.fp)

    @property
    def linearise(self) -> LinearizeParams:
        return LinearizeParams(self.n, self.n_in, self.columns, self.lanes, self.subtractive, self.fp)

    @property
    def influence(self) -> InfluenceParams:
        return self.linearise.influence

    @property
    def gradient(self) -> GradientParams:
        return GradientParams(self.n, self.columns, self.lanes, self.batch, self.steps, self.fp)

    @property
    def readout(self) -> ReadoutParams:
        return ReadoutParams(self.n, self.batch, self.fp)

    @property
    def update(self) -> UpdateParams:
        return UpdateParams(
            self.n,
            self.n_in,
            self.columns,
            self.lanes,
            self.batch,
            self.steps,
            self.kind,
            self.lr_shift,
            self.momentum_shift,
            self.fp,
        )

    @property
    def batch_shift(self) -> int:
        return int(math.log2(self.batch))

    def updates_after(self, t: int, sample: int) -> bool:
        """Whether the weights are updated after step t of the batch's `sample`-th sequence."""
        if t == self.steps - 1:
            return sample == self.batch - 1
        return bool(self.update_every) and (t + 1) % self.update_every == 0
