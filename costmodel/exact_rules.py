"""Exact accounting of BPTT and of the approximate learning rules (SnAp-n, e-prop) from masks and
per-step masks.

Derived from the cells' equations (DESIGN.md contract 7), independently of golden's implementation.
Structure of J_t = diag(decay) + G diag(src) and of the immediate influence, per cell:

    EGRU, GRU   G's pattern  V_u | V_z | (V_z V_r) [| I],   S_J = G | I
                S^P: the identity for the u- and z-gate blocks, V_z for the r-gate blocks
                (A_r = diag(coef_z) V_z diag(y' sr)), G | I for the EGRU's theta
    trnn        S_J = V (J = diag(d) V); every S^P the identity

(V_* meaning the kept entries). P_1[:, (P, m, j)] = S^P[:, m] for each kept column, P_{i+1} = P_i |
S_J P_i. Counts per sample and step, t = 0 having no previous influence matrix:

    influence (SnAp-n)  t > 0: sum over entries (k, w) of P of [S_J[k, k]]
                               + sum_l [src_{t,l} != 0] Q_l,  Q_l = sum_w P[l, w] #{k != l : P[k, w], S_J[k, l]}
                        (src = d_{t-1} for the EGRU, 1 for the GRU and the threshold RNN)
    influence (e-prop)  t > 0: |P_1| (one product with J's diagonal per entry)
    vectorised          t > 0: sum_w |P[:, w]|^2 (SnAp-n: each column group's rows by rows), |P_1| (e-prop)
    immediate           |P_1| (every entry of M̄_t's pattern is formed)
    gradient, stored    |P| every step
    forward             as sparse RTRL (event-driven)

BPTT by the adjoint recursion (golden.bptt.run_bptt), per sample and step:

    activation_words    record words + n_in: EGRU and EvNN 8 n, GRU 5 n, threshold RNN 4 n
    forward             as dense RTRL (BPTT's forward pass is the dense one)
    backward_macs       g n^2 + p_kept: one transposed product per recurrent matrix (g = 3 gated, 1 for
                        the threshold RNN) and one outer-product MAC per kept parameter
"""

from __future__ import annotations

import re

import numpy as np

from costmodel.errors import UserError
from costmodel.exact import CellShape, exact_counts

RULES = ("snap1", "snap2", "eprop")
RECORD_WORDS = {"egru": 8, "gru": 5, "trnn": 4, "evnn": 8}  # n-vectors per step in the cell's record


def rule_order(rule: str) -> int:
    """n of SnAp-n (snap<n>); e-prop's pattern is P_1."""
    if rule == "eprop":
        return 1
    match = re.fullmatch(r"snap([1-9][0-9]*)", rule)
    if not match:
        raise UserError(f"rule: unknown rule {rule!r}; expected one of {', '.join(RULES)} (or snap<n>)")
    return int(match.group(1))


def _mask(masks: dict[str, np.ndarray], name: str, n: int) -> np.ndarray:
    return np.asarray(masks[name]).astype(bool) if name in masks else np.ones((n, n), bool)


def _structure(shape: CellShape, masks: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(S_J [n, n], {block: S^P's pattern [n, n]}) as the module doc states them."""
    n, eye = shape.n, np.eye(shape.n, dtype=bool)
    if shape.cell == "trnn":
        return _mask(masks, "V", n), {name: eye for name, *_ in shape.blocks()}
    V_u, V_r, V_z = (_mask(masks, f"V_{g}", n) for g in "urz")
    if shape.cell == "evnn":  # r multiplies after V_z's product: no V_z V_r term, every gate on its own unit
        G = V_u | V_z | V_r | eye
        return G, {name: (G if name == "theta" else eye) for name, *_ in shape.blocks()}
    G = V_u | V_z | ((V_z.astype(np.int64) @ V_r.astype(np.int64)) > 0) | eye
    sens = {name: (V_z if name.endswith("_r") else G if name == "theta" else eye) for name, *_ in shape.blocks()}
    return G, sens


def rule_pattern(cell: str, masks: dict[str, np.ndarray], n: int, n_in: int, order: int) -> dict[str, np.ndarray]:
    """P_order over the kept columns: {"P": bool [n, p_kept], "S_J": [n, n]}."""
    shape = CellShape(cell, n, n_in)
    S_J, sens = _structure(shape, masks)
    columns = []
    for name, rows, cols, maskable, _ in shape.blocks():
        kept = _mask(masks, name, n) if maskable else np.ones((rows, cols), bool)
        columns.append(sens[name][:, np.nonzero(kept)[0]])
    P = np.concatenate(columns, axis=1)
    S = S_J.astype(np.int64)
    for _ in range(order - 1):
        P = P | ((S @ P.astype(np.int64)) > 0)
    return {"P": P, "S_J": S_J}


def rule_counts(
    cell: str,
    rule: str,
    masks: dict[str, np.ndarray],
    x_nonzero: np.ndarray,
    out_nonzero: np.ndarray,
    d_nonzero: np.ndarray,
) -> dict[str, np.ndarray]:
    """Predicted golden counters of an approximate rule, {field: [T, B]} (arguments as exact_counts)."""
    order = rule_order(rule)
    T, B, n_in = x_nonzero.shape
    n = out_nonzero.shape[2]
    pat = rule_pattern(cell, masks, n, n_in, order)
    P1 = rule_pattern(cell, masks, n, n_in, 1)["P"]
    P, S_J = pat["P"].astype(np.int64), pat["S_J"]
    later = (np.arange(T) > 0)[:, None] * np.ones((T, B), dtype=np.int64)
    size = int(P.sum())
    if rule == "eprop":
        influence = vectorised = later * size
    else:
        off = (S_J & ~np.eye(n, dtype=bool)).astype(np.int64)
        Q = (P * (off.T @ P)).sum(1)
        diagonal = int((P * S_J.diagonal()[:, None]).sum())
        prev_d = np.concatenate([np.zeros((1, B, n), bool), d_nonzero[:-1]])
        src = prev_d if cell in ("egru", "evnn") else np.ones_like(prev_d)
        influence = later * (diagonal + src.astype(np.int64) @ Q)
        vectorised = later * int((P.sum(0) ** 2).sum())
    sparse = exact_counts(cell, masks, x_nonzero, out_nonzero, d_nonzero)["sparse"]
    ones = np.ones((T, B), dtype=np.int64)
    return {
        "forward_macs": sparse["forward_macs"],
        "effective_forward_macs": sparse["effective_forward_macs"],
        "influence_macs": influence,
        "influence_macs_vectorised": vectorised,
        "immediate_macs": int(P1.sum()) * ones,
        "gradient_macs": size * ones,
        "influence_stored": size * ones,
    }


def bptt_counts(
    cell: str, masks: dict[str, np.ndarray], x_nonzero: np.ndarray, out_nonzero: np.ndarray, d_nonzero: np.ndarray
) -> dict[str, np.ndarray]:
    """Predicted counters of the adjoint BPTT (module doc), {field: [T, B]}; arguments as exact_counts."""
    T, B, n_in = x_nonzero.shape
    n = out_nonzero.shape[2]
    shape = CellShape(cell, n, n_in)
    blocks = shape.blocks()
    kept = sum(
        int(_mask(masks, name, n).sum()) if maskable else rows * cols for name, rows, cols, maskable, _ in blocks
    )
    dense = exact_counts(cell, masks, x_nonzero, out_nonzero, d_nonzero)["dense"]
    ones = np.ones((T, B), dtype=np.int64)
    return {
        "forward_macs": dense["forward_macs"],
        "effective_forward_macs": dense["effective_forward_macs"],
        "backward_macs": (shape.gates * n * n + kept) * ones,
        "activation_words": (RECORD_WORDS[cell] * n + n_in) * ones,
    }


def pattern_table(cell: str, ns: list[int], omegas: list[float], n_in: int = 2, seed: int = 0) -> str:
    """|P_1| and |P_2| as fractions of the n p_kept entries of exact sparse RTRL, for golden's seeded
    masks (golden.params.make_masks) at each n and omega: how SnAp's patterns thin with n and omega."""
    from golden.config import CellConfig
    from golden.params import make_masks

    lines = ["| n | " + " | ".join(f"ω = {w:g}: SnAp-1 / SnAp-2" for w in omegas) + " |"]
    lines.append("|---|" + "---|" * len(omegas))
    for n in ns:
        cells = []
        for omega in omegas:
            masks = {
                k: v.numpy()
                for k, v in make_masks(CellConfig(cell=cell, n=n, n_in=n_in, omega=omega, seed=seed)).items()
            }
            P1, P2 = (rule_pattern(cell, masks, n, n_in, order)["P"] for order in (1, 2))
            full = P1.size
            cells.append(f"{P1.sum() / full:.3f} / {P2.sum() / full:.3f}")
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
