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
        compact = 0
        for block in params.blocks:
            local = torch.nonzero(params.mask(block.name).reshape(-1)).flatten()
            cols = torch.arange(compact, compact + local.numel())
            self.columns[block.name] = (local // block.cols, local % block.cols, cols)
            compact += local.numel()

    def update(self, lin: Linearization) -> dict[str, torch.Tensor]:
        B, n, pk = self.M.shape
        counts = {k: torch.zeros(B, dtype=torch.int64) for k in ("influence_macs", "immediate_macs")}
        rows_mask = torch.ones(B, n, dtype=torch.bool) if lin.rows is None else lin.rows
        sources = (lin.src != 0) & self.known
        for b in range(B):
            R = torch.nonzero(rows_mask[b]).flatten()
            all_rows = R.numel() == n
            new = self.M.new_zeros(n, pk)
            J = lin.G[b] * lin.src[b]
            if lin.decay is not None:
                J = J + torch.diag(lin.decay[b])
            S = torch.nonzero(sources[b]).flatten()
            if S.numel() and R.numel():
                product = (J[:, S] if all_rows else J[R][:, S]) @ self.M[b, S]
                if all_rows:
                    new += product
                else:
                    new[R] += product
                counts["influence_macs"][b] += R.numel() * S.numel() * pk
            if lin.decay is not None:
                D = torch.nonzero(rows_mask[b] & self.known[b] & ~sources[b]).flatten()
                if D.numel():
                    new[D] += lin.decay[b, D, None] * self.M[b, D]
                    counts["influence_macs"][b] += D.numel() * pk
            counts["immediate_macs"][b] = self._add_immediate(new, lin, b, R, rows_mask[b], all_rows)
            self.M[b] = new
        self.known = rows_mask.clone()
        counts["influence_stored"] = self.known.sum(-1) * pk
        return counts

    def _add_immediate(self, new, lin, b, R, row_mask, all_rows) -> int:
        """new += Mbar_t for sample b over the kept columns and the rows R; returns entries formed."""
        formed = 0
        for name, (m_idx, j_idx, cols) in self.columns.items():
            s = lin.sens[name]
            if s.diagonal:
                keep = row_mask[m_idx]
                m, j, c = m_idx[keep], j_idx[keep], cols[keep]
                new[m, c] += s.S[b, m] * s.operand[b, j]
                formed += int(m.numel())
            elif all_rows:
                new[:, cols] += s.S[b][:, m_idx] * s.operand[b, j_idx]
                formed += new.shape[0] * int(cols.numel())
            else:
                new[R[:, None], cols[None, :]] += s.S[b][R][:, m_idx] * s.operand[b, j_idx]
                formed += int(R.numel() * cols.numel())
        return formed

    def gradient(self, cbar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """sum_b M_b^T cbar_b over the rows held, scattered to the full layout [p]."""
        B = cbar.shape[0]
        compact = self.M.new_zeros(self.p_kept)
        macs = torch.zeros(B, dtype=torch.int64)
        for b in range(B):
            K = torch.nonzero(self.known[b]).flatten()
            if K.numel():
                compact += cbar[b, K] @ self.M[b, K]
                macs[b] = K.numel() * self.p_kept
        full = self.M.new_zeros(self.params.p_total)
        full[self.params.kept_index] = compact
        return full, macs

    def nonzero(self) -> torch.Tensor:
        return (self.M != 0).flatten(1).sum(-1)

    @property
    def storage_bytes(self) -> int:
        return self.M.numel() * self.M.element_size()


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
) -> RTRLResult:
    """Run the cell over x [T, B, n_in] and return dS/dw by RTRL, with counters.

    credits: [T, B, n] tensors keyed by record entry (EGRU "c" and "y", TRNN "a", GRU "h"), or a
        function (t, record) -> such a dict for step t; S = sum_t sum_b credits_t . record_t.
    Offline (update_every None): the gradient summed over the sequence. Online: every update_every
        steps (and after the last), on_update(chunk gradient) may change params.tensors in place;
        the influence matrix is carried on across updates unchanged, as RTRL prescribes, and the
        returned grads are the sum of the chunk gradients.
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
    return RTRLResult(grads=params.unflatten(total), counters=counters, records=records)
