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

Layout. M holds exactly the pattern's entries, entry-major [|P|, B] (a gather of entries then
copies whole rows of B samples), grouped by column pattern: the columns with the same rows R form a
group whose entries are a dense [|R|, |C|, B] block, so SnAp's product is one batched product
J[R, R] M_g per group. Per sample and step the algorithm performs, for each
entry (k, w) of P, J[k, k] M[k, w] where (k, k) is in S_J, and J[k, l] M[l, w] for every other row l
of w's pattern with (k, l) in S_J whose source is active (src_l != 0; J = diag(decay) + G diag(src)
makes J[k, l] = 0 otherwise): that is `influence_macs`. The batched product multiplies all |R|^2
pairs of each group (the entries it skips are exact zeros); `influence_macs_vectorised` reports it.
Mbar_t is formed on every entry of P_1 and on nothing else: one gather of S^P[k, m] and operand[j]
per entry, all blocks at once.
"""

from __future__ import annotations

import re

import torch

from golden.cells import Linearization, Structure, make_cell
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
    return _pattern(params, structure, ImmediatePlan(params, compact=True), order)


def _pattern(params: CellParams, structure: Structure, plan: ImmediatePlan, order: int) -> torch.Tensor:
    """influence_pattern from the cell's structure and the compacted layout's plan."""
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
        P = _pattern(params, structure, plan, pattern_order(mode))
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
        self.sensitivity, self.index = structure.sensitivity, index
        self.immediate: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self.M = torch.zeros(start, batch, dtype=cfg.torch_dtype)
        self.started = False
        S_J = structure.jacobian
        P64, off = P.to(torch.int64), (S_J & ~torch.eye(cfg.n, dtype=torch.bool)).to(torch.int64)
        self.diagonal_macs = int((P64 * S_J.diagonal().to(torch.int64)[:, None]).sum())
        self.source_macs = (P64 * (off.T @ P64)).sum(1)  # [n]: products J[k, l] M[l, w] per source l
        self.vectorised_macs = int((P64.sum(0) ** 2).sum())
        self._pending: tuple[torch.Tensor, list[torch.Tensor] | None] | None = None

    def _immediate_entries(self, lin: Linearization) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every P_1 entry e = (k, (P, m, j)) as flat indices into the blocks' S^P and operands laid
        side by side (plan.columns' block order; a diagonal S^P [B, n] read at k = m, a dense one
        [B, n, rows] at k rows + m) and into M: Mbar[e] = S^P[k, m] operand^P[j]."""
        s_idx, o_idx, e_idx, s_off, o_off = [], [], [], 0, 0
        for name, (m_idx, j_idx, cols) in self.plan.columns.items():
            sens = lin.sens[name]
            k, local = torch.nonzero(self.sensitivity[name][:, m_idx], as_tuple=True)
            m, j = m_idx[local], j_idx[local]
            s_idx.append(s_off + (k if sens.diagonal else k * sens.S.shape[2] + m))
            o_idx.append(o_off + j)
            e_idx.append(self.index[k, cols.start + local])
            s_off += sens.S[0].numel()
            o_off += sens.operand.shape[1]
        return torch.cat(s_idx), torch.cat(o_idx), torch.cat(e_idx)

    def step(self, lin: Linearization, cbar: torch.Tensor) -> dict[str, torch.Tensor]:
        """M_t = (J_t M_{t-1}) on the pattern (e-prop: diag(J_t) M_{t-1}) + Mbar_t on P_1; the
        gradient M_t^T cbar_t. Counted as the module doc says."""
        B = self.M.shape[1]
        none = torch.zeros(B, dtype=torch.int64)
        influence, vectorised = none, none
        if self.started:
            J = lin.G * lin.src[:, None, :]
            if lin.decay is not None:
                J = J + torch.diag_embed(lin.decay)
            if self.diagonal_only:
                self.M = J.diagonal(dim1=1, dim2=2).T.contiguous().index_select(0, self.rows) * self.M
                influence = vectorised = torch.full((B,), self.size, dtype=torch.int64)
            else:
                new = torch.empty_like(self.M)
                for R, span in self.groups:
                    block = self.M[span].view(R.numel(), -1, B)
                    new[span] = torch.einsum("bkl,lcb->kcb", J[:, R][:, :, R], block).reshape(-1, B)
                self.M = new
                influence = self.diagonal_macs + (lin.src != 0).to(torch.int64) @ self.source_macs
                vectorised = torch.full((B,), self.vectorised_macs, dtype=torch.int64)
        self.started = True
        formed = self._add_immediate(lin)
        weighted = (self.M * cbar.T.contiguous().index_select(0, self.rows)).sum(1)
        grad = self.M.new_zeros(self.params.p_kept).index_add_(0, self.cols, weighted)
        full = self.M.new_zeros(self.params.p_total)
        full[self.params.kept_index] = grad
        nonzero = [(self.M != 0).sum(0)] if self.measure_nonzero else None
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
        """M += Mbar_t on P_1, every block in one gather; returns the entries formed per sample [B]."""
        if self.immediate is None:
            self.immediate = self._immediate_entries(lin)
        s_idx, o_idx, e_idx = self.immediate
        B = self.M.shape[1]
        S = torch.cat([lin.sens[name].S.reshape(B, -1) for name in self.plan.columns], 1).T.contiguous()
        operand = torch.cat([lin.sens[name].operand for name in self.plan.columns], 1).T.contiguous()
        self.M.index_add_(0, e_idx, S.index_select(0, s_idx) * operand.index_select(0, o_idx))
        return torch.full((B,), e_idx.numel(), dtype=torch.int64)

    def flush(self) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
        """The gradient of the step just taken [p] and, when measuring, its non-zero entries per sample."""
        pending, self._pending = self._pending, None
        return pending

    def kept(self) -> torch.Tensor:
        """M_t over the kept columns, [B, n, p_kept] (zero outside the pattern)."""
        out = self.M.new_zeros(self.M.shape[1], self.params.config.n, self.params.p_kept)
        out[:, self.rows, self.cols] = self.M.T
        return out

    @property
    def storage_bytes(self) -> int:
        return self.M.numel() * self.M.element_size()
