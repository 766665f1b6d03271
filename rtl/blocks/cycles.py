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
    inclusive: 1 x + n records + 1 header (cycle 0), then two sequencers side by side. The setup
    sequencer claims row buffer k (mod 2) at a_k, once the Mbar sequencer has finished row k - 2,
    and takes R = linearise_row_cycles cycles; setup done is seen at a_k + R. The Mbar sequencer
    sends row k's chunks words in cycles e_k .. f_k = e_k + chunks - 1, starting right after row
    k - 1 if the setup of row k was done by then, else one cycle after it is seen:

        a_0 = 1,  a_k = max(a_{k-1} + R, f_{k-2} + 1)
        e_0 = a_0 + R + 1,  e_k = f_{k-1} + 1 if a_k + R <= f_{k-1} else max(f_{k-1} + 1, a_k + R) + 1

    and the end word goes at f_{n-1} + 1, n + 1 cycles after x."""
    R, C = linearise_row_cycles(events, sources), p.chunks
    a: list[int] = []
    f: list[int] = []
    for k in range(p.n):
        a.append(1 if k == 0 else max(a[-1] + R, (f[k - 2] + 1) if k >= 2 else 0))
        done = a[k] + R
        if k == 0:
            e = done + 1
        elif done <= f[-1]:
            e = f[-1] + 1
        else:
            e = max(f[-1] + 1, done) + 1
        f.append(e + C - 1)
    return (p.n + 1) + f[-1] + 1 + 1


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
