"""Cycle function of the online-learning core (DESIGN.md contract 3; pure Python, no Amaranth): the
cycles of one step of EGRUCore from its sparsity pattern and parameters, with no backpressure (the
inputs offered and `pred` taken at once). The cost model prices the core through these functions
and the tests compare them with the cycles measured on every step.

A step's timeline, from taking x_t (cycle 0):
    input part      n + 2 cycles: the accumulator takes init at n + 1
    accumulator     accumulate_cycles (events of y_{t-1}, words of their columns): pre at P0
    cell unit       2 cycles per unit: the last record at P0 + 2n, y at P0 + 2n + 1
    readout         at the last step: c with the records, pred at P0 + 2n + 1, credit at P0 + 3n + 3
    linearisation   its header to the InfluenceUpdate at h: P0 + 2n + 1, or at the last step
                    once the credit is held, P0 + 3n + 4
    influence       coupled_cycles from h to done, inclusive
    the sequencer   sees done a cycle later and offers x_{t+1} the cycle after that
Predicting only, the step ends with y (or pred): 2 cycles after the last record.
An update adds the UpdateUnit's pass and the GradientUnit's clear, 2 cycles each around them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rtl.blocks.cycles import accumulate_cycles, gradient_clear_cycles, linearise_row_cycles, update_cycles
from rtl.core.params import CoreParams


def coupled_cycles(p: CoreParams, events: int, sources: int) -> int:
    """LinearizeUnit feeding the InfluenceUpdate, from the step header (cycle 0) to the
    InfluenceUpdate's done, inclusive, row by row. With R = linearise_row_cycles, terms = sources +
    1 and CT = chunks x terms:

    setup     row k claims its buffer at a_k = max(a_{k-1} + R, X_{k-2} + 1) (a_0 = 1: the Mbar
              sequencer must be done with row k - 2), hands over its last element at L_k (a_k + 1
              with no sources, else a_k + events + 2 + sources (events + 3)); done is seen at
              D_k = a_k + R
    influence issues row k from I_k = max(I_{k-1} + CT + s_{k-1}, L_k + 1) (I_0 = max(2, L_0 + 1)),
              one (chunk, term) a cycle; chunk 0's sum reaches the write stage at I_k + terms + 1
              and waits s_k cycles for Mbar's first word of the row, the whole pipeline with it
    Mbar      offers row k's first word at P_k: X_{k-1} + 1 if D_k <= X_{k-1}, else
              max(X_{k-1} + 1, D_k) + 1 (P_0 = max(1, D_0) + 1); then a word a cycle as they are
              taken, the last at X_k = I_k + CT + 1 + s_k

    s_k = max(0, P_k - (I_k + terms + 1)); done comes 4 cycles after the last issue, I_{n-1} + CT - 1
    + s_{n-1} (multiply, write, Mbar's end word, done). Only row starts can wait: within a row Mbar
    offers each word the cycle after the last was taken, and the InfluenceUpdate takes at most one
    a cycle."""
    E, A = events, sources
    terms = A + 1
    R, CT = linearise_row_cycles(E, A), p.influence.chunks * terms
    a: list[int] = []
    X: list[int] = []
    issue = stall = 0
    for k in range(p.n):
        a.append(1 if k == 0 else max(a[-1] + R, (X[k - 2] + 1) if k >= 2 else 0))
        setup_done = a[k] + R
        last_element = a[k] + 1 if A == 0 else a[k] + E + 2 + A * (E + 3)
        issue = max(2 if k == 0 else issue + CT + stall, last_element + 1)
        if k == 0:
            first_word = max(1, setup_done) + 1
        elif setup_done <= X[-1]:
            first_word = X[-1] + 1
        else:
            first_word = max(X[-1] + 1, setup_done) + 1
        stall = max(0, first_word - (issue + terms + 1))
        X.append(issue + CT + 1 + stall)
    return issue + CT - 1 + stall + 4 + 1


def mask_words(p: CoreParams, masks: dict) -> tuple[list[int], list[int]]:
    """Words per column of the core's EventAccumulator (one lane, laid out by mask): the kept entries
    of V_u[:, j] and V_r[:, j] (pass 1), of V_z[:, j] (pass 2)."""
    kept = {g: [int(sum(1 for k in range(p.n) if masks[f"V_{g}"][k][j])) for j in range(p.n)] for g in "urz"}
    return [kept["u"][j] + kept["r"][j] for j in range(p.n)], kept["z"]


def core_step_cycles(
    p: CoreParams,
    events: Sequence[int],
    sources: int,
    words: tuple[list[int], list[int]],
    learn: bool,
    last: bool,
    update: bool,
) -> int:
    """EGRUCore, one step: from taking x_t to taking x_{t+1}, or after the sequence's last step to
    the core idle (module docstring). events: the units j with y_{t-1, j} != 0 (ascending);
    sources: the units with d_{t-1} != 0; words: mask_words; update: an update follows the step."""
    n = p.n
    pre = n + accumulate_cycles(p.accumulate, events, *words)  # P0: the cell unit takes pre
    if not learn:
        return pre + 2 * n + 3
    header = pre + 3 * n + 4 if last else pre + 2 * n + 1
    done = header + coupled_cycles(p, len(events), sources) - 1
    if update:
        return done + 4 + (update_cycles(p.update) - 1) + gradient_clear_cycles(p.gradient)
    return done + 2


def sequence_cycles(
    p: CoreParams, states: Sequence[tuple[np.ndarray, np.ndarray]], words, learn: bool, sample: int
) -> tuple[list[int], list[int]]:
    """core_step_cycles of every step of one sequence from its (y_t, d_t) per step (y_0 = d_0 = 0
    before the first), the batch's `sample`-th; and each step's active sources (d_{t-1} != 0)."""
    cycles, sources = [], []
    zero = np.zeros(p.n, dtype=np.int64)
    for t in range(p.steps):
        y_prev, d_prev = states[t - 1] if t else (zero, zero)
        events = [int(j) for j in np.nonzero(y_prev)[0]]
        sources.append(int(np.count_nonzero(d_prev)))
        update = learn and p.updates_after(t, sample)
        cycles.append(core_step_cycles(p, events, sources[-1], words, learn, t == p.steps - 1, update))
    return cycles, sources
