"""`sim coverage`: Verilator's line, branch and toggle coverage of the block testbenches, and the cover
points of FSM states and stream stalls bound into each block. The reader is checked on a hand-made
coverage file; the run on the router against what its testbench did (a sink that is always ready
never keeps an event waiting; one that stalls does)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rtl.blocks.accumulate import EventAccumulator
from rtl.blocks.influence import InfluenceUpdate
from rtl.blocks.layouts import stream_ports
from rtl.blocks.params import AccumulateParams, InfluenceParams, RouterParams
from rtl.blocks.router import EventRouter
from sim.cli import main
from sim.coverage import cover_module, cover_points, demangle, fsm_states, summarise

ROUTER = EventRouter(RouterParams(n=8, lanes=2))


def test_fsm_states_are_the_blocks_own():
    accumulate = fsm_states(EventAccumulator(AccumulateParams(n=4, lanes=2)))
    assert list(accumulate) == ["fsm_state"]
    assert sorted(name for _, name in accumulate["fsm_state"]) == ["EVENT", "IDLE", "OUT", "START", "WORDS"]
    assert len({value for value, _ in accumulate["fsm_state"]}) == 5
    influence = fsm_states(InfluenceUpdate(InfluenceParams(4, 8, 2)))
    assert sorted(name for _, name in influence["fsm_state"]) == ["DONE", "FLUSH", "IDLE", "RUN", "START"]
    assert fsm_states(ROUTER) == {}  # the router keeps per-lane registers, no FSM


def test_two_stall_points_per_stream_and_one_per_state():
    assert [name for name, _, _ in stream_ports(ROUTER)] == ["y", "events__0", "events__1"]
    points = cover_points(ROUTER)
    assert [p.name for p in points][:2] == ["y: valid, not ready", "y: ready, not valid"]
    assert len(points) == 6 and {p.kind for p in points} == {"stall"}
    block = EventAccumulator(AccumulateParams(n=4, lanes=2))
    assert len(cover_points(block)) == 5 + 2 * 4  # five states; load, init, events, pre


def test_cover_module_binds_into_the_block_and_refuses_a_missing_fsm():
    text = cover_module("egru_event_router", ROUTER, "module egru_event_router();")
    assert "bind egru_event_router egru_event_router_cover cover_points (.*);" in text
    assert "cov_events__1__valid__not_ready: cover property (@(posedge clk) disable iff (rst)" in text
    block = EventAccumulator(AccumulateParams(n=4, lanes=2))
    with pytest.raises(Exception, match="FSM state register 'fsm_state' not found"):
        cover_module("egru_event_accumulator", block, "module egru_event_accumulator();")
    assert "input wire [2:0] fsm_state" in cover_module("m", block, "  reg [2:0] fsm_state = 3'h0;")


def test_demangle():
    assert demangle("events___05F0___05Fvalid:0->1") == "events__0__valid:0->1"
    assert demangle("__024auto__024verilog") == "$auto$verilog"


def _point(file: str, page: str, line: int, column: int, what: str, count: int) -> str:
    keys = {"f": file, "l": str(line), "n": str(column), "page": page, "o": what, "h": "top"}
    return "C '" + "".join(f"\x01{k}\x02{v}" for k, v in keys.items()) + f"' {count}"


def test_summarise_counts_points_over_runs_and_leaves_out_the_process_kick(tmp_path):
    verilog = tmp_path / "egru_event_router.v"
    verilog.write_text("module m;\n  if (\\$auto$verilog_backend.cc:1:dump_module$1 ) begin end\n  x = 1;\n  y = 2;\n")
    v, cov = str(verilog), str(tmp_path / "egru_event_router_cover.sv")
    run1 = [
        _point(v, "v_line/m", 3, 2, "block", 4),
        _point(v, "v_line/m", 4, 2, "block", 0),
        _point(v, "v_branch/m", 2, 4, "if", 0),  # the kick: left out
        _point(v, "v_branch/m", 3, 4, "else", 0),
        _point(v, "v_toggle/m", 3, 1, "values[0]:0->1", 1),
        _point(v, "v_toggle/m", 3, 1, "values[1]:0->1", 0),
        _point(v, "v_toggle/m", 2, 1, "__024auto__024verilog_backend.cc:1:dump_module__0241:0->1", 0),
        _point(cov, "v_toggle/m_cover", 1, 1, "y___05Fvalid:0->1", 0),  # the cover module's own: not counted
    ] + [_point(cov, "v_user/m_cover", 16 + i, 28, mangle(p.name), 0) for i, p in enumerate(cover_points(ROUTER))]
    run2 = [
        _point(v, "v_line/m", 4, 2, "block", 0),
        _point(cov, "v_user/m_cover", 16, 28, mangle("y: valid, not ready"), 3),
    ]
    files = []
    for i, run in enumerate((run1, run2)):
        files.append(tmp_path / f"coverage{i}.dat")
        files[-1].write_text("# SystemC::Coverage-3\n" + "\n".join(run) + "\n")
    report = summarise(files, verilog, ROUTER)
    assert (report["lines"]["covered"], report["lines"]["total"]) == (1, 2)
    assert report["lines"]["missed"] == [{"line": 4, "what": "block", "source": "y = 2;"}]
    assert (report["branches"]["covered"], report["branches"]["total"], report["branches"]["unreachable_kick"]) == (
        0,
        1,
        1,
    )
    assert (report["toggles"]["covered"], report["toggles"]["total"]) == (1, 2)
    assert report["toggles"]["missed_by_signal"] == {"values": 1}
    assert report["stalls"]["counts"]["y: valid, not ready"] == 3 and report["stalls"]["total"] == 6
    assert report["stalls"]["covered"] == 1 and report["fsm_states"]["total"] == 0
    files[0].write_text("# SystemC::Coverage-3\n" + "\n".join(run1[:-1]) + "\n")  # a cover point missing
    with pytest.raises(Exception, match="cover points .* are not in the coverage files"):
        summarise(files, verilog, ROUTER)


def mangle(name: str) -> str:
    """A cover point's label as Verilator writes it: '_' after '_' escaped as __05F."""
    label = "cov_" + "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    out = ""
    for c in label:
        out += "__05F" if c == "_" and out.endswith("_") else c
    return out


@pytest.mark.slow
def test_router_coverage_run_matches_what_the_testbench_did(tmp_path):
    out = tmp_path / "coverage"
    argv = ["coverage", "--blocks", "router", "--samples", "1", "--seeds", "0", "--out", str(out), "--no-progress"]
    assert main([*argv, "--backpressure", "0"]) == 0
    quiet = json.loads((out / "coverage.json").read_text())[0]
    assert quiet["passed"] and quiet["lines"]["covered"] == quiet["lines"]["total"] > 0
    assert quiet["fsm_states"]["total"] == 0 and quiet["stalls"]["total"] == 2 * (1 + 4)
    assert all(quiet["stalls"]["counts"][f"events__{lane}: valid, not ready"] == 0 for lane in range(4))
    assert main([*argv, "--backpressure", "0.5"]) == 0
    busy = json.loads((out / "coverage.json").read_text())[0]
    assert all(busy["stalls"]["counts"][f"events__{lane}: valid, not ready"] > 0 for lane in range(4))
    assert "| router | yes | " in Path(out / "coverage.md").read_text()
