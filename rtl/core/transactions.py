"""What the core's streams carry, from the integer trainer's state (pure Python, no Amaranth): the
configuration of a network and the inputs of its sequences."""

from __future__ import annotations

import zlib

import numpy as np

from golden.fixed_linearise import compacted_layout
from rtl.blocks.transactions import accumulate_mask_load, linearise_columns, update_load
from rtl.core.params import CoreParams

LOAD_MASTER, LOAD_TABLE, LOAD_COLUMNS = 0, 1, 2  # the targets of rtl.core.egru_core's `load`


def core_load(p: CoreParams, master: dict[str, np.ndarray], masks: dict[str, np.ndarray]) -> list[dict]:
    """The core's load transactions for a network's master words (golden.fixed_step.IntegerLearner's)
    and its masks of V_u, V_r, V_z: every master word with its column, the EventAccumulator's column
    table laid out by mask, the LinearizeUnit's compacted columns. `init` follows."""
    layout = compacted_layout(p.n, p.n_in, masks)
    table, address = accumulate_mask_load(p.n, masks)
    loads = [{"target": LOAD_MASTER, "body": {"master": entry}} for entry in update_load(master, layout, address)]
    loads += [{"target": LOAD_TABLE, "body": {"table": entry}} for entry in table]
    loads += [{"target": LOAD_COLUMNS, "body": {"columns": w}} for w in linearise_columns(p.linearise, layout)]
    return loads


def master_crc(master_words: list[int]) -> int:
    """CRC-32 (zlib's) of master words, each sign-extended to 32 bits and taken as 4 bytes,
    little-endian: what the board self-test forms from the words it reads back."""
    return zlib.crc32(b"".join((m & 0xFFFFFFFF).to_bytes(4, "little") for m in master_words))
