"""Cycles of the RTL influence-update block (rtl.blocks.cycles, DESIGN.md contract 3) for a cell's exact
sparse RTRL, in expectation from mean densities: what `costmodel eval --workload` reports beside the
operation counts.

For the EGRU and the GRU every row of M is computed (rows = n) and the block has a decay term, so its
cycle function is linear in the number of active source units s_t:
    cycles_t = influence_cycles(n, P, L, rows = n, sources = s_t)
with s_0 = 0 (M_0 = 0) and E[s_t] = (1 - beta) n for t >= 1 (the GRU: n), and the expectation is
the function at the expected count. The threshold RNN's cycles depend on rows x sources jointly and
are not modelled here.
"""

from __future__ import annotations

from costmodel.errors import UserError
from costmodel.exact import CellShape
from rtl.blocks.cycles import influence_cycles
from rtl.blocks.params import InfluenceParams


def compacted_columns(cell: str, n: int, n_in: int, omega: float) -> int:
    """P: the cell's parameters with round(omega n^2) entries masked in each recurrent matrix."""
    shape = CellShape(cell, n, n_in)
    masked = round(omega * n * n)
    return sum(r * c - (masked if maskable else 0) for _, r, c, maskable, _ in shape.blocks())


def expected_influence_cycles(cell: str, n: int, n_in: int, T: int, beta: float, omega: float, lanes: int) -> float:
    """Mean cycles per step of InfluenceUpdate over T steps (see the module doc)."""
    if cell == "trnn":
        raise UserError("cell: the threshold RNN's influence cycles depend on rows and sources jointly; egru or gru")
    P = compacted_columns(cell, n, n_in, omega)
    p = InfluenceParams(n=n, columns=P, lanes=min(lanes, P), decay=True)
    later = (1 - beta) * n if cell == "egru" else float(n)
    return (influence_cycles(p, n, 0) + (T - 1) * influence_cycles(p, n, later)) / T
