"""Cycle functions of the RTL blocks (DESIGN.md contract 3): cycles per step from the step's
sparsity pattern and the block's parameters, with no backpressure (the blocks report stalls
separately). Pure Python, no Amaranth: the cost model imports these. Tests compare them with the
cycles measured in simulation on every test trace."""

from __future__ import annotations

from collections.abc import Sequence

from rtl.blocks.params import (
    AccumulateParams,
    CellUnitParams,
    GradientParams,
    InfluenceParams,
    InputParams,
    LinearizeParams,
    ReadoutParams,
    RouterParams,
    UpdateParams,
)


def influence_cycles(p: InfluenceParams, rows: int, sources: int) -> int:
    """InfluenceUpdate, one step (terms = sources + decay term, rows = rows computed):
    1 header + 1 first-row pick + (terms - 1) waiting for the first row's coefficients
    + rows * chunks * max(terms, 1) issue cycles + 2 draining the multiply and write stages (when
    any row was issued) + 1 Mbar end word + 1 done. The other rows' setup overlaps the issue."""
    terms = sources + (1 if p.decay else 0)
    if not rows:
        return 4
    return 4 + max(terms - 1, 0) + rows * p.chunks * max(terms, 1) + 2


def influence_lane_macs(p: InfluenceParams, rows: int, sources: int) -> int:
    """Useful lane MACs of one step: every computed row, every column, every term."""
    return rows * p.columns * (sources + (1 if p.decay else 0))


def influence_utilisation(p: InfluenceParams, rows: int, sources: int) -> float:
    """Fraction of lane-cycles doing a useful MAC: lane MACs / (L * cycles)."""
    return influence_lane_macs(p, rows, sources) / (p.lanes * influence_cycles(p, rows, sources))


def router_cycles(p: RouterParams, nonzero: Sequence[bool]) -> int:
    """EventRouter, one step: 1 cycle taking y + max over lanes of (events in the lane + 1 marker)."""
    return 1 + max(sum(1 for k in p.lane_units(lane) if nonzero[k]) + 1 for lane in range(p.lanes))


def accumulate_cycles(
    p: AccumulateParams, events: Sequence[int], words_pass1: Sequence[int], words_pass2: Sequence[int]
) -> int:
    """EventAccumulator, one step: 1 init + per event (1 + max(words of its pass-1 column, 1))
    + 1 end marker + [when there were events: per event (1 + max(words of its pass-2 column, 1)) + 1]
    + 1 out. words_pass*[j]: words of column j (rtl.blocks.transactions.accumulate_words: the most
    non-zero weights any lane holds in the column, lane i holding rows k = i mod L)."""
    cost1 = sum(1 + max(words_pass1[j], 1) for j in events)
    cost2 = sum(1 + max(words_pass2[j], 1) for j in events)
    return 1 + cost1 + 1 + ((cost2 + 1) if len(events) else 0) + 1


def cell_cycles(p: CellUnitParams) -> int:
    """CellUnit, one step: 1 taking `pre` + per unit 1 reading its table words and 1 computing its
    record + 1 offering `y`. The same for every step: the unit's work does not depend on events."""
    return 2 + 2 * p.n


def linearise_row_cycles(events: int, sources: int) -> int:
    """LinearizeUnit's setup sequencer, one row k: 1 claiming a row buffer + 1 decay element
    + (events + 1) forming A_r[k, m] for the events m + per source (1 + (1 + events) + 1) forming
    G[k, l] from its terms and offering it + 1 closing the row."""
    return events + 4 + sources * (events + 3)


def linearise_cycles(p: LinearizeParams, events: int, sources: int) -> int:
    """LinearizeUnit, one step with no backpressure, from taking x to handing over Mbar's end word,
    inclusive: 1 x + n records + 1 header, then two sequencers in step. The setup sequencer's row k
    (linearise_row_cycles, R) waits for its row buffer: the Mbar sequencer must have finished row
    k - 2; Mbar's row k (1 wait + chunks words) waits for the setup of row k. With a_k the cycle the
    setup of row k starts (after the header at cycle 0) and e_k the cycle Mbar's row k starts:

        a_0 = 1,  a_k = max(a_{k-1} + R, e_{k-2} + chunks + 1),   e_k = max(e_{k-1} + chunks + 1, a_k + R)

    (e_{-1} = -chunks), and the end word is taken at e_{n-1} + chunks + 1, n + 1 cycles after x."""
    R, C = linearise_row_cycles(events, sources), p.chunks
    a: list[int] = []
    e: list[int] = []
    for k in range(p.n):
        start = 1 if k == 0 else a[-1] + R
        if k >= 2:
            start = max(start, e[k - 2] + C + 1)
        a.append(start)
        e.append(max((e[-1] + C + 1) if e else 1, start + R))
    return (p.n + 1) + e[-1] + C + 1 + 1


def gradient_clear_cycles(p: GradientParams) -> int:
    """GradientUnit: zeroing the accumulators takes one cycle per word (chunks). Accumulating adds
    no cycles: it follows the InfluenceUpdate's writes, one word per cycle."""
    return p.chunks


def input_cycles(p: InputParams) -> int:
    """InputUnit, one step: 1 taking x + n units (one per cycle, 3 n_in multipliers) + 1 offering
    the input parts."""
    return 2 + p.n


def readout_cycles(p: ReadoutParams, last: bool, learn: bool) -> int:
    """ReadoutUnit, one step, from taking its header to the last handshake, inclusive, with c
    arriving one word per cycle: not the last step, 1 + 1 (zero credit, when learning) or 1; the last
    step 1 + n (c) + 1 (pred) + [1 (e) + n (credit_k) + 1 (credit), when learning]. The unit takes
    the next header the cycle after."""
    if not last:
        return 2 if learn else 1
    return 2 + p.n + ((p.n + 2) if learn else 0)


def update_cycles(p: UpdateParams) -> int:
    """UpdateUnit, one pass with no backpressure, from taking start to the last word, inclusive:
    1 + 3 cycles per parameter (read, compute, offer), P + n + 1 parameters."""
    return 1 + 3 * p.parameters
