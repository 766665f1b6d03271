"""The core's on-board training self-test (rtl.fpga.core_selftest) in Amaranth's simulator, with its
UART report decoded from the tx pin: PASS with the integer reference's correct count and CRC-32 of
the master words, and FAIL when the expected CRC is one off; the CRC is zlib's."""

from __future__ import annotations

import zlib

from amaranth import Module, Signal
from amaranth.sim import Simulator

from rtl.cli import main
from rtl.core.transactions import master_crc
from rtl.fpga.core_selftest import crc32_word


def test_core_selftest_passes_and_reports_the_reference(capsys):
    assert main(["core-selftest", "--n", "4", "--iterations", "1", "--batch", "2", "--tests", "2"]) == 0
    out = capsys.readouterr().out
    reference = out.splitlines()[0].split("CRC-32 ")[1]
    report = out.splitlines()[1]
    assert report.startswith("EGRU core self-test PASS correct ") and f"crc {reference}" in report
    assert "/0002 " in report and report.split("errors ")[1].startswith("00000")


def test_core_selftest_fails_on_a_wrong_crc(capsys):
    assert main(["core-selftest", "--n", "4", "--iterations", "1", "--batch", "1", "--tests", "1", "--corrupt"]) == 1
    assert "EGRU core self-test FAIL" in capsys.readouterr().out


def test_crc_circuit_is_zlib_crc32():
    words = [0, 1, -1, 0x123456, -0x654321, 0x7FFFFF]
    m = Module()
    crc, word = Signal(32, init=0xFFFFFFFF), Signal(32)
    m.d.sync += crc.eq(crc32_word(m, crc, word))
    sim = Simulator(m)
    sim.add_clock(1e-8)
    got = []

    async def bench(ctx):
        for w in words:
            ctx.set(word, w & 0xFFFFFFFF)
            await ctx.tick()
        got.append(ctx.get(crc) ^ 0xFFFFFFFF)

    sim.add_testbench(bench)
    sim.run()
    expected = zlib.crc32(b"".join((w & 0xFFFFFFFF).to_bytes(4, "little") for w in words))
    assert got == [expected] == [master_crc(words)]
