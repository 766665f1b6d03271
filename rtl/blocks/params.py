"""Parameters of the RTL blocks, checked once, shared by the Amaranth components, the cycle functions
(rtl.blocks.cycles) and the Verilog generator. Pure Python: no Amaranth import."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, is_dataclass

from golden.errors import UserError
from golden.fixed_cell import PseudoDerivative
from golden.fixedpoint import DEFAULT, FixedPointConfig, bits_for
from rtl.fpga.parts import Tiling

MAX_UNITS = 1 << 16  # a sanity bound; the cost model evaluates large networks with these too


def _check_int(name: str, value: object, low: int, high: int, why: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UserError(f"{name}: got {value!r}; expected an integer in {low}..{high}{why}")


@dataclass(frozen=True)
class _UnitsAndLanes:
    """n units served by `lanes` lanes, at most one lane per unit."""

    n: int
    lanes: int = 1
    fp: FixedPointConfig = field(default=DEFAULT)

    def __post_init__(self) -> None:
        _check_int("n", self.n, 1, MAX_UNITS)
        _check_int("lanes", self.lanes, 1, self.n, " (at most one lane per unit)")


@dataclass(frozen=True)
class RouterParams(_UnitsAndLanes):
    """EventRouter: n units, `lanes` event streams (lane l serves units l, l + lanes, ...)."""

    def lane_units(self, lane: int) -> range:
        return range(lane, self.n, self.lanes)


@dataclass(frozen=True)
class AccumulateParams(_UnitsAndLanes):
    """EventAccumulator: n units; `lanes` multipliers, lane i owning rows k = i (mod lanes)."""

    @property
    def slots(self) -> int:
        """Accumulator registers per lane and gate: lane i holds rows k = i (mod lanes)."""
        return math.ceil(self.n / self.lanes)

    @property
    def words_pass1(self) -> int:
        """Words of the largest pass-1 column (V_u and V_r: 2 entries per row of the fullest lane)."""
        return 2 * self.slots

    @property
    def words_pass2(self) -> int:
        return self.slots

    @property
    def weight_depth(self) -> int:
        """Word memory depth that holds any mask pattern (every column dense)."""
        return self.n * (self.words_pass1 + self.words_pass2)

    @property
    def index_bits(self) -> int:
        return bits_for(self.n)

    @property
    def slot_bits(self) -> int:
        return bits_for(self.slots)


@dataclass(frozen=True)
class InfluenceParams:
    """InfluenceUpdate: n units, `columns` compacted parameters (P), `lanes` MAC lanes (L);
    decay=False for cells without a decay term (the threshold RNN); banks: how each M bank is built
    from RAM primitives (rtl.fpga.synth.for_device picks the part's), None: one memory per bank."""

    n: int
    columns: int
    lanes: int = 4
    decay: bool = True
    fp: FixedPointConfig = field(default=DEFAULT)
    banks: Tiling | None = None

    def __post_init__(self) -> None:
        _check_int("n", self.n, 1, MAX_UNITS)
        _check_int("columns", self.columns, 1, 1 << 40)
        _check_int("lanes", self.lanes, 1, self.columns, " (at most one lane per column)")
        if not isinstance(self.decay, bool):
            raise UserError(f"decay: got {self.decay!r}; expected True or False")
        if self.banks is not None:
            t = self.banks
            if (t.depth, t.width) != (self.depth, self.word_width) or t.tile_depth & (t.tile_depth - 1):
                raise UserError(
                    f"banks: got a tiling of {t.depth} x {t.width} words into {t.tile_depth} x {t.tile_width}; "
                    f"expected {self.depth} x {self.word_width} into a power-of-two depth"
                )

    @property
    def chunks(self) -> int:
        """Words per row of M: ceil(P / L)."""
        return math.ceil(self.columns / self.lanes)

    @property
    def depth(self) -> int:
        """Words per buffer of M: n rows x chunks."""
        return self.n * self.chunks

    @property
    def word_width(self) -> int:
        """Bits of a word of M: L influence values."""
        return self.lanes * self.fp.influence.width

    @property
    def max_terms(self) -> int:
        """Decay term plus one term per source unit."""
        return self.n + (1 if self.decay else 0)

    @property
    def term_bits(self) -> int:
        """Address bits of a term within a row of the coefficient memory (stride 2^term_bits)."""
        return bits_for(self.max_terms)


@dataclass(frozen=True)
class CellUnitParams:
    """CellUnit: n units; the pseudo-derivative's height gamma and half-width epsilon (as constants
    in fp.const, golden.fixed_cell.PseudoDerivative); the subtractive reset or the paper's."""

    n: int
    gamma: float = 0.7
    epsilon: float = 1.0
    subtractive: bool = False
    fp: FixedPointConfig = field(default=DEFAULT)

    def __post_init__(self) -> None:
        _check_int("n", self.n, 1, MAX_UNITS)
        for name in ("gamma", "epsilon"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise UserError(f"{name}: got {value!r}; expected a finite number > 0")
        if not isinstance(self.subtractive, bool):
            raise UserError(f"subtractive: got {self.subtractive!r}; expected True or False")
        if self.fp.gate.frac < self.fp.state.frac:
            raise UserError("fixed-point formats: the cell unit needs gate.frac >= state.frac")
        self.constants  # gamma and gamma / epsilon must fit fp.const (the error names them)

    @property
    def constants(self) -> PseudoDerivative:
        """gamma and gamma / epsilon as fp.const words (golden.fixed_cell.PseudoDerivative)."""
        return PseudoDerivative.of(self.gamma, self.epsilon, self.fp)


@dataclass(frozen=True)
class LinearizeParams:
    """LinearizeUnit: n units, n_in inputs, `columns` compacted parameters (P, set by the masks:
    egru_columns) served to an InfluenceUpdate of `lanes` MAC lanes; the subtractive reset or the
    paper's."""

    n: int
    n_in: int
    columns: int
    lanes: int = 4
    subtractive: bool = False
    fp: FixedPointConfig = field(default=DEFAULT)

    def __post_init__(self) -> None:
        _check_int("n", self.n, 1, MAX_UNITS)
        _check_int("n_in", self.n_in, 1, MAX_UNITS)
        low, high = egru_columns(self.n, self.n_in, 1.0), egru_columns(self.n, self.n_in, 0.0)
        _check_int("columns", self.columns, low, high, f" (an EGRU with n = {self.n}, n_in = {self.n_in})")
        _check_int("lanes", self.lanes, 1, self.columns, " (at most one lane per column)")
        if not isinstance(self.subtractive, bool):
            raise UserError(f"subtractive: got {self.subtractive!r}; expected True or False")

    @property
    def influence(self) -> InfluenceParams:
        """The InfluenceUpdate this unit feeds (its step, setup and mbar streams)."""
        return InfluenceParams(n=self.n, columns=self.columns, lanes=self.lanes, decay=True, fp=self.fp)

    @property
    def chunks(self) -> int:
        """Words of L columns per row of Mbar (as of M)."""
        return math.ceil(self.columns / self.lanes)


@dataclass(frozen=True)
class GradientParams:
    """GradientUnit: n units, `columns` compacted parameters (P) in words of `lanes` (as the
    InfluenceUpdate's M); exact accumulators for `batch` samples of `steps` steps between clears."""

    n: int
    columns: int
    lanes: int = 4
    batch: int = 1
    steps: int = 1
    fp: FixedPointConfig = field(default=DEFAULT)

    def __post_init__(self) -> None:
        _check_int("n", self.n, 1, MAX_UNITS)
        _check_int("columns", self.columns, 1, 1 << 40)
        _check_int("lanes", self.lanes, 1, self.columns, " (at most one lane per column)")
        _check_int("batch", self.batch, 1, 1 << 20)
        _check_int("steps", self.steps, 1, 1 << 20)

    @property
    def chunks(self) -> int:
        return math.ceil(self.columns / self.lanes)

    @property
    def acc_width(self) -> int:
        """Bits of an exact accumulator: golden.fixedpoint's gradient_acc_width."""
        return int(self.fp.gradient_acc_width(self.n, self.batch, self.steps))


@dataclass(frozen=True)
class InputParams:
    """InputUnit: n units, n_in inputs."""

    n: int
    n_in: int
    fp: FixedPointConfig = field(default=DEFAULT)

    def __post_init__(self) -> None:
        _check_int("n", self.n, 1, MAX_UNITS)
        _check_int("n_in", self.n_in, 1, MAX_UNITS)


@dataclass(frozen=True)
class ReadoutParams:
    """ReadoutUnit: n units; its gradient sums cover `batch` samples between clears."""

    n: int
    batch: int = 1
    fp: FixedPointConfig = field(default=DEFAULT)

    def __post_init__(self) -> None:
        _check_int("n", self.n, 1, MAX_UNITS)
        _check_int("batch", self.batch, 1, 1 << 20)

    @property
    def sum_width(self) -> int:
        """Bits of an exact sum R_k: batch x (e c) products, e within +-2^gate.frac."""
        return self.fp.gate.frac + 2 + self.fp.state.width + bits_for(self.batch + 1)


@dataclass(frozen=True)
class UpdateParams:
    """UpdateUnit: an EGRU of n units and n_in inputs with `columns` compacted parameters, the
    GradientUnit's words of `lanes` accumulators for `batch` samples (a power of two) of `steps`
    steps, the EventAccumulator's word depth for V's addresses; the rule (golden.fixed_step.ShiftRule):
    kind signum or sgdm, learning rate 2^-lr_shift, momentum 1 - 2^-momentum_shift."""

    n: int
    n_in: int
    columns: int
    lanes: int = 4
    batch: int = 1
    steps: int = 1
    kind: str = "signum"
    lr_shift: int = 8
    momentum_shift: int = 3
    fp: FixedPointConfig = field(default=DEFAULT)

    def __post_init__(self) -> None:
        _check_int("n", self.n, 1, MAX_UNITS)
        _check_int("n_in", self.n_in, 1, MAX_UNITS)
        low, high = egru_columns(self.n, self.n_in, 1.0), egru_columns(self.n, self.n_in, 0.0)
        _check_int("columns", self.columns, low, high, f" (an EGRU with n = {self.n}, n_in = {self.n_in})")
        _check_int("lanes", self.lanes, 1, self.columns, " (at most one lane per column)")
        _check_int("batch", self.batch, 1, 1 << 20)
        if self.batch & (self.batch - 1):
            raise UserError(f"batch: got {self.batch}; expected a power of two (the mean is a shift)")
        _check_int("steps", self.steps, 1, 1 << 20)
        if self.kind not in ("signum", "sgdm"):
            raise UserError(f"kind: got {self.kind!r}; expected signum or sgdm")
        _check_int("lr_shift", self.lr_shift, 0, self.fp.master.frac, " (a step of at least one master LSB)")
        _check_int("momentum_shift", self.momentum_shift, 0, self.fp.grad.width - 1)

    @property
    def chunks(self) -> int:
        return math.ceil(self.columns / self.lanes)

    @property
    def parameters(self) -> int:
        """Master words: the compacted columns, w_out and b_out."""
        return self.columns + self.n + 1

    @property
    def acc_width(self) -> int:
        return GradientParams(self.n, self.columns, self.lanes, self.batch, self.steps, self.fp).acc_width

    @property
    def sum_width(self) -> int:
        return ReadoutParams(self.n, self.batch, self.fp).sum_width

    @property
    def accumulate_depth(self) -> int:
        """Words of the EventAccumulator with one lane (AccumulateParams.weight_depth)."""
        return AccumulateParams(self.n, 1, self.fp).weight_depth


BLOCK_PARAMS = {"router": RouterParams, "accumulate": AccumulateParams, "influence": InfluenceParams}
DEFAULT_LANES = {"router": 1, "accumulate": 1, "influence": 4}


def check_blocks(blocks: list[str]) -> None:
    """Refuse a block name that is not one of BLOCK_PARAMS (the --blocks options)."""
    unknown = [b for b in blocks if b not in BLOCK_PARAMS]
    if unknown:
        raise UserError(f"--blocks: unknown block {unknown[0]!r}; expected some of {', '.join(BLOCK_PARAMS)}")


def egru_columns(n: int, n_in: int = 2, omega: float = 0.0) -> int:
    """P of an EGRU: W (3 n n_in), V (3 n^2), b (3 n), theta (n), less the masked recurrent entries
    (golden.params masks exactly round(omega n^2) of each of V_u, V_r, V_z)."""
    return 3 * n * n_in + 3 * (n * n - round(omega * n * n)) + 3 * n + n


def make_params(
    block: str,
    n: int,
    lanes: int | None = None,
    columns: int | None = None,
    decay: bool = True,
    fp: FixedPointConfig = DEFAULT,
) -> RouterParams | AccumulateParams | InfluenceParams:
    """The named block's parameters; lanes default per block, columns (influence only) to the EGRU's
    P at n_in = 2 with nothing masked."""
    if block not in BLOCK_PARAMS:
        raise UserError(f"--block: got {block!r}; expected one of {', '.join(BLOCK_PARAMS)}")
    lanes = DEFAULT_LANES[block] if lanes is None else lanes
    if block == "influence":
        columns = egru_columns(n) if columns is None else columns
        return InfluenceParams(n=n, columns=columns, lanes=lanes, decay=decay, fp=fp)
    return BLOCK_PARAMS[block](n=n, lanes=lanes, fp=fp)


def describe(params: RouterParams | AccumulateParams | InfluenceParams) -> dict[str, object]:
    """The parameters as JSON values (the fixed-point formats are reported on their own)."""
    return {k: asdict(v) if is_dataclass(v) else v for k, v in vars(params).items() if k != "fp"}
