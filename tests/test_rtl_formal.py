"""`rtl prove`: the router's properties hold (bounded to 20 cycles; by induction where it closes),
and each broken variant fails the property it names, so no property is one that cannot fail."""

from __future__ import annotations

import json

import pytest

from rtl.blocks.params import RouterParams
from rtl.cli import main
from rtl.formal.router import FAULTS, PROPERTIES, RouterProof
from rtl.formal.sby import run_proof

SMALL = RouterParams(n=4, lanes=2)


@pytest.mark.parametrize("prop", PROPERTIES)
def test_router_property_holds_for_20_cycles(prop, tmp_path):
    result = run_proof(RouterProof(SMALL, prop), prop, tmp_path, "bmc", 20)
    assert result.status == "PASS", f"{prop}: see {result.folder}/sby.log"


@pytest.mark.parametrize("prop", ["handshake", "in_lane", "one_end"])
def test_router_properties_that_close_by_induction(prop, tmp_path):
    assert run_proof(RouterProof(SMALL, prop), prop, tmp_path, "prove", 20).status == "PASS"


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_broken_variant_fails_its_property(fault, tmp_path):
    result = run_proof(RouterProof(SMALL, FAULTS[fault], fault), fault, tmp_path, "bmc", 20)
    assert result.status == "FAIL"
    assert list((tmp_path / fault / "job" / "engine_0").glob("*.vcd")), "a counterexample trace"


def test_three_lanes_and_an_uneven_split(tmp_path):
    """n = 5 over 3 lanes: lanes of 2, 2 and 1 units."""
    for prop in ("in_lane", "ascending", "one_end"):
        assert run_proof(RouterProof(RouterParams(n=5, lanes=3), prop), prop, tmp_path, "bmc", 12).status == "PASS"


def test_prove_command_reports_and_catches(tmp_path, capsys):
    out = tmp_path / "prove"
    argv = ["prove", "--block", "router", "--n", "3", "--lanes", "1", "--depth", "8", "--faults"]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    report = json.loads((out / "prove.json").read_text())
    assert [r["property"] for r in report["properties"]] == list(PROPERTIES)
    assert all(r["status"] == "PASS" for r in report["properties"])
    assert all(f["caught"] for f in report["faults"]) and len(report["faults"]) == len(FAULTS)
    assert "| exactly_once | bmc | 8 | PASS |" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv,fragment",
    [
        (["--block", "influence"], "--block: got 'influence'; expected one of router"),
        (["--block", "router", "--mode", "sim"], "--mode: got 'sim'; expected one of bmc, prove"),
        (["--block", "router", "--lanes", "9"], "lanes: got 9; expected an integer in 1..4"),
        (["--block", "router", "--depth", "0"], "--depth: got 0; expected a positive number of cycles"),
    ],
)
def test_prove_errors_name_the_option(argv, fragment, tmp_path, capsys):
    assert main(["prove", *argv, "--out", str(tmp_path / "p"), "--no-progress"]) != 0
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err
