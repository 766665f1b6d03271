"""The immediate influence Mbar_t of every parameter block, laid out in M's columns (dense or sparse
layout), its batched addition to M and the count of its entries formed."""

from __future__ import annotations

import torch

from golden.cells import Linearization
from golden.params import CellParams


class ImmediatePlan:
    """Where each parameter entry's immediate influence lands in M's columns, and how to add it.

    compact=True: only kept entries, numbered consecutively (sparse layout); compact=False: every
    entry at its flat index (dense layout). Either way a block's columns are one contiguous range.
    The sparse layout also counts, per sample, only the entries of a dense block (one reaching every
    unit, the EGRU's and GRU's V_r) whose operand, the previous output, is non-zero: the sparse engine
    skips the others, which add nothing.
    """

    def __init__(self, params: CellParams, compact: bool):
        self.skip_silent = compact
        self.columns: dict[str, tuple[torch.Tensor, torch.Tensor, slice]] = {}
        self.complete: dict[str, tuple[int, int]] = {}  # blocks with every entry present: (rows, cols)
        start = 0
        for block in params.blocks:
            mask = params.mask(block.name).reshape(-1)
            local = torch.nonzero(mask).flatten() if compact else torch.arange(block.size)
            begin = start if compact else block.offset
            self.columns[block.name] = (local // block.cols, local % block.cols, slice(begin, begin + local.numel()))
            if local.numel() == block.size:
                self.complete[block.name] = (block.rows, block.cols)
            start += local.numel()
        self._diagonal: tuple[torch.Tensor, ...] | None = None

    def formed(self, lin: Linearization) -> torch.Tensor:
        """Entries of Mbar_t formed per sample [B]: one per entry of a diagonal block (a parameter
        acting on its own unit), n per entry of a dense one; where silent units are skipped, n per
        entry of a dense block whose operand (a previous output) is non-zero."""
        B, n = lin.src.shape
        formed = torch.zeros(B, dtype=torch.int64)
        for name, (m_idx, j_idx, _) in self.columns.items():
            s = lin.sens[name]
            if s.diagonal:
                formed += m_idx.numel()
            elif self.skip_silent and s.event_operand:
                formed += (s.operand[:, j_idx] != 0).sum(-1) * n
            else:
                formed += n * m_idx.numel()
        return formed

    def add(self, M: torch.Tensor, lin: Linearization) -> None:
        """M += Mbar_t, every block batched over the samples."""
        if not M.is_contiguous():
            raise ValueError("ImmediatePlan.add: M must be contiguous (its blocks are addressed by strides)")
        B = M.shape[0]
        diagonal = [name for name in self.columns if lin.sens[name].diagonal]
        for name in (name for name in diagonal if name in self.complete):
            # entry (k, j) lands in row k at column start + k cols + j: a strided view of M, no gathers
            s, (rows, width), start = lin.sens[name], self.complete[name], self.columns[name][2].start
            view = M.as_strided((B, rows, width), (M.stride(0), M.stride(1) + width, 1), M.storage_offset() + start)
            view.addcmul_(s.S[:, :, None], s.operand[:, None, :])
        gathered = [name for name in diagonal if name not in self.complete]
        if gathered:
            S = torch.stack([lin.sens[name].S for name in gathered], dim=1)  # [B, blocks, n]
            operands = torch.cat([lin.sens[name].operand for name in gathered], dim=1)
            block_id, m, j, cols = self._diagonal_plan(gathered, lin)
            M.view(B, -1).index_add_(1, m * M.shape[2] + cols, S[:, block_id, m] * operands[:, j])
        for name, (m_idx, j_idx, cols) in self.columns.items():
            s = lin.sens[name]
            if s.diagonal:
                continue
            if name in self.complete:  # the whole (rows x cols) grid: an outer product, no gathers
                rows, width = self.complete[name]
                view = M[:, :, cols].unflatten(2, (rows, width))
                view.addcmul_(s.S[:, :, :, None], s.operand[:, None, None, :])
            else:
                M[:, :, cols].addcmul_(s.S[:, :, m_idx], s.operand[:, None, j_idx])

    def _diagonal_plan(self, diagonal: list[str], lin: Linearization) -> tuple[torch.Tensor, ...]:
        """Concatenated (block, row, operand index, column) of every entry of the diagonal blocks
        with masked entries (the complete ones are added through a strided view)."""
        if self._diagonal is None:
            parts, operand_offset = [], 0
            for i, name in enumerate(diagonal):
                m_idx, j_idx, cols = self.columns[name]
                columns = torch.arange(cols.start, cols.stop)
                parts.append((torch.full_like(m_idx, i), m_idx, j_idx + operand_offset, columns))
                operand_offset += lin.sens[name].operand.shape[1]
            self._diagonal = tuple(torch.cat(col) for col in zip(*parts))
        return self._diagonal
