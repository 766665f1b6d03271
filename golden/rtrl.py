"""Exact real-time recurrent learning, dense and sparse (papers/sparse-rtrl Eq. 3-4).

    M_t = J_t M_{t-1} + Mbar_t,   M_0 = 0,   dS/dw = sum_t M_t^T (dS_t/ds_t) + direct terms

with J_t and Mbar_t from each cell's `linearize` (golden.cells). Memory is one influence matrix per
sample whatever the sequence length.

Dense: M is [B, n, p] over every parameter; masked columns stay zero because Mbar is multiplied by
the mask. Sparse: M is compacted to the p_kept unmasked columns, and per sample and step it reads only
the source rows l of M_{t-1} that can contribute (src_l != 0, i.e. d_{t-1,l} != 0 for the EGRU, and
rows that are not known to be zero), and writes only the rows that can be non-zero (threshold RNN:
d_t != 0); its steps are queued and applied a window at a time, per sample and cache-sized column
tile (golden.sparse_influence). Both give the same numbers up to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from golden.cells import Cell, CreditFn, Linearization, Record, make_cell
from golden.counters import CounterLog, RunCounters
from golden.errors import UserError
from golden.immediate import ImmediatePlan
from golden.params import CellParams
from golden.snap import PatternInfluence, check_mode
from golden.sparse_influence import SparseInfluence

UpdateFn = Callable[[dict[str, torch.Tensor]], None]


@dataclass
class RTRLResult:
    grads: dict[str, torch.Tensor]  # summed over batch and time (over all updates in online mode)
    counters: RunCounters
    records: dict[str, torch.Tensor] | None  # [T, B, n] per record entry when asked for
    final_influence: dict[str, float] | None  # zero fractions of the last step's influence matrices


def count_nonzero_per_sample(M: torch.Tensor) -> torch.Tensor:
    """Non-zero entries of each M[b] (a whole-tensor count per sample is several times faster than
    torch's count along dimensions)."""
    return torch.tensor([int(torch.count_nonzero(m)) for m in M], dtype=torch.int64)


class DenseInfluence:
    """M [B, n, p] over all parameters; J is formed in full and multiplied in full, step by step."""

    window = 1

    def __init__(self, params: CellParams, batch: int, plan: ImmediatePlan, measure_nonzero: bool):
        self.params = params
        cfg = params.config
        self.M = torch.zeros(batch, cfg.n, params.p_total, dtype=cfg.torch_dtype)
        self._next = torch.empty_like(self.M)  # J M_{t-1} is written here, then the two swap
        self.plan = plan
        self.masked = torch.nonzero(~params.flat_mask).flatten()
        self.measure_nonzero = measure_nonzero
        self._pending: tuple[torch.Tensor, list[torch.Tensor]] | None = None

    def step(self, lin: Linearization, cbar: torch.Tensor) -> dict[str, torch.Tensor]:
        """M_t = (diag(decay) + G diag(src)) M_{t-1} + Mbar_t, then the gradient sum_b M_t,b^T cbar_b;
        Mbar is formed for every entry and the masked columns are then cleared (they stay zero: J M
        keeps a zero column zero)."""
        B, n, p = self.M.shape
        J = lin.G * lin.src[:, None, :]
        if lin.decay is not None:
            J = J + torch.diag_embed(lin.decay)
        torch.bmm(J, self.M, out=self._next)
        self.M, self._next = self._next, self.M
        self.plan.add(self.M, lin)
        if self.masked.numel():
            self.M[:, :, self.masked] = 0
        self._pending = (
            torch.einsum("bn,bnp->p", cbar, self.M),
            [count_nonzero_per_sample(self.M)] if self.measure_nonzero else None,
        )
        full = torch.full((B,), n * p, dtype=torch.int64)
        return {
            "influence_macs": full * n,
            "rescale_macs": torch.zeros(B, dtype=torch.int64),
            "immediate_macs": self.plan.formed(lin),
            "gradient_macs": full,
            "influence_stored": full,
        }

    def flush(self) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
        """The gradient of the step just taken [p] and, when measuring, its non-zero entries per sample."""
        pending, self._pending = self._pending, None
        return pending

    def kept(self) -> torch.Tensor:
        """M_t over the kept columns, [B, n, p_kept]."""
        return self.M[:, :, self.params.kept_index]

    @property
    def storage_bytes(self) -> int:
        return self.M.numel() * self.M.element_size()


def influence_zero_fractions(M: torch.Tensor, params: CellParams, rec: Record) -> dict[str, float]:
    """Fraction of exactly-zero entries of the state's influence matrix d s_t/d w (for the EGRU dc/dw)
    and of the output's, d out_t/d w, over all p columns: for the EGRU dy/dw = diag(d_t) dc/dw plus the
    direct d y_k / d theta_k = -c_k H'_k; for the other cells the output is the state. M [B, n, p_kept]
    holds the kept columns (an engine's `kept()`); the masked ones are zero in both matrices."""
    B, n, kept = M.shape
    masked = B * n * (params.p_total - kept)
    out_M = M
    if params.config.cell == "egru":
        out_M = rec["d"][:, :, None] * M
        theta = params.block("theta")  # never masked: its kept columns follow the kept ones before it
        start = int(params.flat_mask[: theta.offset].sum())
        k = torch.arange(theta.rows)
        out_M[:, k, start + k] += -rec["c"] * rec["dH"]
    total = B * n * params.p_total
    return {
        "state_zero_fraction": (int((M == 0).sum()) + masked) / total,
        "output_zero_fraction": (int((out_M == 0).sum()) + masked) / total,
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
    measure_nonzero: bool = True,
) -> RTRLResult:
    """Run the cell over x [T, B, n_in] and return dS/dw by RTRL, with counters.

    mode: "dense" or "sparse" (exact), or an approximate rule of golden.snap ("snap1", "snap2",
        any "snap<n>", "eprop"), which returns that rule's gradient.

    credits: [T, B, n] tensors keyed by record entry (EGRU "c" and "y", TRNN "a", GRU "h"), or a
        function (t, record) -> such a dict for step t; S = sum_t sum_b credits_t . record_t.
    Offline (update_every None): the gradient summed over the sequence. Online: every update_every
        steps (and after the last), on_update(chunk gradient) may change params.tensors in place;
        the influence matrix is carried on across updates unchanged, as RTRL prescribes, and the
        returned grads are the sum of the chunk gradients.
    final_influence: also report the zero fractions of the last step's influence matrices.
    measure_nonzero: count M_t's non-zero entries every step (a full pass over M; benchmarks that
        time the algorithm itself turn it off).
    """
    check_mode(mode)
    if update_every is not None and (update_every <= 0 or on_update is None):
        raise UserError(f"update_every: got {update_every!r}; expected a positive integer with on_update")
    cell = make_cell(params.config)
    _check_inputs(cell, params, x)
    credit_fn = credits_from_tensors(credits) if isinstance(credits, dict) else credits
    T, B, _ = x.shape
    sparse = mode != "dense"  # every mode but dense runs event-driven on the kept columns
    plan = ImmediatePlan(params, compact=sparse)
    if mode in ("dense", "sparse"):
        engine = SparseInfluence if sparse else DenseInfluence
        influence = engine(params, B, plan, measure_nonzero)
    else:
        influence = PatternInfluence(params, B, plan, measure_nonzero, mode)
    total = x.new_zeros(params.p_total)
    chunk = x.new_zeros(params.p_total)
    log = CounterLog()
    window: list[dict[str, torch.Tensor]] = []  # counts of the steps the influence engine has queued
    history: list[Record] = []
    prev = cell.initial(B)
    P = params.effective()
    with torch.no_grad():
        for t in range(T):
            rec = cell.step(P, prev, x[t], event_driven=sparse)
            fwd = cell.forward_macs(P, prev, rec, x[t], event_driven=sparse)
            lin = cell.linearize(P, prev, rec, x[t])
            credit = credit_fn(t, rec)
            counts = influence.step(lin, cell.state_credit(rec, credit))
            for name, g in cell.direct_gradient(rec, credit).items():
                block = params.block(name)
                chunk[block.offset : block.offset + block.size] += g.sum(0).reshape(-1)
            window.append(
                dict(
                    forward_macs=fwd["performed"],
                    effective_forward_macs=fwd["effective"],
                    alpha=(rec[cell.output_key] == 0).double().mean(-1),
                    beta=(rec["d"] == 0).double().mean(-1),
                    **counts,
                )
            )
            if keep_records:
                history.append(rec)
            update = update_every is not None and ((t + 1) % update_every == 0 or t == T - 1)
            if update or t == T - 1 or len(window) == influence.window:
                grad, nonzero = influence.flush()
                chunk += grad
                for i, entry in enumerate(window):
                    log.add(**entry, **({"influence_nonzero": nonzero[i]} if measure_nonzero else {}))
                window.clear()
            if update:
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
    zeros = influence_zero_fractions(influence.kept(), params, prev) if final_influence else None
    return RTRLResult(grads=params.unflatten(total), counters=counters, records=records, final_influence=zeros)
