"""Fixed-point contract (DESIGN.md contract 2) and the bit-exact integer reference of every RTL block.

numpy only (no torch): `rtl` imports this module to size its datapaths, and `sim` to check them.

Numbers are signed two's complement words Q(width, frac): the integer q stands for q * 2^-frac and
lies in [-2^(width-1), 2^(width-1) - 1]. Two operations are used everywhere, in this reference and in
the RTL alike:

    round(q, s)   = floor((q + 2^(s-1)) / 2^s)       for s > 0 (round half up); q for s = 0
    saturate(q, F) = min(max(q, F.min), F.max)

Products and sums are formed exactly in a wide accumulator (wide enough that no input of the block's
format can overflow it) and rounded and saturated once per output, so a result never depends on the
number of lanes or the order of the terms. Float values enter through `to_fixed`, which rounds the
same way and refuses (FixedPointRangeError, naming the signal) values that do not fit the format:
a format too narrow for a trace is an error, not a silent clip. Results computed inside a block
saturate, and inside `counting_saturations()` every clipped value is counted under its signal's name.
Every block also takes a leading batch axis (arrays [..., n]): samples never interact, so a batch
computes exactly what the samples would one by one.

Blocks (rtl/): EventRouter (`route_events`), EventAccumulator (`accumulate_gates`, with the sigmoid
table `sigmoid_table`) and InfluenceUpdate (`influence_step`). Their docstrings give the arithmetic.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections import Counter
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field, fields

import numpy as np

from golden.errors import UserError


class FixedPointRangeError(UserError):
    """A value does not fit the fixed-point format of its signal."""


@dataclass(frozen=True)
class Fmt:
    """Signed fixed-point format Q(width, frac): integer q means q * 2^-frac."""

    width: int
    frac: int

    @property
    def min(self) -> int:
        return -(1 << (self.width - 1))

    @property
    def max(self) -> int:
        return (1 << (self.width - 1)) - 1

    @property
    def lsb(self) -> float:
        return 2.0**-self.frac

    def to_float(self, q: np.ndarray) -> np.ndarray:
        return np.asarray(q, dtype=np.float64) * self.lsb

    def __str__(self) -> str:
        return f"Q({self.width},{self.frac})"


def round_shift(q: np.ndarray, shift: int) -> np.ndarray:
    """round(q, s) = floor((q + 2^(s-1)) / 2^s), round half up; exact integers (int64 or object)."""
    if shift == 0:
        return q
    out = np.add(q, 1 << (shift - 1))  # a new array: the shift goes in place
    return np.right_shift(out, shift, out=out) if isinstance(out, np.ndarray) else out >> shift


_SATURATIONS: ContextVar[Counter | None] = ContextVar("saturations", default=None)


@contextlib.contextmanager
def counting_saturations() -> Iterator[Counter]:
    """Within the block, every `saturate` adds the number of values it clipped to counter[signal]."""
    counter: Counter = Counter()
    token = _SATURATIONS.set(counter)
    try:
        yield counter
    finally:
        _SATURATIONS.reset(token)


def saturate(q: np.ndarray, fmt: Fmt, signal: str) -> np.ndarray:
    """saturate(q, fmt) = min(max(q, fmt.min), fmt.max), counting the clipped values of `signal`."""
    q = np.asarray(q)
    if q.size == 0 or (q.min() >= fmt.min and q.max() <= fmt.max):
        return q
    out = np.clip(q, fmt.min, fmt.max)
    counter = _SATURATIONS.get()
    if counter is not None:
        counter[signal] += int(np.count_nonzero(out != q))
    return out


def exact_matmul(a: np.ndarray, b: np.ndarray, a_width: int, b_width: int) -> np.ndarray:
    """a @ b for int64 arrays whose entries are signed words of a_width and b_width bits, exactly.

    Each of the k terms of an output is at most 2^(a_width - 1) 2^(b_width - 1) in magnitude, so
    every partial sum is below 2^(a_width + b_width - 2 + bits(k + 1)). When that is at most 2^53,
    float64 holds every operand, product and partial sum exactly, in whatever order (and with
    whatever fused multiply-adds) the BLAS library adds them, and the product runs there: the same
    integers, several times faster than numpy's integer loop. Wider words take the int64 path."""
    if a_width + b_width - 2 + bits_for(a.shape[-1] + 1) <= 53:
        return (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    return a @ b


def bits_for(count: int) -> int:
    """Bits of an unsigned index that can hold values 0 .. count - 1 (at least 1)."""
    return max(1, math.ceil(math.log2(max(count, 2))))


def to_fixed(name: str, values: np.ndarray, fmt: Fmt) -> np.ndarray:
    """Float -> int64 in fmt, rounding half up; values outside fmt's range raise, naming the signal."""
    v = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(v)):
        raise FixedPointRangeError(f"{name}: non-finite values cannot be converted to {fmt}")
    q = np.floor(v * 2.0**fmt.frac + 0.5)
    if q.size and (q.max() > fmt.max or q.min() < fmt.min):
        worst = float(v.flat[np.argmax(np.abs(v))])
        raise FixedPointRangeError(
            f"{name}: value {worst:.6g} does not fit {fmt} (range [{fmt.min * fmt.lsb:.6g}, {fmt.max * fmt.lsb:.6g}]);"
            f" widen the format's integer part"
        )
    return q.astype(np.int64)


@dataclass(frozen=True)
class FixedPointConfig:
    """Word formats of every datapath signal. The defaults are the project's hardware formats.

    state:     c, y and the gated event value r * y                      Q(16, 11), range +-16
    weight:    recurrent weights V_u, V_r, V_z                           Q(16, 12), range +-8
    pre:       gate pre-activations and their input part W x + b         Q(16, 11), range +-16
    gate:      the reset gate r from the sigmoid table                   Q(16, 14)
    lut_bits:  index bits of the sigmoid table (it covers pre's range)   10 -> 1024 entries
    coef:      decay (1 - u), G entries and the products G[k, l] d_l      Q(18, 14), range +-8
    deriv:     derivative factors d                                       Q(18, 14)
    influence: entries of M and Mbar                                      Q(24, 16), range +-128
    const:     the cell unit's constants gamma and gamma / epsilon          Q(18, 12), range +-32
    credit:    the loss credit dL/dc (readout error times w_out)             Q(18, 14), range +-8
    grad:      gradients (a batch's mean) and the momentum of every parameter Q(32, 24), range +-128
    master:    the trained parameters as the update rule keeps them           Q(24, 20), range +-8

    The gate format also holds u and z (the sigmoid and tanh tables, golden.fixed_cell); the blocks
    of rtl/ use neither const nor the training formats (golden.fixed_train). The forward words of
    the parameters (weight for W, V and w_out, pre for the biases) are rounded from master.
    """

    state: Fmt = field(default=Fmt(16, 11))
    weight: Fmt = field(default=Fmt(16, 12))
    pre: Fmt = field(default=Fmt(16, 11))
    gate: Fmt = field(default=Fmt(16, 14))
    lut_bits: int = 10
    coef: Fmt = field(default=Fmt(18, 14))
    deriv: Fmt = field(default=Fmt(18, 14))
    influence: Fmt = field(default=Fmt(24, 16))
    const: Fmt = field(default=Fmt(18, 12))
    credit: Fmt = field(default=Fmt(18, 14))
    grad: Fmt = field(default=Fmt(32, 24))
    master: Fmt = field(default=Fmt(24, 20))

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Fmt):
                if value.width < 2 or value.width > 32:
                    raise UserError(f"fixed-point format {f.name}: width {value.width}, expected 2..32")
                if value.frac < 0 or value.frac >= value.width:
                    raise UserError(
                        f"fixed-point format {f.name}: frac {value.frac}, expected 0..{value.width - 1} "
                        f"(a sign bit and at least one more)"
                    )
        if not 1 <= self.lut_bits <= self.pre.width:
            raise UserError(f"fixed-point lut_bits: {self.lut_bits}, expected 1..{self.pre.width} (pre's width)")
        if self.state.frac + self.weight.frac < self.pre.frac:
            raise UserError("fixed-point formats: pre.frac must not exceed weight.frac + state.frac")

    def forward_acc_width(self, n: int) -> int:
        """Accumulator of the gate accumulation: n products weight x state plus the input part."""
        return self.weight.width + self.state.width + bits_for(n + 2) + 1

    def influence_acc_width(self, n: int) -> int:
        """Accumulator of the influence update: up to n + 1 products coef x influence plus Mbar."""
        return self.coef.width + self.influence.width + bits_for(n + 3) + 1

    def gradient_acc_width(self, n, batch: int, steps: int):
        """Exact accumulator of sum_t M_t^T credit_t over a batch (golden.fixed_step): one product
        influence x credit per unit, sample and step, summed."""
        terms = np.asarray(n, dtype=np.int64) * batch * steps
        return self.influence.width + self.credit.width - 1 + np.ceil(np.log2(terms + 1)).astype(np.int64)

    @classmethod
    def from_dict(cls, data: dict) -> "FixedPointConfig":
        """The inverse of to_dict; formats a description does not name keep their defaults (so a
        description written before a format was added still reads as the configuration it was)."""
        known = {f.name: f for f in fields(cls)}
        values = {}
        for name, value in data.items():
            if name not in known:
                raise UserError(f"fixed-point configuration: unknown signal {name!r}")
            values[name] = Fmt(value["width"], value["frac"]) if isinstance(value, dict) else value
        return cls(**values)

    def to_dict(self) -> dict:
        """JSON-ready description (what `python -m rtl verilog` writes beside the Verilog)."""
        out: dict = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = {"width": value.width, "frac": value.frac} if isinstance(value, Fmt) else value
        return out


DEFAULT = FixedPointConfig()


def fixed_point(options: list[str]) -> FixedPointConfig:
    """FixedPointConfig with the --format overrides applied (errors name the option and the value)."""
    known = {f.name for f in fields(FixedPointConfig)}
    changes: dict = {}
    for option in options:
        name, _, value = option.partition("=")
        if name not in known:
            raise UserError(
                f"--format: unknown signal {name!r} in {option!r}; expected one of {', '.join(sorted(known))}"
            )
        try:
            parts = [int(v) for v in value.split(",")]
        except ValueError:
            parts = []
        if name == "lut_bits":
            if len(parts) != 1:
                raise UserError(f"--format: {option!r}; expected lut_bits=<bits>")
            changes[name] = parts[0]
        else:
            if len(parts) != 2:
                raise UserError(f"--format: {option!r}; expected {name}=<width>,<frac>")
            changes[name] = Fmt(*parts)
    return FixedPointConfig(**changes)


def format_label(fp: FixedPointConfig) -> str:
    """The formats as the --format options that make them from the defaults ("default" for none);
    fixed_point(label.split()) gives fp back."""
    changed = []
    for f in fields(FixedPointConfig):
        value, default = getattr(fp, f.name), getattr(DEFAULT, f.name)
        if value != default:
            changed.append(f"{f.name}={value}" if f.name == "lut_bits" else f"{f.name}={value.width},{value.frac}")
    return " ".join(changed) or "default"


def format_from_label(label: str) -> FixedPointConfig:
    return DEFAULT if label == "default" else fixed_point(label.split())


# --------------------------------------------------------------------------------------------------
# EventRouter


def route_events(y: np.ndarray, lanes: int) -> list[list[tuple[int, int]]]:
    """Events of one step's output vector y (integers): lane l carries the units k = l, l + L, l + 2L,
    ... with y_k != 0, as (k, y_k) in ascending k. Each lane then sends its end-of-step marker."""
    y = np.asarray(y)
    return [[(int(k), int(y[k])) for k in range(lane, len(y), lanes) if y[k] != 0] for lane in range(lanes)]


# --------------------------------------------------------------------------------------------------
# EventAccumulator (EGRU gate pre-activations, paper form r * y inside V_z)


def round_to(acc: np.ndarray, frac: int, fmt: Fmt, signal: str) -> np.ndarray:
    """An exact accumulator at 2^-frac as a word of fmt: round(acc, frac - fmt.frac) (or shifted up
    when fmt is finer), then saturated (counted under `signal`): the contract's one rounding."""
    acc = np.asarray(acc)
    return saturate(round_shift(acc, frac - fmt.frac) if frac >= fmt.frac else acc << (fmt.frac - frac), fmt, signal)


def function_table(name: str, function, cfg: FixedPointConfig = DEFAULT) -> np.ndarray:
    """A table of `function` in cfg.gate, indexed by the top lut_bits of a pre-activation p (in
    cfg.pre): entry i (two's complement index) holds to_fixed(function((i + 1/2) 2^s lsb_pre)),
    s = pre.width - lut_bits, so the table value of p is the function at the centre of p's bucket."""
    shift = cfg.pre.width - cfg.lut_bits
    index = np.arange(1 << cfg.lut_bits)
    signed = np.where(index >= 1 << (cfg.lut_bits - 1), index - (1 << cfg.lut_bits), index)
    table = to_fixed(name, function((signed + 0.5) * 2.0**shift * cfg.pre.lsb), cfg.gate)
    table.setflags(write=False)  # shared by every call (cached per format)
    return table


def table_index(pre: np.ndarray, cfg: FixedPointConfig = DEFAULT) -> np.ndarray:
    """The entry of a function table for pre-activations in cfg.pre: pre >> s mod 2^lut_bits."""
    return (np.asarray(pre) >> (cfg.pre.width - cfg.lut_bits)) & ((1 << cfg.lut_bits) - 1)


@functools.lru_cache(maxsize=8)
def sigmoid_table(cfg: FixedPointConfig = DEFAULT) -> np.ndarray:
    """The sigmoid as a function table (see function_table)."""
    return function_table("sigmoid table", lambda v: 1.0 / (1.0 + np.exp(-v)), cfg)


def sigmoid_lookup(pre: np.ndarray, cfg: FixedPointConfig = DEFAULT) -> np.ndarray:
    """r = sigmoid_table[table_index(pre)] for pre-activations in cfg.pre."""
    return sigmoid_table(cfg)[table_index(pre, cfg)]


@dataclass
class GateSums:
    """Gate pre-activations of one step (cfg.pre) and the gated event values r_j y_j (cfg.state)."""

    u: np.ndarray
    r: np.ndarray
    z: np.ndarray
    r_gate: np.ndarray  # sigmoid-table r_j at each unit (cfg.gate)
    ry: np.ndarray  # r_j y_j rounded to cfg.state, zero for silent units


def accumulate_gates(
    y: np.ndarray,
    V: dict[str, np.ndarray],
    input_part: dict[str, np.ndarray],
    cfg: FixedPointConfig = DEFAULT,
) -> GateSums:
    """Event-driven gate pre-activations of the EGRU (paper form), all integers:

        pass 1:  A_g[k] = input_g[k] 2^(w+s-p) + sum_{j: y_j != 0} V_g[k, j] y_j        g in {u, r}
                 a_g = saturate(round(A_g, w + s - p), pre)
        between: r_j = sigmoid_table(a_r[j]),  ry_j = saturate(round(r_j y_j, gate.frac), state)
        pass 2:  A_z[k] = input_z[k] 2^(w+s-p) + sum_{j: y_j != 0} V_z[k, j] ry_j,   a_z likewise

    (w, s, p = the weight, state and pre frac bits). V holds the masked weights (cfg.weight),
    input_part the input contributions W_g x + b_g (cfg.pre), y the previous output (cfg.state).
    Silent units add exact zeros, so the sum is formed here over all j (y and input_part may carry
    a leading batch axis).
    """
    shift = cfg.weight.frac + cfg.state.frac - cfg.pre.frac
    y = np.asarray(y, dtype=np.int64)

    def pre(g: str, operand: np.ndarray) -> np.ndarray:
        acc = (np.asarray(input_part[g], dtype=np.int64) << shift) + operand @ np.asarray(V[g], dtype=np.int64).T
        return round_to(acc, cfg.weight.frac + cfg.state.frac, cfg.pre, f"a_{g}")

    a_u, a_r = pre("u", y), pre("r", y)
    r_gate = sigmoid_lookup(a_r, cfg)
    ry = np.where(y != 0, round_to(r_gate * y, cfg.gate.frac + cfg.state.frac, cfg.state, "ry"), 0)
    return GateSums(u=a_u, r=a_r, z=pre("z", ry), r_gate=r_gate, ry=ry)


# --------------------------------------------------------------------------------------------------
# InfluenceUpdate (contract 4)


def influence_coefficients(G_cols: np.ndarray, d_src: np.ndarray, cfg: FixedPointConfig = DEFAULT) -> np.ndarray:
    """coef[k, i] = saturate(round(G[k, l_i] d_{l_i}, deriv.frac), coef) for the active sources l_i."""
    prod = np.asarray(G_cols, dtype=np.int64) * np.asarray(d_src, dtype=np.int64)[..., None, :]
    return round_to(prod, cfg.coef.frac + cfg.deriv.frac, cfg.coef, "G d")


def influence_step(
    M_prev: np.ndarray,
    decay: np.ndarray | None,
    sources: np.ndarray,
    d_src: np.ndarray,
    G_cols: np.ndarray,
    Mbar: np.ndarray,
    rows: np.ndarray,
    cfg: FixedPointConfig = DEFAULT,
) -> np.ndarray:
    """One step of the influence update over compacted columns, all integers:

        A[k, q] = decay_k M_{t-1}[k, q] + sum_i coef[k, i] M_{t-1}[l_i, q] + Mbar[k, q] 2^c
        M_t[k, q] = saturate(round(A[k, q], c), influence)     for rows k with rows[k]; 0 elsewhere

    (c = coef.frac). decay [n] in cfg.coef or None (threshold RNN: no decay term); sources: the
    active source units l_i (d_{t-1, l} != 0) in ascending order; d_src their d (cfg.deriv); G_cols
    [n, len(sources)] the columns G_t[:, l_i] (cfg.coef); Mbar [n, P] and M [n, P] in cfg.influence.
    With a leading batch axis, sources index every sample's units alike: a batch passes all units
    and d = 0 where a sample's unit is silent, which adds exact zeros.
    """
    M_prev = np.asarray(M_prev, dtype=np.int64)
    sources = np.asarray(sources)
    n = M_prev.shape[-2]
    acc = np.asarray(Mbar, dtype=np.int64) << cfg.coef.frac  # a new array: the sums below go in place
    if len(sources) == n and np.array_equal(sources, np.arange(n)):
        # every unit a source (a batch): decay and coefficients are one matrix J, read in one product
        J = influence_coefficients(G_cols, d_src, cfg)
        if decay is not None:
            J[..., np.arange(n), np.arange(n)] += np.asarray(decay, dtype=np.int64)
        acc += exact_matmul(J, M_prev, cfg.coef.width + 1, cfg.influence.width)
    else:
        if decay is not None:
            acc += np.asarray(decay, dtype=np.int64)[..., None] * M_prev
        if len(sources):
            coef = influence_coefficients(G_cols, d_src, cfg)
            acc += exact_matmul(coef, M_prev[..., sources, :], cfg.coef.width, cfg.influence.width)
    out = round_to(acc, cfg.coef.frac + cfg.influence.frac, cfg.influence, "M")
    rows = np.asarray(rows, dtype=bool)
    return out if rows.all() else np.where(rows[..., None], out, 0)
