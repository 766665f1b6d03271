"""On-chip memory of the RTL core (EGRUCore), memory by memory, from its parameters (pure Python, no
Amaranth): what the cost model prices as the core's storage. Registers are not counted. With
b(k) = bits_for(k), L lanes, C = ceil(P / L) words per row of M, Q = P + n + 1 master words:

    input       W_g[:, j] and b_g: 3 n_in + 3 memories of n words (weight, pre)
    accumulate  3 n^2 words {slot, gate, weight, valid} (one lane: laid out by mask, any mask fits),
                a column table of 2 n entries {start, count}, a sigmoid table
    cell        sigmoid and tanh tables (2^lut_bits words at gate)
    linearise   dense V_u, V_r, V_z (n^2 words each), C words of L column descriptors {block, m, j}
    influence   two banks of n C words of L values, n 2^b(n + 1) coefficients
    gradient    C words of L exact sums
    readout     a sigmoid table
    update      master and momentum words (Q), P column descriptors {block, m, j, addr}, a sigmoid table

tests/test_rtl_core_memory.py finds the same memories, the same depths and widths, in the
elaborated design."""

from __future__ import annotations

from golden.fixedpoint import bits_for
from rtl.core.params import CoreParams


def core_memories(p: CoreParams) -> dict[tuple[str, str], tuple[int, int]]:
    """(unit, memory) -> (depth, width) of every memory of the core."""
    fp, n, n_in, L = p.fp, p.n, p.n_in, p.lanes
    C, P, Q = p.influence.chunks, p.columns, p.update.parameters
    table = (1 << fp.lut_bits, fp.gate.width)
    acc = p.accumulate
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for g in "urz":
        for j in range(n_in):
            out[("input", f"W_{g}{j}")] = (n, fp.weight.width)
    for g in "urz":
        out[("input", f"b_{g}")] = (n, fp.pre.width)
    out[("accumulate", "words")] = (acc.weight_depth, acc.slot_bits + 2 + fp.weight.width + 1)
    out[("accumulate", "columns")] = (2 * n, bits_for(acc.weight_depth + 1) + bits_for(acc.words_pass1 + 1))
    out[("accumulate", "sigmoid")] = table
    out[("cell", "sigmoid")] = table
    out[("cell", "tanh")] = table
    for g in "urz":
        out[("linearise", f"V_{g}")] = (n * n, fp.weight.width)
    descriptor = bits_for(16) + bits_for(n) + bits_for(max(n, n_in))  # block codes 0 .. 15
    out[("linearise", "columns")] = (C, L * descriptor)
    for bank in ("bank0", "bank1"):
        out[("influence", bank)] = (n * C, L * fp.influence.width)
    out[("influence", "coefs")] = (n << p.influence.term_bits, fp.coef.width)
    out[("gradient", "acc")] = (C, L * p.gradient.acc_width)
    out[("readout", "sigmoid")] = table
    out[("update", "master")] = (Q, fp.master.width)
    out[("update", "momentum")] = (Q, fp.grad.width)
    upd = p.update
    out[("update", "columns")] = (P, 4 + bits_for(n + 1) + bits_for(max(n, n_in)) + bits_for(upd.accumulate_depth))
    out[("update", "sigmoid")] = table
    return out


def core_memory_bits(p: CoreParams) -> dict[str, int]:
    """Bits per unit and "total"."""
    out: dict[str, int] = {}
    for (unit, _), (depth, width) in core_memories(p).items():
        out[unit] = out.get(unit, 0) + depth * width
    out["total"] = sum(out.values())
    return out
