"""`rtl prove`: the router's properties hold (bounded to 20 cycles; by induction where it closes),
the accumulator and the influence update keep the stream rule on every stream they drive and hold
their own properties (bounded to 12 cycles here, 20 in results/rtl), and each broken variant fails
the property it names, so no property is one that cannot fail."""

from __future__ import annotations

import json

import pytest

from rtl.blocks.accumulate import EventAccumulator
from rtl.blocks.influence import InfluenceUpdate
from rtl.blocks.params import AccumulateParams, InfluenceParams, RouterParams
from rtl.cli import main
from rtl.formal.handshake import StreamRules
from rtl.formal.influence import InfluenceProof
from rtl.formal.prove import block_harness, faults_of, not_applicable, properties_of
from rtl.formal.router import RouterProof
from rtl.formal.sby import run_proof

SMALL = RouterParams(n=4, lanes=2)


@pytest.mark.parametrize("prop", properties_of("router"))
def test_router_property_holds_for_20_cycles(prop, tmp_path):
    result = run_proof(block_harness(SMALL, prop, None), prop, tmp_path, "bmc", 20)
    assert result.status == "PASS", f"{prop}: see {result.folder}/sby.log"


@pytest.mark.parametrize("prop", ["handshake", "in_lane", "one_end"])
def test_router_properties_that_close_by_induction(prop, tmp_path):
    assert run_proof(block_harness(SMALL, prop, None), prop, tmp_path, "prove", 20).status == "PASS"


@pytest.mark.parametrize("fault", list(faults_of("router")))
def test_each_broken_variant_fails_its_property(fault, tmp_path):
    result = run_proof(block_harness(SMALL, faults_of("router")[fault], fault), fault, tmp_path, "bmc", 20)
    assert result.status == "FAIL"
    assert list((tmp_path / fault / "job" / "engine_0").glob("*.vcd")), "a counterexample trace"


@pytest.mark.parametrize(
    "make",
    [lambda: EventAccumulator(AccumulateParams(n=2, lanes=1)), lambda: InfluenceUpdate(InfluenceParams(2, 3, 1))],
    ids=["accumulate", "influence"],
)
def test_every_driven_stream_keeps_the_rule_and_a_dropped_valid_is_caught(make, tmp_path):
    """The influence update's done once raised its payload (the stall count) while waiting: fixed,
    and proven here; the accumulator's pre stream and both blocks' done hold for 20 cycles."""
    assert run_proof(StreamRules(make()), "handshake", tmp_path, "bmc", 20).status == "PASS"
    assert run_proof(StreamRules(make(), "drop_valid"), "drop_valid", tmp_path, "bmc", 20).status == "FAIL"


ACCUMULATE = AccumulateParams(n=2, lanes=1)
INFLUENCE = InfluenceParams(3, 3, 1)  # n = 3: a source field (2 bits) can name a unit that is not there


@pytest.mark.parametrize("block,params", [("accumulate", ACCUMULATE), ("influence", INFLUENCE)])
def test_block_properties_hold_and_each_broken_variant_is_caught(block, params, tmp_path):
    """once_per_pass and columns (accumulator), one_done and in_range (influence update), for 12
    cycles; then each variant against its property."""
    for prop in properties_of(block)[1:]:
        result = run_proof(block_harness(params, prop, None), prop, tmp_path, "bmc", 12)
        assert result.status == "PASS", f"{prop}: see {result.folder}/sby.log"
    for fault, prop in faults_of(block).items():
        if fault != "drop_valid":
            assert run_proof(block_harness(params, prop, fault), fault, tmp_path, "bmc", 12).status == "FAIL", fault


def test_bad_source_needs_a_unit_index_that_is_not_a_unit():
    why = not_applicable("influence", InfluenceParams(2, 3, 1))
    assert why == {"bad_source": "at n = 2 a source field holds units only"}
    assert not_applicable("influence", INFLUENCE) == {}
    assert isinstance(block_harness(INFLUENCE, "in_range", None), InfluenceProof)


def test_three_lanes_and_an_uneven_split(tmp_path):
    """n = 5 over 3 lanes: lanes of 2, 2 and 1 units."""
    for prop in ("in_lane", "ascending", "one_end"):
        assert run_proof(RouterProof(RouterParams(n=5, lanes=3), prop), prop, tmp_path, "bmc", 12).status == "PASS"


def test_prove_command_on_the_influence_update(tmp_path, capsys):
    out = tmp_path / "prove"
    assert main(["prove", "--block", "influence", "--depth", "8", "--faults", "--out", str(out), "--no-progress"]) == 0
    report = json.loads((out / "prove.json").read_text())
    assert report["columns"] == 3 and [r["status"] for r in report["properties"]] == ["PASS"] * 3
    assert [f["caught"] for f in report["faults"]] == [True] * 4
    assert "influence, n = 3, 1 lanes, 3 columns:" in capsys.readouterr().out


def test_prove_command_reports_and_catches(tmp_path, capsys):
    out = tmp_path / "prove"
    argv = ["prove", "--block", "router", "--n", "3", "--lanes", "1", "--depth", "8", "--faults"]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    report = json.loads((out / "prove.json").read_text())
    assert [r["property"] for r in report["properties"]] == list(properties_of("router"))
    assert all(r["status"] == "PASS" for r in report["properties"])
    assert all(f["caught"] for f in report["faults"]) and len(report["faults"]) == len(faults_of("router"))
    assert "| exactly_once | bmc | 8 | PASS |" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv,fragment",
    [
        (["--block", "cell"], "--block: got 'cell'; expected one of router, accumulate, influence"),
        (["--block", "router", "--mode", "sim"], "--mode: got 'sim'; expected one of bmc, prove"),
        (["--block", "router", "--lanes", "9"], "lanes: got 9; expected an integer in 1..4"),
        (["--block", "router", "--depth", "0"], "--depth: got 0; expected a positive number of cycles"),
    ],
)
def test_prove_errors_name_the_option(argv, fragment, tmp_path, capsys):
    assert main(["prove", *argv, "--out", str(tmp_path / "p"), "--no-progress"]) != 0
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err
