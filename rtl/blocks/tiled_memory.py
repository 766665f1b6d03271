"""A memory built from explicit RAM primitives (rtl.fpga.parts.Tiling), so that what synthesis makes of it,
and what it costs, follows from the tiling alone: each tile is one primitive, the read multiplexer
over the cascade (deep > 1) is ours.

    word a  ->  tile row r = a // tile_depth at address a % tile_depth, bits [c w, (c + 1) w) in tile
                column c; read data = row `sel` of the tiles, sel = the row of the last enabled read
"""

from __future__ import annotations

from amaranth import Array, Cat, Module, Shape, ShapeLike, Signal, Value, unsigned
from amaranth.lib import memory

from rtl.fpga.parts import Tiling


class TiledMemory:
    """`depth` words of `shape` as submodules `<name>_<row>_<column>` of `m` (just `<name>` when
    `tiling` is None: one memory, mapped as synthesis likes), with one read port (one cycle latency;
    data held while read_en = 0) and one write port; the tiles start at zero.

    Not a wiring.Component on purpose: its tiles are added to the enclosing module, so each keeps a
    flat name (bank0_2_1) that the synthesis scripts select by pattern (rtl.fpga.synth: ram_style, and
    dropping the banks' initial values) wherever the block sits in a design."""

    def __init__(self, m: Module, name: str, shape: ShapeLike, depth: int, tiling: Tiling | None) -> None:
        width = Shape.cast(shape).width
        tiling = tiling or Tiling(depth, width, depth, width)
        if (tiling.depth, tiling.width) != (depth, width):
            raise ValueError(f"{name}: tiling of {tiling.depth} x {tiling.width} for a {depth} x {width} memory")
        self.read_addr = Signal(range(depth), name=f"{name}_read_addr")
        self.read_en = Signal(name=f"{name}_read_en")
        self.read_data = Signal(shape, name=f"{name}_read_data")
        self.write_addr = Signal(range(depth), name=f"{name}_write_addr")
        self.write_data = Signal(shape, name=f"{name}_write_data")
        self.write_en = Signal(name=f"{name}_write_en")

        low_bits = (tiling.tile_depth - 1).bit_length() if tiling.deep > 1 else len(self.read_addr)
        rows = []
        for r in range(tiling.deep):
            tile_depth = min(tiling.tile_depth, depth - r * tiling.tile_depth)
            columns = []
            for c in range(tiling.wide):
                bits = slice(c * tiling.tile_width, min((c + 1) * tiling.tile_width, width))
                tile = memory.Memory(shape=unsigned(bits.stop - bits.start), depth=tile_depth, init=[])
                m.submodules[name if tiling.primitives == 1 else f"{name}_{r}_{c}"] = tile
                rd, wr = tile.read_port(), tile.write_port()
                here_rd = self.read_addr[low_bits:] == r if tiling.deep > 1 else 1
                here_wr = self.write_addr[low_bits:] == r if tiling.deep > 1 else 1
                m.d.comb += [
                    rd.addr.eq(self.read_addr[:low_bits]),
                    rd.en.eq(self.read_en & here_rd),
                    wr.addr.eq(self.write_addr[:low_bits]),
                    wr.data.eq(Value.cast(self.write_data)[bits]),
                    wr.en.eq(self.write_en & here_wr),
                ]
                columns.append(rd.data)
            rows.append(Cat(*columns))
        if tiling.deep == 1:
            m.d.comb += self.read_data.eq(rows[0])
        else:
            sel = Signal(range(tiling.deep), name=f"{name}_read_row")
            with m.If(self.read_en):
                m.d.sync += sel.eq(self.read_addr[low_bits:])
            m.d.comb += self.read_data.eq(Array(rows)[sel])
