"""rtl.core.memory's account of the core's memories against the elaborated design: every memory
Amaranth elaborates in EGRUCore, with its depth and width, and nothing else, for several shapes."""

from __future__ import annotations

import pytest
from amaranth import Shape
from amaranth.hdl import Fragment
from amaranth.hdl._mem import MemoryInstance

from rtl.blocks.params import egru_columns
from rtl.core.egru_core import EGRUCore
from rtl.core.memory import core_memories, core_memory_bits
from rtl.core.params import CoreParams


def elaborated_memories(p: CoreParams) -> dict[tuple[str, str], tuple[int, int]]:
    found = {}

    def walk(fragment, path):
        for sub, name, _ in fragment.subfragments:
            if isinstance(sub, MemoryInstance):
                found[(path[0], name)] = (sub._data.depth, Shape.cast(sub._data.shape).width)
            else:
                walk(sub, [*path, name])

    walk(Fragment.get(EGRUCore(p), None), [])
    return found


@pytest.mark.parametrize("n,n_in,omega,lanes,batch", [(8, 2, 0.5, 4, 32), (5, 3, 0.0, 3, 1), (16, 2, 0.9, 8, 4)])
def test_core_memories_are_the_elaborated_ones(n, n_in, omega, lanes, batch):
    p = CoreParams(n, n_in, egru_columns(n, n_in, omega), 17, batch, lanes=lanes)
    assert core_memories(p) == elaborated_memories(p)
    bits = core_memory_bits(p)
    assert bits["total"] == sum(d * w for d, w in core_memories(p).values())
    assert bits["influence"] > bits["update"] > 0
