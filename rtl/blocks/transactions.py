"""What each block's streams carry for one step, from integer (fixed-point) inputs, and how to read
results back. Pure Python (no Amaranth): the Amaranth tests and the cocotb testbenches both drive the
blocks with these transactions and check them against golden.fixedpoint."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from golden.errors import UserError
from golden.fixed_cell import CellStep
from golden.fixed_linearise import BLOCKS, Column, LinearStep
from golden.fixedpoint import bits_for
from rtl.blocks.params import AccumulateParams, InfluenceParams, LinearizeParams

PAD = (1 << bits_for(len(BLOCKS) + 1)) - 1  # LinearizeUnit's block code of a column past the last


@dataclass
class InfluenceTransactions:
    """One step of InfluenceUpdate: the header, the setup elements and the Mbar words (end last)."""

    header: dict
    setup: list[dict]
    mbar: list[dict]


def influence_transactions(
    p: InfluenceParams,
    decay: np.ndarray | None,
    sources: np.ndarray,
    d_src: np.ndarray,
    G_cols: np.ndarray,
    Mbar: np.ndarray,
    rows: np.ndarray,
    first: bool,
    every_word: bool = False,
) -> InfluenceTransactions:
    """Stream contents for one step (integers in the block's formats, as golden.fixedpoint.influence_step
    takes them). Mbar words are sent only where they hold a non-zero value, or all (every_word)."""
    n, L = p.n, p.lanes
    if (decay is not None) != p.decay:
        raise UserError(
            f"decay: the block was built with decay={p.decay}, "
            f"but the step {'has' if decay is not None else 'lacks'} a decay vector"
        )
    if Mbar.shape != (n, p.columns):
        raise UserError(f"Mbar: shape {Mbar.shape}, expected ({n}, {p.columns}) (n, columns)")
    setup = []
    for k in np.nonzero(rows)[0]:
        if decay is not None:
            setup.append({"g": int(decay[k]), "d": 0, "src": 0, "decay": 1})
        setup += [
            {"g": int(G_cols[k, i]), "d": int(d_src[i]), "src": int(src), "decay": 0} for i, src in enumerate(sources)
        ]
    padded = np.zeros((n, p.chunks * L), dtype=np.int64)
    padded[:, : p.columns] = Mbar
    words = []
    for k in np.nonzero(rows)[0]:
        for c in range(p.chunks):
            values = padded[k, c * L : (c + 1) * L]
            if every_word or np.any(values):
                words.append({"row": int(k), "chunk": c, "values": [int(v) for v in values], "end": 0})
    words.append({"row": 0, "chunk": 0, "values": [0] * L, "end": 1})
    header = {
        "rows": int(sum(1 << int(k) for k in np.nonzero(rows)[0])),
        "terms": len(sources) + (1 if decay is not None else 0),
        "first": int(first),
    }
    return InfluenceTransactions(header, setup, words)


def influence_matrix(p: InfluenceParams, words: list[list[int]], row_valid: int) -> np.ndarray:
    """M [n, P] from the block's readback words (address row * chunks + chunk) and row_valid."""
    flat = np.asarray(words, dtype=np.int64).reshape(p.n, p.chunks * p.lanes)[:, : p.columns]
    valid = np.array([(row_valid >> k) & 1 for k in range(p.n)], dtype=bool)
    return np.where(valid[:, None], flat, 0)


def accumulate_columns(V: dict[str, np.ndarray], lanes: int) -> tuple[list[list[list]], list[list[list]]]:
    """Column-compressed weights, packed into words of `lanes` entries: lane i holds only rows
    k = i (mod lanes), as entries (slot = k // lanes, gate code, weight), or None where a lane has
    nothing left. Pass 1 holds V_u's and V_r's non-zero weights of each column, pass 2 V_z's; zero
    (masked) weights are left out. Returns, per pass, per column j, its list of words."""
    codes = {"u": 0, "r": 1, "z": 2}
    n = V["u"].shape[0]

    def column(gates: str, j: int) -> list[list]:
        per_lane = [
            [(k // lanes, codes[g], int(V[g][k, j])) for g in gates for k in range(lane, n, lanes) if V[g][k, j] != 0]
            for lane in range(lanes)
        ]
        depth = max(len(entries) for entries in per_lane)
        return [[entries[w] if w < len(entries) else None for entries in per_lane] for w in range(depth)]

    return [column("ur", j) for j in range(n)], [column("z", j) for j in range(n)]


def accumulate_words(p: AccumulateParams, V: dict[str, np.ndarray]) -> tuple[list[int], list[int]]:
    """Words per column and pass (what rtl.blocks.cycles.accumulate_cycles counts)."""
    pass1, pass2 = accumulate_columns(V, p.lanes)
    return [len(c) for c in pass1], [len(c) for c in pass2]


def accumulate_load(p: AccumulateParams, V: dict[str, np.ndarray]) -> list[dict]:
    """Load transactions for EventAccumulator: the weight words (accumulate_columns; empty lanes
    valid = 0), then the column table entries (start word, word count) at pass * n + j."""
    for g in "urz":
        if V[g].shape != (p.n, p.n):
            raise UserError(f"V_{g}: shape {V[g].shape}, expected ({p.n}, {p.n})")
        if np.abs(V[g]).max(initial=0) > -p.fp.weight.min:
            raise UserError(f"V_{g}: values exceed the weight format {p.fp.weight}")
    empty = {"slot": 0, "gate": 0, "weight": 0, "valid": 0}
    loads, table, addr = [], [], 0
    for columns in accumulate_columns(V, p.lanes):
        for words in columns:
            table.append({"start": addr, "count": len(words)})
            for word in words:
                entries = [
                    empty if e is None else {"slot": e[0], "gate": e[1], "weight": e[2], "valid": 1} for e in word
                ]
                loads.append({"columns": 0, "addr": addr, "word": entries, "column": {"start": 0, "count": 0}})
                addr += 1
    blank = [empty] * p.lanes
    loads += [{"columns": 1, "addr": i, "word": blank, "column": entry} for i, entry in enumerate(table)]
    return loads


def linearise_columns(p: LinearizeParams, layout: list[Column]) -> list[dict]:
    """The compacted layout in LinearizeUnit's words of L column descriptors {block, m, j}: the
    block code golden.fixed_linearise.BLOCKS' index, PAD past the last column."""
    if layout[-1].stop != p.columns:
        raise UserError(f"columns: the layout has {layout[-1].stop} columns; the unit was built for {p.columns}")
    flat = [{"block": PAD, "m": 0, "j": 0}] * (p.chunks * p.lanes)
    for col in layout:
        code = BLOCKS.index(col.name)
        for q, (m, j) in enumerate(zip(col.m, col.j, strict=True)):
            flat[col.start + q] = {"block": code, "m": int(m), "j": int(j)}
    return [{"chunk": c, "columns": flat[c * p.lanes : (c + 1) * p.lanes]} for c in range(p.chunks)]


def linearise_load(p: LinearizeParams, V: dict[str, np.ndarray], theta: np.ndarray, layout: list[Column]) -> dict:
    """LinearizeUnit's configuration: {"weight": V_u, V_r, V_z entry by entry (masked entries 0),
    "theta": theta by unit, "columns": linearise_columns}."""
    weights = [
        {"gate": i, "row": k, "col": j, "value": int(V[g][k, j])}
        for i, g in enumerate("urz")
        for k in range(p.n)
        for j in range(p.n)
    ]
    thetas = [{"index": k, "theta": int(v)} for k, v in enumerate(theta)]
    return {"weight": weights, "theta": thetas, "columns": linearise_columns(p, layout)}


def cell_records(step: CellStep) -> list[dict]:
    """The CellUnit's records of one step (rtl.blocks.cell.record_layout), unit by unit."""
    names = ("u", "r", "z", "c", "o", "y", "dH", "d", "su", "sr", "dz")
    return [{"index": k, **{name: int(getattr(step, name)[k]) for name in names}} for k in range(len(step.c))]


def linearise_transactions(p: LinearizeParams, lin: LinearStep, first: bool) -> InfluenceTransactions:
    """What LinearizeUnit sends the InfluenceUpdate for one step of golden.fixed_linearise: every
    row, the decay term, the active sources (d' != 0) ascending, every Mbar word."""
    sources = np.nonzero(lin.d_prev)[0]
    rows = np.ones(p.n, dtype=bool)
    return influence_transactions(
        p.influence, lin.decay, sources, lin.d_prev[sources], lin.G[:, sources], lin.Mbar, rows, first, every_word=True
    )


def accumulate_mask_load(n: int, masks: dict[str, np.ndarray]) -> tuple[list[dict], dict[tuple[str, int, int], int]]:
    """The core's EventAccumulator (one lane) laid out by the masks rather than by values, so an
    updated weight keeps its word whatever its value: column j of pass 1 holds the kept entries of
    V_u[:, j] then V_r[:, j], of pass 2 those of V_z[:, j], rows ascending (accumulate_columns' order).
    Returns the column table's load transactions and the word address of every kept (gate, k, j);
    the words themselves are written by the UpdateUnit."""
    table, address, addr = [], {}, 0
    for gates in ("ur", "z"):
        for j in range(n):
            start = addr
            for g in gates:
                for k in range(n):
                    if masks[f"V_{g}"][k, j]:
                        address[(g, k, j)] = addr
                        addr += 1
            table.append({"start": start, "count": addr - start})
    blank = [{"slot": 0, "gate": 0, "weight": 0, "valid": 0}]
    loads = [{"columns": 1, "addr": i, "word": blank, "column": entry} for i, entry in enumerate(table)]
    return loads, address


def master_vector(master: dict[str, np.ndarray], layout: list[Column]) -> list[int]:
    """The master words in the UpdateUnit's order: the compacted columns (tau for theta), w_out, b_out."""
    flat: list[int] = []
    for col in layout:
        name = "tau" if col.name == "theta" else col.name
        values = master[name][col.m, col.j] if name[0] in "WV" else master[name][col.m]
        flat += [int(v) for v in values]
    return flat + [int(v) for v in master["w_out"]] + [int(v) for v in np.reshape(master["b_out"], -1)]


def update_load(
    master: dict[str, np.ndarray], layout: list[Column], address: dict[tuple[str, int, int], int]
) -> list[dict]:
    """UpdateUnit's load transactions: every master word with its column {block, m, j, addr} (the
    EventAccumulator word of a V entry; zeros for w_out and b_out, which the unit knows by index)."""
    flat = master_vector(master, layout)
    columns = [{"block": 0, "m": 0, "j": 0, "addr": 0}] * len(flat)
    for col in layout:
        kind, gate = col.name[0], col.name[-1]
        for i, (m, j) in enumerate(zip(col.m, col.j, strict=True)):
            addr = address[(gate, int(m), int(j))] if kind == "V" else 0
            columns[col.start + i] = {"block": BLOCKS.index(col.name), "m": int(m), "j": int(j), "addr": addr}
    return [{"index": q, "master": value, "column": columns[q]} for q, value in enumerate(flat)]


def forward_words(words, layout: list[Column], address: dict[tuple[str, int, int], int]) -> list[dict]:
    """What the UpdateUnit emits for golden.fixed_step.Words, in its order: {block, m, j, addr, value}
    per compacted column (theta for the theta block), then w_out (block len(BLOCKS)), b_out (+1)."""
    out = []
    for col in layout:
        code = BLOCKS.index(col.name)
        for m, j in zip(col.m, col.j, strict=True):
            m, j = int(m), int(j)
            kind, gate = col.name[0], col.name[-1]
            if kind == "W":
                value = words.W[gate][m, j]
            elif kind == "V":
                value = words.V[gate][m, j]
            elif kind == "b":
                value = words.b[gate][m]
            else:
                value = words.theta[m]
            addr = address.get((gate, m, j), 0) if kind == "V" else 0
            out.append({"block": code, "m": m, "j": j, "addr": addr, "value": int(value)})
    n = len(words.w_out)
    out += [{"block": len(BLOCKS), "m": k, "j": 0, "addr": 0, "value": int(v)} for k, v in enumerate(words.w_out)]
    out.append({"block": len(BLOCKS) + 1, "m": n, "j": 0, "addr": 0, "value": int(words.b_out[0])})
    return out
