"""Exact real-time recurrent learning, dense and sparse (papers/sparse-rtrl Eq. 3-4).

    M_t = J_t M_{t-1} + Mbar_t,   M_0 = 0,   dS/dw = sum_t M_t^T (dS_t/ds_t) + direct terms

with J_t and Mbar_t from each cell's `linearize` (golden.cells). Memory is one influence matrix per
sample whatever the sequence length.

Dense: M is [B, n, p] over every parameter; masked columns stay zero because Mbar is multiplied by
the mask. Sparse: M is compacted to the p_kept unmasked columns, and per sample and step it reads only
the source rows l of M_{t-1} that can contribute (src_l != 0, i.e. d_{t-1,l} != 0 for the EGRU, and
rows that are not known to be zero), and writes only the rows that can be non-zero (threshold RNN:
d_t != 0). Both give the same numbers up to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from golden.cells import Cell, CreditFn, Linearization, Record, make_cell
from golden.counters import CounterLog, RunCounters
from golden.errors import UserError
from golden.params import CellParams

MODES = ("dense", "sparse")
UpdateFn = Callable[[dict[str, torch.Tensor]], None]


@dataclass
class RTRLResult:
    grads: dict[str, torch.Tensor]  # summed over batch and time (over all updates in online mode)
    counters: RunCounters
    records: dict[str, torch.Tensor] | None  # [T, B, n] per record entry when asked for
    final_influence: dict[str, float] | None  # zero fractions of the last step's influence matrices


class DenseInfluence:
    """M [B, n, p] over all parameters; J is formed in full and multiplied in full."""

    def __init__(self, params: CellParams, batch: int):
        self.params = params
        cfg = params.config
        self.M = torch.zeros(batch, cfg.n, params.p_total, dtype=cfg.torch_dtype)
        self.flat_mask = params.flat_mask.to(cfg.torch_dtype)

    def immediate(self, lin: Linearization) -> tuple[torch.Tensor, int]:
        """Mbar_t [B, n, p] (masked columns zero) and the entries formed per sample."""
        B, n = self.M.shape[:2]
        parts, formed = [], 0
        for block in self.params.blocks:
            s = lin.sens[block.name]
            if s.diagonal:
                part = self.M.new_zeros(B, n, block.rows, block.cols)
                rows = torch.arange(block.rows)
                part[:, rows, rows, :] = s.S[:, :, None] * s.operand[:, None, :]
                formed += block.size
            else:
                part = s.S[:, :, :, None] * s.operand[:, None, None, :]
                formed += n * block.size
            parts.append(part.reshape(B, n, block.size))
        return torch.cat(parts, dim=-1) * self.flat_mask, formed

    def update(self, lin: Linearization) -> dict[str, torch.Tensor]:
        """M_t = (diag(decay) + G diag(src)) M_{t-1} + Mbar_t."""
        B, n, p = self.M.shape
        J = lin.G * lin.src[:, None, :]
        if lin.decay is not None:
            J = J + torch.diag_embed(lin.decay)
        Mbar, formed = self.immediate(lin)
        self.M = torch.bmm(J, self.M) + Mbar
        full = torch.full((B,), n * p, dtype=torch.int64)
        return {"influence_macs": full * n, "immediate_macs": torch.full((B,), formed), "influence_stored": full}

    def gradient(self, cbar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """sum_b M_b^T cbar_b over the full layout [p], and the MACs per sample."""
        B, n, p = self.M.shape
        return torch.einsum("bn,bnp->p", cbar, self.M), torch.full((B,), n * p)

    def nonzero(self) -> torch.Tensor:
        return (self.M != 0).flatten(1).sum(-1)

    def full(self) -> torch.Tensor:
        """M_t over the full parameter layout, [B, n, p]."""
        return self.M

    @property
    def storage_bytes(self) -> int:
        return self.M.numel() * self.M.element_size()


class SparseInfluence:
    """M [B, n, p_kept] over the kept columns, with per-sample row skipping (see module doc)."""

    def __init__(self, params: CellParams, batch: int):
        self.params = params
        cfg = params.config
        self.p_kept = params.p_kept
        self.M = torch.zeros(batch, cfg.n, self.p_kept, dtype=cfg.torch_dtype)
        self.known = torch.zeros(batch, cfg.n, dtype=torch.bool)  # rows of M that may be non-zero
        self.columns = {}
        self._plan = None
        compact = 0
        for block in params.blocks:
            local = torch.nonzero(params.mask(block.name).reshape(-1)).flatten()
            cols = torch.arange(compact, compact + local.numel())
            self.columns[block.name] = (local // block.cols, local % block.cols, cols)
            compact += local.numel()

    def update(self, lin: Linearization) -> dict[str, torch.Tensor]:
        """M_t in place: keep a copy of the source rows S of M_{t-1}, scale rows D (held but not
        sources) by their decay and clear the others, add Mbar_t, then per sample add
        J[R, S] M_{t-1}[S] for the rows R it writes. Counted: (|R| |S| + |D|) p_kept MACs."""
        B, n, pk = self.M.shape
        rows_mask = torch.ones(B, n, dtype=torch.bool) if lin.rows is None else lin.rows
        sources = (lin.src != 0) & self.known
        decay_only = rows_mask & self.known & ~sources
        source_idx = [torch.nonzero(sources[b]).flatten() for b in range(B)]
        source_rows = [self.M[b, S] for b, S in enumerate(source_idx)]
        if lin.decay is None:
            self.M.zero_()
            macs = torch.zeros(B, dtype=torch.int64)
        else:
            self.M *= torch.where(decay_only, lin.decay, 0.0)[:, :, None]
            macs = decay_only.sum(-1) * pk
        formed = self._add_immediate(lin)
        for b in range(B):
            S = source_idx[b]
            R = torch.nonzero(rows_mask[b]).flatten()
            if not (S.numel() and R.numel()):
                continue
            J = lin.G[b][:, S] * lin.src[b, S]
            if lin.decay is not None:
                J[S, torch.arange(S.numel())] += lin.decay[b, S]
            if R.numel() == n:
                self.M[b] += J @ source_rows[b]
            else:
                self.M[b, R] += J[R] @ source_rows[b]
            macs[b] += R.numel() * S.numel() * pk
        self.known = rows_mask.clone()
        return {
            "influence_macs": macs,
            "immediate_macs": torch.full((B,), formed),
            "influence_stored": self.known.sum(-1) * pk,
        }

    def _add_immediate(self, lin: Linearization) -> int:
        """M += Mbar_t over the kept columns for the whole batch; returns the entries formed per
        sample: one per kept entry of a diagonal block, n per kept entry of a dense one. Rows a
        threshold RNN does not write get exact zeros here (their sensitivity d_k is 0)."""
        n = self.M.shape[1]
        formed = 0
        diagonal = [name for name in self.columns if lin.sens[name].diagonal]
        if diagonal:
            S = torch.stack([lin.sens[name].S for name in diagonal], dim=1)  # [B, blocks, n]
            operands = torch.cat([lin.sens[name].operand for name in diagonal], dim=1)
            block_id, m, j, cols = self._diagonal_plan(diagonal, lin)
            self.M[:, m, cols] += S[:, block_id, m] * operands[:, j]
            formed += int(m.numel())
        for name in self.columns:
            s = lin.sens[name]
            if not s.diagonal:
                m_idx, j_idx, cols = self.columns[name]
                self.M[:, :, cols] += s.S[:, :, m_idx] * s.operand[:, None, j_idx]
                formed += n * int(cols.numel())
        return formed

    def _diagonal_plan(self, diagonal: list[str], lin: Linearization):
        """Concatenated (block, row, operand index, column) of every kept diagonal-block entry."""
        if self._plan is None:
            parts, operand_offset = [], 0
            for i, name in enumerate(diagonal):
                m_idx, j_idx, cols = self.columns[name]
                parts.append((torch.full_like(m_idx, i), m_idx, j_idx + operand_offset, cols))
                operand_offset += lin.sens[name].operand.shape[1]
            self._plan = tuple(torch.cat(col) for col in zip(*parts))
        return self._plan

    def gradient(self, cbar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """sum_b M_b^T cbar_b (all n rows, batched), scattered to the full layout [p]."""
        B, n, pk = self.M.shape
        full = self.M.new_zeros(self.params.p_total)
        full[self.params.kept_index] = torch.einsum("bn,bnp->p", cbar, self.M)
        return full, torch.full((B,), n * pk)

    def nonzero(self) -> torch.Tensor:
        return (self.M != 0).flatten(1).sum(-1)

    def full(self) -> torch.Tensor:
        """M_t over the full parameter layout, [B, n, p] (masked columns zero)."""
        B, n, _ = self.M.shape
        out = self.M.new_zeros(B, n, self.params.p_total)
        out[:, :, self.params.kept_index] = self.M
        return out

    @property
    def storage_bytes(self) -> int:
        return self.M.numel() * self.M.element_size()


def influence_zero_fractions(M: torch.Tensor, params: CellParams, rec: Record) -> dict[str, float]:
    """Fraction of exactly-zero entries of the state's influence matrix d s_t/d w (for the EGRU dc/dw)
    and of the output's, d out_t/d w: for the EGRU dy/dw = diag(d_t) dc/dw plus the direct
    d y_k / d theta_k = -c_k H'_k; for the other cells the output is the state."""
    out_M = M
    if params.config.cell == "egru":
        out_M = rec["d"][:, :, None] * M
        theta = params.block("theta")
        k = torch.arange(theta.rows)
        out_M[:, k, theta.offset + k] += -rec["c"] * rec["dH"]
    return {
        "state_zero_fraction": float((M == 0).double().mean()),
        "output_zero_fraction": float((out_M == 0).double().mean()),
    }


def credits_from_tensors(credits: dict[str, torch.Tensor]) -> CreditFn:
    """A credit function that returns credits[key][t] for every key ([T, B, n] tensors)."""
    return lambda t, rec: {k: v[t] for k, v in credits.items()}


def _check_inputs(cell: Cell, params: CellParams, x: torch.Tensor) -> None:
    cfg = params.config
    if x.dim() != 3 or x.shape[2] != cfg.n_in:
        raise UserError(f"x: shape {tuple(x.shape)}; expected [T, B, n_in={cfg.n_in}]")
    if not torch.isfinite(x).all():
        raise UserError("x: contains NaN or infinite values; expected finite inputs")


def run_rtrl(
    params: CellParams,
    x: torch.Tensor,
    credits: dict[str, torch.Tensor] | CreditFn,
    mode: str = "sparse",
    update_every: int | None = None,
    on_update: UpdateFn | None = None,
    keep_records: bool = False,
    final_influence: bool = False,
) -> RTRLResult:
    """Run the cell over x [T, B, n_in] and return dS/dw by RTRL, with counters.

    credits: [T, B, n] tensors keyed by record entry (EGRU "c" and "y", TRNN "a", GRU "h"), or a
        function (t, record) -> such a dict for step t; S = sum_t sum_b credits_t . record_t.
    Offline (update_every None): the gradient summed over the sequence. Online: every update_every
        steps (and after the last), on_update(chunk gradient) may change params.tensors in place;
        the influence matrix is carried on across updates unchanged, as RTRL prescribes, and the
        returned grads are the sum of the chunk gradients.
    final_influence: also report the zero fractions of the last step's influence matrices.
    """
    if mode not in MODES:
        raise UserError(f"mode: unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    if update_every is not None and (update_every <= 0 or on_update is None):
        raise UserError(f"update_every: got {update_every!r}; expected a positive integer with on_update")
    cell = make_cell(params.config)
    _check_inputs(cell, params, x)
    credit_fn = credits_from_tensors(credits) if isinstance(credits, dict) else credits
    T, B, _ = x.shape
    sparse = mode == "sparse"
    influence = (SparseInfluence if sparse else DenseInfluence)(params, B)
    total = x.new_zeros(params.p_total)
    chunk = x.new_zeros(params.p_total)
    log = CounterLog()
    history: list[Record] = []
    prev = cell.initial(B)
    P = params.effective()
    with torch.no_grad():
        for t in range(T):
            rec = cell.step(P, prev, x[t], event_driven=sparse)
            fwd = cell.forward_macs(P, prev, rec, x[t], event_driven=sparse)
            lin = cell.linearize(P, prev, rec, x[t])
            counts = influence.update(lin)
            credit = credit_fn(t, rec)
            grad, grad_macs = influence.gradient(cell.state_credit(rec, credit))
            chunk += grad
            for name, g in cell.direct_gradient(rec, credit).items():
                block = params.block(name)
                chunk[block.offset : block.offset + block.size] += g.sum(0).reshape(-1)
            log.add(
                forward_macs=fwd["performed"],
                effective_forward_macs=fwd["effective"],
                gradient_macs=grad_macs,
                influence_nonzero=influence.nonzero(),
                alpha=(rec[cell.output_key] == 0).double().mean(-1),
                beta=(rec["d"] == 0).double().mean(-1),
                **counts,
            )
            if keep_records:
                history.append(rec)
            if update_every is not None and ((t + 1) % update_every == 0 or t == T - 1):
                on_update(params.unflatten(chunk.clone()))
                P = params.effective()
                total += chunk
                chunk.zero_()
            prev = rec
    if update_every is None:
        total = chunk
    counters = log.finish(
        mode=mode,
        cell=params.config.cell,
        n=params.config.n,
        n_in=params.config.n_in,
        sparsity=params.sparsity(),
        influence_storage_bytes=influence.storage_bytes,
    )
    records = {k: torch.stack([r[k] for r in history]) for k in history[0]} if keep_records else None
    zeros = influence_zero_fractions(influence.full(), params, prev) if final_influence else None
    return RTRLResult(grads=params.unflatten(total), counters=counters, records=records, final_influence=zeros)
