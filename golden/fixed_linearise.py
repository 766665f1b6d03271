"""Integer reference of the EGRU's linearisation unit (DESIGN.md contract 6): from one step of the
cell unit (golden.fixed_cell) and the previous step's record, the inputs of the influence update
(contract 4: the decay, J's columns G[:, l] for the active sources l, and Mbar_t over the compacted
columns). numpy only. The float model's derivation is `golden.cells.GatedCell`'s docstring; with a
prime for t - 1, q the carried state (c', or c' - theta o' for the subtractive reset):

    coef_u = (z - q) su,   coef_z = u dz                                      (coef; d c / d a_u, d a_z)
    ysr_m = y'_m sr_m                                                          (coef; one per source)
    A_r[k, m] = coef_z[k] V_z[k, m] ysr_m                                      (coef; d c_k / d a_r,m)
    G[k, l] = coef_u[k] V_u[k, l] + coef_z[k] V_z[k, l] r_l + sum_m A_r[k, m] V_r[m, l] - [k = l]
              (no - [k = l] for the subtractive reset)       (coef, active l only: d'_l != 0; else 0)
    decay = 1 - u,  or (1 - u)(1 - theta H'_{t-1}) for the subtractive reset   (coef)
    Mbar[k, (P, m, j)] = S^P[k, m] operand^P_j                                 (influence)
        W_g, V_g, b_g: S = diag(coef_u), A_r, diag(coef_z) for g = u, r, z; operands x, y' (r y' for
        V_z, the gated events the forward pass used), 1
        theta: S[k, l] = G[k, l] (-c'_l H'_{t-1,l}) [+ [k = l] (1 - u_k)(theta_k H'_{t-1,k} - o'_k)]

Each quantity is formed exactly from integers (products at the sum of their operands' fraction
bits) and rounded half up and saturated once, to the format named; G, coef_u, coef_z, ysr and A_r
enter later products as the rounded words the hardware holds (ysr keeps A_r's product to three
words, 52 bits at the default widths). Inputs x are words in the state format. Every array may
carry a leading batch axis ([..., n], [..., n, P]).
The compacted columns are the kept parameters in the float model's order (blocks W_u W_r W_z V_u
V_r V_z b_u b_r b_z theta, each row-major, masked recurrent weights left out).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from golden.fixed_cell import CellStep
from golden.fixedpoint import DEFAULT, FixedPointConfig, round_to

BLOCKS = ("W_u", "W_r", "W_z", "V_u", "V_r", "V_z", "b_u", "b_r", "b_z", "theta")


@dataclass(frozen=True)
class Column:
    """One parameter block's kept entries in the compacted layout: rows m, columns j, from `start`."""

    name: str
    m: np.ndarray
    j: np.ndarray
    start: int

    @property
    def stop(self) -> int:
        return self.start + len(self.m)


def compacted_layout(n: int, n_in: int, masks: dict[str, np.ndarray]) -> list[Column]:
    """The kept parameters of the EGRU in column order (masks: 0/1 [n, n] for V_u, V_r, V_z)."""
    shapes = {"W": (n, n_in), "V": (n, n), "b": (n, 1), "t": (n, 1)}
    out, start = [], 0
    for name in BLOCKS:
        keep = np.ones(shapes[name[0]], dtype=bool) if name not in masks else np.asarray(masks[name]).astype(bool)
        m, j = np.nonzero(keep)  # row-major, as the float model flattens
        out.append(Column(name, m, j, start))
        start += len(m)
    return out


@dataclass
class LinearStep:
    """The influence update's inputs for one step (integers) and the quantities behind them."""

    decay: np.ndarray  # [..., n] coef
    d_prev: np.ndarray  # [..., n] d_{t-1} (deriv): the sources are the units where it is non-zero
    G: np.ndarray  # [..., n, n] coef; column l is zero unless d_{t-1, l} != 0
    Mbar: np.ndarray  # [..., n, P] influence
    coef_u: np.ndarray  # [..., n] coef
    coef_z: np.ndarray  # [..., n] coef
    ysr: np.ndarray  # [..., n] coef
    A_r: np.ndarray  # [..., n, n] coef


def linearise(
    prev: CellStep | None,
    step: CellStep,
    x: np.ndarray,
    V: dict[str, np.ndarray],
    theta: np.ndarray,
    layout: list[Column],
    subtractive: bool = False,
    cfg: FixedPointConfig = DEFAULT,
) -> LinearStep:
    """One step of the linearisation unit (module docstring). prev is the cell unit's previous step
    (None at t = 1: c_0 = y_0 = o_0 = H'_0 = d_0 = 0); V the masked recurrent weights (cfg.weight)
    keyed by gate; x the input (cfg.state); theta (cfg.state)."""
    n = step.u.shape[-1]
    g, s, c, w, f = cfg.gate.frac, cfg.state.frac, cfg.coef.frac, cfg.weight.frac, cfg.deriv.frac
    zero = np.zeros_like(step.c)
    c_prev, y_prev, o_prev, dH_prev, d_prev = (zero,) * 5 if prev is None else (prev.c, prev.y, prev.o, prev.dH, prev.d)
    theta = np.asarray(theta, dtype=np.int64)
    V = {k: np.asarray(v, dtype=np.int64) for k, v in V.items()}
    carried = c_prev - theta * o_prev if subtractive else c_prev  # state format, exact
    coef_u = round_to((step.z - (carried << (g - s))) * step.su, g + c, cfg.coef, "coef_u")
    coef_z = round_to(step.u * step.dz, g + c, cfg.coef, "coef_z")
    ysr = round_to(y_prev * step.sr, s + c, cfg.coef, "ysr")
    A_r = round_to(coef_z[..., :, None] * V["z"] * ysr[..., None, :], c + w + c, cfg.coef, "A_r")
    one_u = (1 << g) - step.u
    if subtractive:
        decay = round_to(one_u * ((1 << (s + f)) - theta * dH_prev), g + s + f, cfg.coef, "decay")
    else:
        decay = round_to(one_u, g, cfg.coef, "decay")
    active = (d_prev != 0)[..., None, :]
    # G at 2^-(c + w + g): the r_l term carries the gate's fraction bits, the others are shifted up
    G_acc = (coef_u[..., :, None] * V["u"] + A_r @ V["r"]) << g
    G_acc += coef_z[..., :, None] * V["z"] * step.r[..., None, :]
    if not subtractive:
        G_acc -= np.eye(n, dtype=np.int64) << (c + w + g)
    G = round_to(np.where(active, G_acc, 0), c + w + g, cfg.coef, "G")
    mbar = np.zeros(step.c.shape + (layout[-1].stop,), dtype=np.int64)
    operands = {"W": (np.asarray(x, dtype=np.int64), s), "V": (y_prev, s), "b": (np.ones(1, dtype=np.int64), 0)}
    for col in layout:
        if col.name == "theta":
            continue
        kind, gate = col.name[0], col.name[-1]
        cols = np.arange(col.start, col.stop)
        operand, frac = (step.ry, s) if col.name == "V_z" else operands[kind]
        op = operand[..., col.j]
        if gate == "r":  # dense sensitivity: every row k
            mbar[..., :, cols] = round_to(A_r[..., :, col.m] * op[..., None, :], c + frac, cfg.influence, "Mbar")
        else:
            S = coef_u if gate == "u" else coef_z
            mbar[..., col.m, cols] = round_to(S[..., col.m] * op, c + frac, cfg.influence, "Mbar")
    theta_col = next(col for col in layout if col.name == "theta")
    # S_theta at 2^-(max(c, g) + s + f): G[k, l] (-c'_l H'_l) for the sources, plus the subtractive diagonal
    top = max(c, g)
    S_theta = (G * -(c_prev * dH_prev)[..., None, :]) << (top - c)
    if subtractive:
        diagonal = one_u * (theta * dH_prev - (o_prev << (s + f)))
        S_theta[..., np.arange(n), np.arange(n)] += diagonal << (top - g)
    mbar[..., :, theta_col.start : theta_col.stop] = round_to(S_theta, top + s + f, cfg.influence, "Mbar")
    return LinearStep(decay=decay, d_prev=d_prev, G=G, Mbar=mbar, coef_u=coef_u, coef_z=coef_z, ysr=ysr, A_r=A_r)
