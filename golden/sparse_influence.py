"""Sparse RTRL influence engine, run per sample over a window of steps in cache-sized column tiles.

The arithmetic is the sparse update of papers/sparse-rtrl Eq. 4 with per-row scales (see
SparseInfluence); what this module adds is its order. M_t's columns evolve independently

    M_t[:, c] = diag(decay_t) M_{t-1}[:, c] + G_t[:, S] diag(src_S) M_{t-1}[S, c] + Mbar_t[:, c],

so the steps' J_t, Mbar_t and gradient weights are formed first for a window of steps (they do not
depend on M), and then each sample's M is walked one column tile at a time, the tile staying in
cache while all the window's steps update it and read its gradient M_t^T (s_t cbar_t). Step by step
over the whole batch, every step would stream all of M (hundreds of MB) from memory twice. The walk
is compiled (golden/csrc/sparse_walk.cpp; its loop makes a few small operations per tile and step,
which from Python cost more than their arithmetic) and runs the samples in parallel.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from golden.cells import Linearization
from golden.immediate import ImmediatePlan
from golden.native import sparse_walk
from golden.params import CellParams

TILE_BYTES = 1 << 20  # one column tile of M[b]: within a core's L2 cache with room for the source rows
WINDOW = 16  # steps queued before M is walked: M streams from memory once per window, not per step


@dataclass
class _Step:
    """One step's M-independent inputs, flat over the samples; `*_off` [B + 1] say where sample b's
    entries of the flat list before it begin and end."""

    src: torch.Tensor  # source rows S of M_{t-1} that are read
    src_off: torch.Tensor
    J: torch.Tensor  # [sum |S|, n]: column l of G diag(src) for each source, times s_l, rows divided by s_t
    restart: torch.Tensor  # rows that restart at zero (decay 0 or not known)
    restart_off: torch.Tensor
    fold: torch.Tensor  # rows folded back into Mstore ...
    fold_factor: torch.Tensor  # ... by these factors
    fold_off: torch.Tensor
    rows: torch.Tensor  # rows written when only some may be non-zero (threshold RNN)
    rows_off: torch.Tensor
    clear: bool  # no decay (threshold RNN): M_t is written afresh
    all_rows: bool  # every row is written
    diag_S: torch.Tensor  # [B, sensitivities x n]: the diagonal blocks' distinct S, stacked
    diag_O: torch.Tensor  # [B, operands]: the diagonal blocks' operands, concatenated
    dense_S: torch.Tensor  # [B, n, rows]: the dense blocks' distinct S, concatenated
    dense_v: torch.Tensor  # [B, dense entries]: each dense entry's operand
    inverse: torch.Tensor  # [B, n]: 1 / s_t, applied to the immediate entries in the walk
    weight: torch.Tensor  # [B, n]: s_t cbar_t, so that M_t^T cbar_t = Mstore_t^T weight


def _flat(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The column indices of the True entries of mask [B, n], flat in sample order, and offsets [B + 1]."""
    return torch.nonzero(mask)[:, 1], _offsets_of(mask.sum(-1))


def _offsets_of(counts: torch.Tensor) -> torch.Tensor:
    """[0, c_0, c_0 + c_1, ...]: where each sample's entries begin in a flat list, and the end."""
    return torch.cat([counts.new_zeros(1), counts.cumsum(0)])


class _ImmediateLayout:
    """Every kept entry of Mbar_t by column: diagonal blocks' entries (one row each) and dense
    blocks' entries (a full column S[:, m] * operand_j). Built from the first linearisation, which
    says which blocks are diagonal and which share a sensitivity tensor (a gate's W, V and b)."""

    def __init__(self, columns: dict[str, tuple[torch.Tensor, torch.Tensor, slice]], lin: Linearization, n: int):
        self.diagonal_blocks = [name for name in columns if lin.sens[name].diagonal]
        self.dense_blocks = [name for name in columns if not lin.sens[name].diagonal]
        self.diagonal_S = _distinct_S(lin, self.diagonal_blocks)  # one block naming each distinct S
        self.dense_S = _distinct_S(lin, self.dense_blocks)
        S_index = {id(lin.sens[name].S): i for i, name in enumerate(self.diagonal_S)}
        S_offset = dict(zip((id(lin.sens[name].S) for name in self.dense_S), _starts(lin, self.dense_S, "S", 2)))
        rows, cols, s_idx, o_idx = [], [], [], []
        for name, operand in zip(self.diagonal_blocks, _starts(lin, self.diagonal_blocks, "operand", 1)):
            m, j, span = columns[name]
            rows.append(m)
            cols.append(torch.arange(span.start, span.stop))
            s_idx.append(S_index[id(lin.sens[name].S)] * n + m)
            o_idx.append(operand + j)
        self.diag = tuple(_cat(x) for x in (rows, cols, s_idx, o_idx))  # by column
        cols, s_cols, o_idx = [], [], []
        for name, operand in zip(self.dense_blocks, _starts(lin, self.dense_blocks, "operand", 1)):
            m, j, span = columns[name]
            cols.append(torch.arange(span.start, span.stop))
            s_cols.append(S_offset[id(lin.sens[name].S)] + m)
            o_idx.append(operand + j)
        self.dense = tuple(_cat(x) for x in (cols, s_cols, o_idx))  # by column

    def step_inputs(self, lin: Linearization, dense_S: torch.Tensor) -> dict[str, torch.Tensor]:
        """The step's immediate-influence inputs of _Step: sensitivities and operands as the cell
        gave them (the walk forms each entry and divides it by its row's scale); the dense blocks'
        S are concatenated into dense_S [B, n, rows], a buffer the caller keeps."""
        sens, like = lin.sens, lin.src
        if self.dense_blocks:
            torch.cat([sens[name].S for name in self.dense_S], 2, out=dense_S)
        return {
            "diag_S": _cat_or_empty([sens[name].S for name in self.diagonal_S], like),
            "diag_O": _cat_or_empty([sens[name].operand for name in self.diagonal_blocks], like),
            "dense_S": dense_S,
            "dense_v": _cat_or_empty([sens[name].operand for name in self.dense_blocks], like)[:, self.dense[2]],
        }


def _cat_or_empty(parts: list[torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    """[B, sum of widths]: the parts side by side (none: [B, 0] of like's batch and dtype)."""
    return torch.cat(parts, 1) if parts else like.new_zeros(like.shape[0], 0)


def _distinct_S(lin: Linearization, names: list[str]) -> list[str]:
    """The first block of each distinct sensitivity tensor among names, in order."""
    seen: dict[int, str] = {}
    for name in names:
        seen.setdefault(id(lin.sens[name].S), name)
    return list(seen.values())


def _starts(lin: Linearization, names: list[str], field: str, dim: int) -> list[int]:
    """Where each block's S (or operand) begins when those of names are concatenated along dim."""
    sizes = [getattr(lin.sens[name], field).shape[dim] for name in names]
    return [sum(sizes[:i]) for i in range(len(sizes))]


def _cat(parts: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.int64)


class SparseInfluence:
    """M_t compacted to the kept columns, [B, n, p_kept], with per-sample row skipping.

    Each row k carries a scale s_k and the influence matrix is M_t = diag(s) Mstore, so the decay
    is the n multiplications s_k <- s_k decay_k and touches no row of Mstore. New contributions
    (the sources' and Mbar's) are divided by the row's new scale before they are added to Mstore.
    A row whose scale leaves [1e-100, 1e100] (after hundreds of steps) is folded back into Mstore
    (counted as rescale MACs, the one value-dependent count); a row whose decay is exactly 0 or that
    is not known to hold values restarts at zero with scale 1.

    `step` queues a step (and returns its counts, which do not depend on M's values); `flush` applies
    the queued steps and returns the sum of their gradients.
    """

    SCALE_LIMIT = 1e100
    window = WINDOW

    def __init__(self, params: CellParams, batch: int, plan: ImmediatePlan, measure_nonzero: bool):
        self.params = params
        cfg = params.config
        self.p_kept = pk = params.p_kept
        self.M = torch.zeros(batch, cfg.n, pk, dtype=cfg.torch_dtype)
        self.scale = torch.ones(batch, cfg.n, dtype=cfg.torch_dtype)
        self.known = torch.zeros(batch, cfg.n, dtype=torch.bool)  # rows of M that may be non-zero
        self.plan = plan
        self.measure_nonzero = measure_nonzero
        width = max(1, TILE_BYTES // (cfg.n * self.M.element_size()))
        self.tile_edges = list(range(0, pk, width)) + [pk]
        self.layout: _ImmediateLayout | None = None
        self.queue: list[_Step] = []
        self._dense_S: list[torch.Tensor] = []  # one buffer per queue slot, reused across windows

    def step(self, lin: Linearization, cbar: torch.Tensor) -> dict[str, torch.Tensor]:
        """Queue step t: per sample, rows R += G[R, S] diag(src_S) M_{t-1}[S] for the sources S
        (src != 0 and known); every known row decays through its scale; Mbar_t is added; the gradient
        M_t^T cbar_t is read. Counted: |R| |S| p_kept for the sources, one multiplication per known
        row for its decay (none without a decay), n p_kept for the gradient."""
        B, n, pk = self.M.shape
        if self.layout is None:
            self.layout = _ImmediateLayout(self.plan.columns, lin, n)
            edges = torch.tensor(self.tile_edges)  # where each tile's diagonal and dense entries begin
            self.bounds = [torch.searchsorted(c, edges).tolist() for c in (self.layout.diag[1], self.layout.dense[0])]
        rows_mask = torch.ones(B, n, dtype=torch.bool) if lin.rows is None else lin.rows
        sources = (lin.src != 0) & self.known
        decays = self.known.sum(-1) if lin.decay is not None else torch.zeros(B, dtype=torch.int64)
        n_sources, n_rows = sources.sum(-1), rows_mask.sum(-1)
        src_b, src_l = torch.nonzero(sources, as_tuple=True)
        source_weight = (lin.src * self.scale)[src_b, src_l]  # src_l s_l: M_{t-1}[l] = s_l Mstore[l]
        none = torch.zeros(B, n, dtype=torch.bool)
        restart, folding, fold_factor = none, none, self.M.new_zeros(0)
        if lin.decay is None:  # threshold RNN: every row is written afresh
            self.scale = torch.ones_like(self.scale)
        else:
            keep = self.known & (lin.decay != 0)
            restart = ~keep
            new_scale = torch.where(keep, self.scale * lin.decay, 1.0)
            folding = keep & ((new_scale.abs() < 1 / self.SCALE_LIMIT) | (new_scale.abs() > self.SCALE_LIMIT))
            fold_factor = new_scale[folding]
            new_scale[folding] = 1.0
            self.scale = new_scale
        inverse = 1.0 / self.scale
        J = lin.G[src_b, :, src_l] * source_weight[:, None] * inverse[src_b]
        (restart, restart_off), (fold, fold_off) = _flat(restart), _flat(folding)
        self.queue.append(
            _Step(
                *(src_l, _offsets_of(n_sources), J, restart, restart_off, fold, fold_factor, fold_off),
                *_flat(none if lin.rows is None else rows_mask),
                clear=lin.decay is None,
                all_rows=lin.rows is None,
                **self.layout.step_inputs(lin, self._dense_S_buffer(lin)),
                inverse=inverse,
                weight=(cbar * self.scale).contiguous(),
            )
        )
        self.known = rows_mask.clone()
        return {
            "influence_macs": n_rows * n_sources * pk + decays,
            "rescale_macs": folding.sum(-1) * pk,
            "immediate_macs": self.plan.formed(lin),
            "gradient_macs": torch.full((B,), n * pk),
            "influence_stored": self.known.sum(-1) * pk,
        }

    def _dense_S_buffer(self, lin: Linearization) -> torch.Tensor:
        """The queue slot's buffer for the dense blocks' S: a fresh tensor of megabytes every step
        would cost more in page faults than its copy."""
        slot = len(self.queue)
        if slot == len(self._dense_S):
            B, n, _ = self.M.shape
            self._dense_S.append(self.M.new_empty(B, n, sum(lin.sens[k].S.shape[2] for k in self.layout.dense_S)))
        return self._dense_S[slot]

    def flush(self) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
        """Apply the queued steps; returns sum_t sum_b M_t,b^T cbar_t,b over the full layout [p] and,
        when measuring, each step's non-zero entries per sample."""
        B = self.M.shape[0]
        steps, self.queue = self.queue, []
        grads = self.M.new_zeros(B, self.p_kept)
        nonzero = torch.zeros(len(steps), B, dtype=torch.int64) if self.measure_nonzero else torch.zeros(0)
        fields = [[getattr(s, f.name) for s in steps] for f in dataclasses.fields(_Step)]
        sparse_walk().walk(
            self.M, grads, nonzero, self.tile_edges, [*self.layout.diag, *self.layout.dense[:2]], *self.bounds, *fields
        )
        full = self.M.new_zeros(self.params.p_total)
        full[self.params.kept_index] = grads.sum(0)
        return full, (list(nonzero) if self.measure_nonzero else None)

    def kept(self) -> torch.Tensor:
        """M_t over the kept columns, [B, n, p_kept]."""
        return self.M * self.scale[:, :, None]

    @property
    def storage_bytes(self) -> int:
        return self.M.numel() * self.M.element_size()
