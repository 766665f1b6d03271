"""Integer reference of the EGRU's cell unit (DESIGN.md contract 6, forward and derivatives): one
step of one sample, every quantity an integer in its format from `golden.fixedpoint`, rounded and
saturated once. numpy only. The gate pre-activations come from the gate accumulation's reference
(`fixedpoint.accumulate_gates`, reused as the RTL block computes them); this module adds what the
cell unit does with them:

    u = sigmoid_table(a_u),  r = sigmoid_table(a_r),  z = tanh_table(a_z)          (gate format, g)
    c = u z + (1 - u) q - y'        q = c' (reset "paper"), c' - theta o' ("subtractive": no - y')
        formed exactly at 2^-2g (the gate format is at least as fine as the state's, g >= s) and
        rounded once to the state format (s)
    o = [c - theta > 0],   y = c o                                                  (state)
    H' = max(0, gamma - (gamma / epsilon) |c - theta|)                              (deriv)
        gamma and gamma / epsilon are constants in the `const` format
    d = o + c H'                                                                    (deriv)
    su = u (1 - u),  sr = r (1 - r),  dz = 1 - z^2                                  (coef)

The tables are indexed like the sigmoid table: by the top lut_bits of the pre-activation, holding
the function's value at the centre of the bucket. With the default formats a bucket is 2^-5 wide,
so the sigmoid is within 2^-8 of the true function's value (slope <= 1/4, half a bucket away) and
tanh within 2^-6 (slope <= 1), plus half a gate LSB of rounding; the cell's bounds follow from these
(tests/test_fixed_cell.py).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from golden.fixedpoint import (
    DEFAULT,
    FixedPointConfig,
    accumulate_gates,
    function_table,
    round_to,
    sigmoid_lookup,
    table_index,
    to_fixed,
)


@functools.lru_cache(maxsize=8)
def tanh_table(cfg: FixedPointConfig = DEFAULT) -> np.ndarray:
    """tanh as a function table in cfg.gate (`fixedpoint.function_table`, as the sigmoid's)."""
    return function_table("tanh table", np.tanh, cfg)


def tanh_lookup(pre: np.ndarray, cfg: FixedPointConfig = DEFAULT) -> np.ndarray:
    """z = tanh_table[table_index(pre)] for pre-activations in cfg.pre."""
    return tanh_table(cfg)[table_index(pre, cfg)]


@dataclass(frozen=True)
class PseudoDerivative:
    """gamma and gamma / epsilon as integers in cfg.const (refused, naming them, if they do not fit)."""

    gamma: int
    slope: int

    @classmethod
    def of(cls, gamma: float, epsilon: float, cfg: FixedPointConfig = DEFAULT) -> "PseudoDerivative":
        return cls(
            int(to_fixed("gamma", gamma, cfg.const)), int(to_fixed("gamma / epsilon", gamma / epsilon, cfg.const))
        )


@dataclass
class CellStep:
    """Everything the cell unit produces in one step (integers; formats in the module docstring)."""

    a_u: np.ndarray
    a_r: np.ndarray
    a_z: np.ndarray
    u: np.ndarray
    r: np.ndarray
    z: np.ndarray
    ry: np.ndarray
    c: np.ndarray
    o: np.ndarray
    y: np.ndarray
    dH: np.ndarray
    d: np.ndarray
    su: np.ndarray
    sr: np.ndarray
    dz: np.ndarray


def sigmoid_slope(s: np.ndarray, signal: str, cfg: FixedPointConfig = DEFAULT) -> np.ndarray:
    """s (1 - s) of a sigmoid table's output (cfg.gate), rounded once to cfg.coef."""
    g = cfg.gate.frac
    s = np.asarray(s, dtype=np.int64)
    return round_to(s * ((1 << g) - s), 2 * g, cfg.coef, signal)


def cell_step(
    prev_c: np.ndarray,
    prev_y: np.ndarray,
    prev_o: np.ndarray,
    V: dict[str, np.ndarray],
    input_part: dict[str, np.ndarray],
    theta: np.ndarray,
    h: PseudoDerivative,
    subtractive: bool = False,
    cfg: FixedPointConfig = DEFAULT,
) -> CellStep:
    """One step of the EGRU cell unit for one sample (see the module docstring). prev_c, prev_y and
    theta in cfg.state, prev_o in {0, 1}; V the masked recurrent weights (cfg.weight) and input_part
    W_g x + b_g (cfg.pre) as `fixedpoint.accumulate_gates` takes them. The state arrays may carry a
    leading batch axis ([..., n]); every operation is per unit."""
    assert cfg.gate.frac >= cfg.state.frac, "the gate format must be at least as fine as the state's"
    g, s = cfg.gate.frac, cfg.state.frac
    sums = accumulate_gates(prev_y, V, input_part, cfg)
    u = sigmoid_lookup(sums.u, cfg)
    z = tanh_lookup(sums.z, cfg)
    prev_c = np.asarray(prev_c, dtype=np.int64)
    prev_y = np.asarray(prev_y, dtype=np.int64)
    theta = np.asarray(theta, dtype=np.int64)
    # c at 2^-(2g): u z exactly, (1 - u) q at 2^-(g + s) shifted up by g - s, y' at 2^-s up by 2g - s
    if subtractive:
        carried = prev_c - theta * np.asarray(prev_o, dtype=np.int64)
        acc = u * z + (((1 << g) - u) * carried << (g - s))
    else:
        acc = u * z + (((1 << g) - u) * prev_c << (g - s)) - (prev_y << (2 * g - s))
    c = round_to(acc, 2 * g, cfg.state, "c")
    v = c - theta
    o = (v > 0).astype(np.int64)
    y = c * o
    # H' at 2^-(k + s): gamma 2^s - slope |v|, clipped at 0 (k = const.frac)
    k, f = cfg.const.frac, cfg.deriv.frac
    dH_acc = np.maximum((h.gamma << s) - h.slope * np.abs(v), 0)
    dH = round_to(dH_acc, k + s, cfg.deriv, "H'")
    d = round_to((o << (f + s)) + c * dH, f + s, cfg.deriv, "d")
    return CellStep(
        a_u=sums.u,
        a_r=sums.r,
        a_z=sums.z,
        u=u,
        r=sums.r_gate,
        z=z,
        ry=sums.ry,
        c=c,
        o=o,
        y=y,
        dH=dH,
        d=d,
        su=sigmoid_slope(u, "su", cfg),
        sr=sigmoid_slope(sums.r_gate, "sr", cfg),
        dz=round_to((1 << (2 * g)) - z * z, 2 * g, cfg.coef, "dz"),
    )
