"""The golden self-test top (rtl.fpga.selftest, rtl.fpga.boards.SelfTestReport) in Amaranth's simulator: it
passes on the spiral-trained trace, fails when one expected ROM word is corrupted, and its UART line
says so; word counts checked against counts made from the trace directly."""

from __future__ import annotations

import math

import numpy as np
import pytest

from golden.fixedpoint import DEFAULT, to_fixed
from rtl.blocks.simulation import simulate_selftest
from rtl.cli import main
from rtl.fpga.boards import for_board
from rtl.fpga.selftest import SelfTest, block_vectors, corrupt
from tests.rtl_traces import SPIRAL, SPIRAL_PATH, trace_for

STEPS = 3
LANES = {"router": 2, "accumulate": 2, "influence": 4}


def _vectors(blocks=("router", "accumulate", "influence"), name: str = SPIRAL):
    return [block_vectors(b, trace_for(name), 0, LANES[b], STEPS) for b in blocks]


def _expected_words(name: str = SPIRAL) -> dict[str, int]:
    """Output words per block, counted from the trace: router = events + one end marker per lane and
    step; accumulate = one per step; influence = n * ceil(P / L) per step."""
    trace = trace_for(name)
    key = "a" if trace.config.cell == "trnn" else "y"
    y = to_fixed(key, trace.arrays[key][:STEPS, 0], DEFAULT.state)
    n, P = trace.config.n, trace.params().p_kept
    return {
        "router": int(np.count_nonzero(y)) + LANES["router"] * STEPS,
        "accumulate": STEPS,
        "influence": STEPS * n * math.ceil(P / LANES["influence"]),
    }


def test_selftest_passes_and_reports_over_uart():
    test = SelfTest(_vectors())
    result = simulate_selftest(test)
    words = sum(_expected_words().values())
    assert (result.passed, result.errors, result.checked) == (True, 0, words)
    assert result.report == f"EGRU self-test PASS words {words:08X} errors 00000\r\n"


@pytest.mark.parametrize("block, stream, index", [("influence", "readback", 17), ("router", "events1", 2)])
def test_selftest_fails_on_one_corrupted_rom_word(block, stream, index):
    vectors = _vectors()
    corrupt(vectors, f"{block}:{stream}:{index}")
    result = simulate_selftest(SelfTest(vectors))
    assert (result.passed, result.errors) == (False, 1)
    assert result.report.startswith("EGRU self-test FAIL") and result.report.endswith("errors 00001\r\n")


def test_selftest_on_a_threshold_rnn_trace():
    """Router and influence update on a cell with no decay term and row-gated writes."""
    vectors = _vectors(("router", "influence"), "trnn_w0.5_e1.0")
    result = simulate_selftest(SelfTest(vectors))
    assert (result.passed, result.errors) == (True, 0)
    counts = _expected_words("trnn_w0.5_e1.0")
    assert result.checked == counts["router"] + counts["influence"]


def test_selftest_cli_exit_codes(capsys):
    argv = ["selftest", "--trace", SPIRAL_PATH, "--steps", "2", "--blocks", "router", "accumulate"]
    assert main(argv) == 0
    assert "EGRU self-test PASS" in capsys.readouterr().out
    assert main([*argv, "--corrupt", "accumulate:pre:1"]) == 1
    assert "EGRU self-test FAIL" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--corrupt", "accumulate:pre:9"], "accumulate has the expected streams pre (0..1)"),
        (["--corrupt", "bogus"], "expected BLOCK:STREAM:INDEX"),
        (["--steps", "99"], "--steps: 99, expected 1..10"),
        (["--lanes", "router=x"], "--lanes: 'router=x'; expected BLOCK=L"),
        (["--blocks", "adder"], "--blocks: unknown block 'adder'"),
        (["--board", "de10"], "--board: got 'de10'; expected one of icebreaker, ulx3s-85f"),
    ],
)
def test_selftest_cli_bad_options_exit_2(extra, message, capsys):
    argv = ["selftest", "--trace", SPIRAL_PATH, "--steps", "2", "--blocks", "accumulate"]
    if "--blocks" in extra:
        argv = argv[:-2]
    assert main([*argv, *extra]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "blocks, lanes, steps",
    [
        (("router", "accumulate"), {"router": 2, "accumulate": 1}, None),  # the icebreaker's forward build
        (("influence",), {"influence": 1}, 2),  # the icebreaker's influence build (M in SPRAM)
    ],
)
def test_selftest_as_built_for_the_icebreaker(blocks, lanes, steps):
    vectors = [block_vectors(b, trace_for(SPIRAL), 0, lanes[b], steps) for b in blocks]
    result = simulate_selftest(SelfTest(for_board(vectors, "icebreaker")))
    assert (result.passed, result.errors, result.checked) == (True, 0, sum(v.checked_words for v in vectors))


def test_selftest_as_built_for_the_ulx3s():
    """The influence update with its M banks tiled into the ECP5's block RAMs (n = 8, P = 176, L = 4:
    352 words of 96 bits in three 512 x 36 blocks side by side)."""
    vectors = [block_vectors("influence", trace_for(SPIRAL), 0, 4, 2)]
    test = SelfTest(for_board(vectors, "ulx3s-85f"))
    tiling = test.vectors[0].params.banks
    assert (tiling.deep, tiling.wide, tiling.tile_depth, tiling.tile_width) == (1, 3, 512, 36)
    result = simulate_selftest(test)
    assert (result.passed, result.errors, result.checked) == (True, 0, vectors[0].checked_words)
