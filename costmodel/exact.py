"""Exact per-cell accounting of the golden implementation, and its expectation under random masks.

Given a run's per-step masks (which inputs and outputs are non-zero, which derivative factors are
non-zero) and the parameter masks, `exact_counts` predicts, per step and per sample, what the golden
counters report (golden/counters.py), from the structure of each algorithm alone:

    forward (dense)    g n (n_in + n), g = 3 gates (EGRU, GRU) or 1 (threshold RNN)
    forward (sparse)   g n n_in + g n |events_{t-1}|          (event-driven recurrent products)
    effective forward  sum_g [ |x_t != 0| n + sum over events l of nnz(mask_g[:, l]) ]
    influence (dense)  n^2 p
    influence (sparse) EGRU, GRU: t = 0: 0; else n |S_t| p_kept + n, S_t = {l : d_{t-1,l} != 0}
                       (each row's decay costs one multiplication of its scale)
                       threshold RNN: |R_t| |S_t| p_kept, R_t = {k : d_{t,k} != 0}
    immediate          dense: sum of block sizes + (n - 1) x (sizes of blocks reaching every unit:
                       W_r, V_r, b_r and the EGRU's theta); sparse: kept entries of the blocks acting
                       on their own unit + n x kept entries of W_r, b_r, theta + n x kept entries
                       (m, l) of V_r whose source l was non-zero at t - 1
    gradient           n p (dense), n p_kept (sparse)
    stored             n p (dense); EGRU, GRU n p_kept; threshold RNN |R_t| p_kept (sparse)

`expected_counts` gives the same quantities in expectation when only mean densities are known:
events ~ Binomial(n, 1 - alpha), sources ~ Binomial(n, 1 - beta), independent across steps, the
first step with zero state. Table 1 assumes the threshold-RNN structure for every cell; the EGRU's
exact sparse influence cost is n^2 beta~ p_kept + n instead of beta~^2 n^2 p w~^2 because its
leak term (1 - u_t) keeps every row of M_t non-zero (DESIGN.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from costmodel.errors import UserError

FIELDS = (
    "forward_macs",
    "effective_forward_macs",
    "influence_macs",
    "immediate_macs",
    "gradient_macs",
    "influence_stored",
)
CELLS = ("egru", "trnn", "gru", "evnn")


@dataclass(frozen=True)
class CellShape:
    """The parameter blocks of a cell: (name, rows, cols, maskable, reaches every unit)."""

    cell: str
    n: int
    n_in: int

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise UserError(f"cell: unknown cell {self.cell!r}; expected one of {', '.join(CELLS)}")

    @property
    def gates(self) -> int:
        return 1 if self.cell == "trnn" else 3

    def blocks(self) -> list[tuple[str, int, int, bool, bool]]:
        n, m = self.n, self.n_in
        if self.cell == "trnn":
            return [
                ("W", n, m, False, False),
                ("V", n, n, True, False),
                ("b", n, 1, False, False),
                ("theta", n, 1, False, False),
            ]
        out = []
        evnn = self.cell == "evnn"  # EvNN's r multiplies after V_z's product: every gate acts on its own unit
        kinds = (("W", m), ("V", n), ("b", 1)) + ((("bh", 1),) if evnn else ())
        for kind, cols in kinds:
            for g in "urz":
                out.append((f"{kind}_{g}", n, cols, kind == "V", g == "r" and not evnn))
        if self.cell in ("egru", "evnn"):
            out.append(("theta", n, 1, False, True))
        return out

    def p_total(self) -> int:
        return sum(r * c for _, r, c, _, _ in self.blocks())


def _kept(shape: CellShape, masks: dict[str, np.ndarray]) -> dict[str, int]:
    kept = {}
    for name, rows, cols, maskable, _ in shape.blocks():
        if maskable and name in masks:
            kept[name] = int(np.asarray(masks[name]).astype(bool).sum())
        else:
            kept[name] = rows * cols
    return kept


def _immediate(shape: CellShape, kept: dict[str, int]) -> int:
    return sum(kept[name] * (shape.n if everywhere else 1) for name, _, _, _, everywhere in shape.blocks())


def exact_counts(
    cell: str, masks: dict[str, np.ndarray], x_nonzero: np.ndarray, out_nonzero: np.ndarray, d_nonzero: np.ndarray
) -> dict[str, dict[str, np.ndarray]]:
    """Predicted golden counters, {"dense": {field: [T, B]}, "sparse": {...}}.

    masks: 0/1 arrays of the masked blocks (1 = kept); x_nonzero [T, B, n_in], out_nonzero [T, B, n]
    (the cell's output: y, a or h), d_nonzero [T, B, n] (derivative factor d != 0), all boolean.
    """
    T, B, n_in = x_nonzero.shape
    n = out_nonzero.shape[2]
    shape = CellShape(cell, n, n_in)
    g = shape.gates
    p = shape.p_total()
    kept = _kept(shape, masks)
    p_kept = sum(kept.values())
    full_kept = {name: rows * cols for name, rows, cols, _, _ in shape.blocks()}
    ones = np.ones((T, B), dtype=np.int64)

    prev_out = np.concatenate([np.zeros((1, B, n), bool), out_nonzero[:-1]]).astype(np.int64)
    prev_d = np.concatenate([np.zeros((1, B, n), bool), d_nonzero[:-1]]).astype(np.int64)
    events = prev_out.sum(-1)
    x_count = x_nonzero.astype(np.int64).sum(-1)
    recurrent = [name for name, _, _, maskable, _ in shape.blocks() if maskable]
    effective = g * n * x_count
    for name in recurrent:
        column_kept = np.asarray(masks[name]).astype(np.int64).sum(0) if name in masks else np.full(n, n)
        effective = effective + prev_out @ column_kept

    sources = prev_d.sum(-1)
    if cell == "trnn":
        rows = d_nonzero.astype(np.int64).sum(-1)
        influence = rows * sources * p_kept
        stored = rows * p_kept
    else:
        if cell == "gru":
            sources = np.where(np.arange(T)[:, None] == 0, 0, n) * ones
        held = np.where(np.arange(T)[:, None] == 0, 0, n) * ones
        influence = n * sources * p_kept + held
        stored = n * p_kept * ones

    immediate_sparse = _immediate(shape, kept) * ones
    if cell in ("egru", "gru"):  # V_r's entries (m, l) form only where the previous output l is non-zero
        column_kept = np.asarray(masks["V_r"]).astype(np.int64).sum(0) if "V_r" in masks else np.full(n, n)
        immediate_sparse = immediate_sparse - n * kept["V_r"] + n * (prev_out @ column_kept)

    dense = {
        "forward_macs": g * n * (n_in + n) * ones,
        "effective_forward_macs": effective,
        "influence_macs": n * n * p * ones,
        "immediate_macs": _immediate(shape, full_kept) * ones,
        "gradient_macs": n * p * ones,
        "influence_stored": n * p * ones,
    }
    sparse = {
        "forward_macs": g * n * n_in + g * n * events,
        "effective_forward_macs": effective,
        "influence_macs": influence,
        "immediate_macs": immediate_sparse,
        "gradient_macs": n * p_kept * ones,
        "influence_stored": stored,
    }
    return {"dense": dense, "sparse": sparse}


def expected_counts(
    cell: str, n: int, n_in: int, T: int, alpha: float, beta: float, omega: float, x_density: float = 1.0
) -> dict[str, dict[str, float]]:
    """Expected per-sample totals over T steps from mean densities alone (see module doc)."""
    shape = CellShape(cell, n, n_in)
    g = shape.gates
    p = shape.p_total()
    masked = round(omega * n * n)
    kept = {name: rows * cols - (masked if maskable else 0) for name, rows, cols, maskable, _ in shape.blocks()}
    full = {name: rows * cols for name, rows, cols, _, _ in shape.blocks()}
    p_kept = sum(kept.values())
    events = (1 - alpha) * n  # per step from t = 1 on; none at t = 0
    later = T - 1
    src = (1 - beta) * n if cell != "gru" else n
    immediate = T * _immediate(shape, kept)
    if cell == "trnn":
        influence = later * src * src * p_kept
        stored = T * (1 - beta) * n * p_kept
    else:
        influence = later * (n * src * p_kept + n)
        stored = T * n * p_kept
        if cell != "evnn":  # the dense V_r block forms its entries only for live sources
            live = events if cell == "egru" else n
            immediate = immediate - T * n * kept["V_r"] + later * n * live * (kept["V_r"] / n)
    kept_per_column = (n * n - masked) / n
    return {
        "dense": {
            "forward_macs": T * g * n * (n_in + n),
            "effective_forward_macs": T * g * n * n_in * x_density + later * g * events * kept_per_column,
            "influence_macs": T * n * n * p,
            "immediate_macs": T * _immediate(shape, full),
            "gradient_macs": T * n * p,
            "influence_stored": T * n * p,
        },
        "sparse": {
            "forward_macs": T * g * n * n_in + later * g * n * events,
            "effective_forward_macs": T * g * n * n_in * x_density + later * g * events * kept_per_column,
            "influence_macs": influence,
            "immediate_macs": immediate,
            "gradient_macs": T * n * p_kept,
            "influence_stored": stored,
        },
    }
