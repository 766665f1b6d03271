"""`python -m rtl synth` (the small run CI keeps): the resource counts and Fmax it reports agree with
an independent reading of the same tools' outputs (the Yosys netlist's cells, nextpnr's log)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from golden.errors import UserError
from rtl.blocks.params import RouterParams, make_params
from rtl.cli import main
from rtl.fpga.parts import bank_tiling, ram_tiling
from rtl.fpga.synth import block_resources, cell_counts, for_device, synthesize, without_bank_init


def test_router_on_ice40_matches_netlist_and_log(capsys):
    summary = synthesize("router", RouterParams(n=8, lanes=2), "ice40-up5k", progress=lambda _: None)
    work = Path(summary["work_dir"])
    netlist = json.loads((work / "block.json").read_text())["modules"]
    types = [c["type"] for c in netlist["egru_event_router"]["cells"].values()]
    r = summary["resources"]  # from Yosys's stat; here counted from the written netlist
    assert r["luts"] == types.count("SB_LUT4") > 0
    assert r["ffs"] == sum(t.startswith("SB_DFF") for t in types) > 0
    assert r["bram"] == types.count("SB_RAM40_4K") == 0
    log = (work / "nextpnr.log").read_text()
    reported = [float(x) for x in re.findall(r"Max frequency for clock .*?: ([\d.]+) MHz", log)]
    assert summary["placed_with_harness"]["fits"]
    assert summary["fmax_mhz"] == pytest.approx(reported[-1], abs=0.01)
    assert summary["tools"]["yosys"].startswith("Yosys")


def test_cell_counts_by_family():
    stat = {"design": {"num_cells_by_type": {"LUT4": 10, "TRELLIS_FF": 7, "CCU2C": 2, "DP16KD": 3, "MULT18X18D": 1}}}
    r = cell_counts(stat, "ecp5-85k")
    assert (r["luts"], r["ffs"], r["carry"], r["bram"], r["dsp"], r["spram"]) == (10, 7, 2, 3, 1, 0)


def test_bad_device():
    with pytest.raises(UserError, match="--device: got 'xc7a35t'"):
        synthesize("router", RouterParams(n=4), "xc7a35t")
    assert main(["synth", "--block", "router", "--device", "gw1n"]) == 2


def test_influence_banks_go_to_spram_on_the_up5k():
    """n = 4, L = 1: each 24-bit bank of 4 x 88 words needs two 16-bit SPRAMs, so both fit the four."""
    params = make_params("influence", 4, 1)
    assert bank_tiling("ice40-up5k", params.depth, params.word_width).kind == "spram"
    resources, work = block_resources("influence", params, "ice40-up5k", progress=lambda _: None)
    netlist = json.loads((work / "block.json").read_text())["modules"]["egru_influence_update"]
    types = [c["type"] for c in netlist["cells"].values()]
    assert resources["spram"] == types.count("SB_SPRAM256KA") == 4
    assert {k: v for k, v in resources["memory_mapping"].items() if k.startswith("bank")} == {
        f"bank{b}_0_{c}": "SPRAM (SB_SPRAM256KA)" for b in range(2) for c in range(2)
    }


@pytest.mark.parametrize(
    "device, n, lanes, tiles",
    [
        ("ice40-up5k", 8, 2, (5, 3)),  # 1,088 x 48 bits: 5 deep x 3 wide of 256 x 16
        ("ecp5-85k", 8, 1, (5, 1)),  # 2,176 x 24 bits: 5 deep of 512 x 36
    ],
)
def test_tiled_banks_take_one_ram_block_per_tile(device, n, lanes, tiles):
    """Every tile of both banks is one block RAM, and the coefficient memory takes what its own
    tiling says: Yosys's count is the tiling's."""
    params = for_device(make_params("influence", n, lanes), device)
    assert (params.banks.deep, params.banks.wide) == tiles
    resources, _ = block_resources("influence", params, device, progress=lambda _: None)
    coefs = ram_tiling(device, params.n << params.term_bits, params.fp.coef.width)
    assert resources["bram"] == 2 * params.banks.primitives + coefs.primitives
    banks = [k for k in resources["memory_mapping"] if k.startswith("bank")]
    assert len(banks) == 2 * params.banks.primitives


@pytest.mark.parametrize(
    "device, n, lanes, expected",
    [
        ("ice40-up5k", 16, 1, "spram"),  # 14,848 x 24 bits: 2 x 2 SPRAMs
        ("ice40-up5k", 16, 2, "bram"),  # 48-bit words: 3 per bank, 6 > 4
        ("ice40-up5k", 24, 1, "bram"),  # 24 x 1,968 = 47,232 words: 3 deep per bank
        ("ecp5-85k", 16, 1, "bram"),  # no SPRAM
    ],
)
def test_spram_policy(device, n, lanes, expected):
    params = make_params("influence", n, lanes)
    assert bank_tiling(device, params.depth, params.word_width).kind == expected


def test_bank_initialisation_is_removed_from_synthesis_input():
    text = (
        "  initial begin\n    bank0[0] = 24'h000000;\n    bank1[12] = 24'h000001;\n    coefs[0] = 18'h00000;\n"
        "    bank1_2_0[3] = 9'h000;\n  end\n"
    )
    assert without_bank_init(text) == "  initial begin\n    coefs[0] = 18'h00000;\n  end\n"


def test_synth_takes_the_cell_unit_with_its_own_parameters(monkeypatch, capsys, tmp_path):
    """`rtl synth --block cell` builds CellUnitParams (gamma, epsilon, reset from a trace) and names
    its report without lanes; the synthesis itself is the same flow as the other blocks'."""
    from rtl.blocks.params import CellUnitParams
    from tests.rtl_traces import SPIRAL_PATH

    seen = {}

    def fake(block, params, device, progress=print):
        seen.update(block=block, params=params, device=device)
        return {"block": block, "device": device, "work_dir": str(tmp_path)}

    monkeypatch.setattr("rtl.fpga.synth.synthesize", fake)
    monkeypatch.setattr("rtl.fpga.synth.table", lambda summary: "table")
    argv = ["synth", "--block", "cell", "--trace", SPIRAL_PATH, "--device", "ecp5-85k", "--out", str(tmp_path)]
    assert main(argv) == 0
    assert seen["params"] == CellUnitParams(n=8, gamma=0.7, epsilon=1.0, subtractive=False)
    assert (tmp_path / "cell_n8_L1_ecp5-85k.json").is_file()


@pytest.mark.parametrize("device, lut", [("ecp5-25k", "LUT4"), ("ice40-up5k", "SB_LUT4")])
def test_classic_abc_lut_mapping(monkeypatch, device, lut):
    """The flow without ABC9 (what the core uses, rtl.fpga.synth.LUT_MAPPER): synth_* stopped before
    map_luts, `abc -lut 4` in that step, resumed at map_cells; the netlist is the part's cells, the
    flip-flops, carries and RAM are the default flow's (only the LUT mapping differs), and ABC9
    never ran."""
    import rtl.fpga.synth as synth

    assert synth.lut_mapper("core", "ecp5-85k") == "abc" and synth.lut_mapper("router", "ecp5-85k") == "abc9"
    family = synth.DEVICES[device]["family"]
    command = synth.DEVICES[device]["synth"]
    assert synth.synth_commands(device, "t", "abc").split("; ") == [
        f"{command} -run :map_luts -top t",
        *synth.ABC_LUT_MAPPING[family],
        f"{command} -top t -run map_cells:",
    ]
    with pytest.raises(ValueError, match="expected abc9 or abc"):
        synth.synth_commands(device, "t", "abc8")
    params = RouterParams(n=8, lanes=2)
    default, _ = block_resources("router", params, device, progress=lambda _: None)
    monkeypatch.setitem(synth.LUT_MAPPER, ("router", family), "abc")
    classic, work = block_resources("router", params, device, progress=lambda _: None)
    log = (work / "yosys_block_full.log").read_text()
    assert "abc -lut 4 -dress" in log and "Executing ABC9" not in log
    netlist = json.loads((work / "block.json").read_text())["modules"]["egru_event_router"]
    types = [c["type"] for c in netlist["cells"].values()]
    assert classic["luts"] == types.count(lut) > 0
    assert (classic["ffs"], classic["carry"], classic["bram"]) == (default["ffs"], default["carry"], default["bram"])
