"""Approximate RTRL on a structural pattern: SnAp-n (Menick et al. 2020) and the EGRU's e-prop.

Patterns come from the masks, not from values (DESIGN.md contract 7). Over the kept columns w:

    P_1     = {(k, w) : Mbar_t[k, w] can be non-zero}   (column (P, m, j) of block P: rows of S^P[:, m])
    P_{m+1} = P_m  united with  S_J P_m                   (S_J: J_t's pattern, golden.cells.Structure)

    SnAp-n:  M_t = (J_t M_{t-1} + Mbar_t) restricted to P_n          gradient sum_t M_t^T cbar_t
    e-prop:  M_t = diag(J_t) M_{t-1} + Mbar_t              on P_1 (J reduced to its diagonal)

SnAp-n equals exact RTRL while T <= n (M_t lies in P_t, which P_n contains). On a column whose P_1
entries lie in one row (the u- and z-gate blocks, and every block of the threshold RNN) SnAp-1's
product J M keeps only J's diagonal, so SnAp-1 and e-prop agree there; the r-gate blocks (r y' sits
inside V_z, so S^r is kept V_z) and theta (y'_l depends on theta_l, S^theta is G's pattern) reach
other units within the step, and there SnAp-1 keeps the off-diagonal J[k, l] between pattern rows
while e-prop drops them.

Layout. M holds exactly the pattern's entries, [B, |P|], grouped by column pattern: the columns
with the same rows R form a group whose entries are a dense [B, |R|, |C|] block, so SnAp's product
is one batched product J[R, R] M_g per group. Per sample and step the algorithm performs, for each
entry (k, w) of P, J[k, k] M[k, w] where (k, k) is in S_J, and J[k, l] M[l, w] for every other row l
of w's pattern with (k, l) in S_J whose source is active (src_l != 0; J = diag(decay) + G diag(src)
makes J[k, l] = 0 otherwise): that is `influence_macs`. The batched product multiplies all |R|^2
pairs of each group (the entries it skips are exact zeros); `influence_macs_vectorised` reports it.
Mbar_t is formed on P_1 only, an entry of a block whose operand is the previous output (V_u, V_r,
V_z) only where that operand is non-zero.
"""

from __future__ import annotations

import re

import torch

from golden.cells import Linearization, make_cell
from golden.errors import UserError
from golden.immediate import ImmediatePlan
from golden.params import CellParams

EXACT_MODES = ("dense", "sparse")
RULES = ("snap1", "snap2", "eprop")  # the named approximate rules; any snap<n> with n >= 1 runs
_SNAP = re.compile(r"snap([1-9][0-9]*)")


def check_mode(mode: str) -> None:
    """UserError unless mode is dense, sparse, eprop or snap<n> (n >= 1)."""
    if mode in EXACT_MODES or mode == "eprop" or _SNAP.fullmatch(mode):
        return
    raise UserError(f"mode: unknown mode {mode!r}; expected one of {', '.join(EXACT_MODES + RULES)} (or snap<n>)")


def pattern_order(mode: str) -> int:
    """n of SnAp-n; e-prop lives on P_1."""
    return 1 if mode == "eprop" else int(_SNAP.fullmatch(mode).group(1))


def influence_pattern(params: CellParams, order: int) -> torch.Tensor:
    """P_order over the kept columns, bool [n, p_kept] (columns in the compacted layout's order)."""
    structure = make_cell(params.config).structure(params.mask)
    plan = ImmediatePlan(params, compact=True)
    P = torch.zeros(params.config.n, params.p_kept, dtype=torch.bool)
    for name, (m_idx, _, cols) in plan.columns.items():
        P[:, cols] = structure.sensitivity[name][:, m_idx]
    S_J = structure.jacobian.to(torch.int64)
    for _ in range(order - 1):
        P = P | ((S_J @ P.to(torch.int64)) > 0)
    return P


class PatternInfluence:
    """SnAp-n or e-prop (see module doc), with the engine interface of golden.rtrl."""

    window = 1

    def __init__(self, params: CellParams, batch: int, plan: ImmediatePlan, measure_nonzero: bool, mode: str):
        cfg = params.config
        self.params, self.plan, self.measure_nonzero = params, plan, measure_nonzero
        self.diagonal_only = mode == "eprop"
        structure = make_cell(cfg).structure(params.mask)
        P = influence_pattern(params, pattern_order(mode))
        self.pattern = P
        patterns, group_of = torch.unique(P.T, dim=0, return_inverse=True)
        rows, cols, self.groups, start = [], [], [], 0
        for g, column_rows in enumerate(patterns):
            R = torch.nonzero(column_rows).flatten()
            if R.numel() == 0:  # columns no unit's state depends on (e.g. W_r[m] with V_z[:, m] all masked)
                continue
            C = torch.nonzero(group_of == g).flatten()
            self.groups.append((R, slice(start, start + R.numel() * C.numel())))
            rows.append(R.repeat_interleave(C.numel()))
            cols.append(C.repeat(R.numel()))
            start += R.numel() * C.numel()
        self.rows, self.cols = torch.cat(rows), torch.cat(cols)  # entry e = (rows[e], cols[e]), e < |P|
        self.size = start
        index = torch.full((cfg.n, params.p_kept), -1, dtype=torch.int64)
        index[self.rows, self.cols] = torch.arange(start)
        self.immediate = self._immediate_entries(plan, structure.sensitivity, index)
        self.M = torch.zeros(batch, start, dtype=cfg.torch_dtype)
        self.started = False
        S_J = structure.jacobian
        P64, off = P.to(torch.int64), (S_J & ~torch.eye(cfg.n, dtype=torch.bool)).to(torch.int64)
        self.diagonal_macs = int((P64 * S_J.diagonal().to(torch.int64)[:, None]).sum())
        self.source_macs = (P64 * (off.T @ P64)).sum(1)  # [n]: products J[k, l] M[l, w] per source l
        self.vectorised_macs = int((P64.sum(0) ** 2).sum())
        self._pending: tuple[torch.Tensor, list[torch.Tensor] | None] | None = None

    @staticmethod
    def _immediate_entries(plan: ImmediatePlan, sensitivity: dict[str, torch.Tensor], index: torch.Tensor):
        """Per block: (k, m, j, e) of every P_1 entry in its columns: Mbar[k, (m, j)] = S[k, m] operand[j]."""
        entries = {}
        for name, (m_idx, j_idx, cols) in plan.columns.items():
            k, local = torch.nonzero(sensitivity[name][:, m_idx], as_tuple=True)
            entries[name] = (k, m_idx[local], j_idx[local], index[k, cols.start + local])
        return entries

    def step(self, lin: Linearization, cbar: torch.Tensor) -> dict[str, torch.Tensor]:
        """M_t = (J_t M_{t-1}) on the pattern (e-prop: diag(J_t) M_{t-1}) + Mbar_t on P_1; the
        gradient M_t^T cbar_t. Counted as the module doc says."""
        B = self.M.shape[0]
        none = torch.zeros(B, dtype=torch.int64)
        influence, vectorised = none, none
        if self.started:
            J = lin.G * lin.src[:, None, :]
            if lin.decay is not None:
                J = J + torch.diag_embed(lin.decay)
            if self.diagonal_only:
                self.M = J.diagonal(dim1=1, dim2=2)[:, self.rows] * self.M
                influence = vectorised = torch.full((B,), self.size, dtype=torch.int64)
            else:
                new = torch.empty_like(self.M)
                for R, span in self.groups:
                    block = self.M[:, span].view(B, R.numel(), -1)
                    new[:, span] = torch.bmm(J[:, R][:, :, R], block).view(B, -1)
                self.M = new
                influence = self.diagonal_macs + (lin.src != 0).to(torch.int64) @ self.source_macs
                vectorised = torch.full((B,), self.vectorised_macs, dtype=torch.int64)
        self.started = True
        formed = self._add_immediate(lin)
        grad = self.M.new_zeros(self.params.p_kept).index_add_(0, self.cols, (self.M * cbar[:, self.rows]).sum(0))
        full = self.M.new_zeros(self.params.p_total)
        full[self.params.kept_index] = grad
        nonzero = [(self.M != 0).sum(-1)] if self.measure_nonzero else None
        self._pending = (full, nonzero)
        entries = torch.full((B,), self.size, dtype=torch.int64)
        return {
            "influence_macs": influence,
            "influence_macs_vectorised": vectorised,
            "rescale_macs": none,
            "immediate_macs": formed,
            "gradient_macs": entries,
            "influence_stored": entries,
        }

    def _add_immediate(self, lin: Linearization) -> torch.Tensor:
        """M += Mbar_t on P_1; returns the entries formed per sample [B]."""
        B = self.M.shape[0]
        formed = torch.zeros(B, dtype=torch.int64)
        for name, (k, m, j, e) in self.immediate.items():
            s = lin.sens[name]
            if s.event_operand:
                b, i = torch.nonzero(s.operand[:, j] != 0, as_tuple=True)
                S = s.S[b, k[i]] if s.diagonal else s.S[b, k[i], m[i]]
                self.M[b, e[i]] += S * s.operand[b, j[i]]
                formed += torch.bincount(b, minlength=B)
            else:
                S = s.S[:, k] if s.diagonal else s.S[:, k, m]
                self.M[:, e] += S * s.operand[:, j]
                formed += k.numel()
        return formed

    def flush(self) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
        """The gradient of the step just taken [p] and, when measuring, its non-zero entries per sample."""
        pending, self._pending = self._pending, None
        return pending

    def full(self) -> torch.Tensor:
        """M_t over the full parameter layout, [B, n, p] (zero outside the pattern)."""
        B = self.M.shape[0]
        out = self.M.new_zeros(B, self.params.config.n, self.params.p_total)
        out[:, self.rows, self.params.kept_index[self.cols]] = self.M
        return out

    @property
    def storage_bytes(self) -> int:
        return self.M.numel() * self.M.element_size()
