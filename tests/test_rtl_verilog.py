"""Verilog generation: every block converts with stable names, lints clean under Verilator -Wall
(with the waivers rtl.verilog justifies), and its JSON states the parameters, formats and ports.
Invalid parameters are refused by name, from the API and the CLI."""

from __future__ import annotations

import json

import pytest

from golden.errors import UserError
from golden.fixedpoint import DEFAULT
from rtl.blocks.params import (
    AccumulateParams,
    CellUnitParams,
    GradientParams,
    InfluenceParams,
    InputParams,
    LinearizeParams,
    ReadoutParams,
    RouterParams,
    UpdateParams,
)
from rtl.cli import main, trace_meta
from rtl.verilog import lint, write_block
from tests.rtl_traces import SPIRAL_PATH

CASES = [
    ("router", RouterParams(n=16, lanes=4)),
    ("router", RouterParams(n=5, lanes=1)),
    ("accumulate", AccumulateParams(n=8, lanes=4)),
    ("influence", InfluenceParams(n=8, columns=176, lanes=8)),
    ("influence", InfluenceParams(n=6, columns=13, lanes=3, decay=False)),
    ("cell", CellUnitParams(n=8)),
    ("cell", CellUnitParams(n=5, gamma=0.5, epsilon=0.3, subtractive=True)),
    ("linearise", LinearizeParams(n=8, n_in=2, columns=176, lanes=4)),
    ("linearise", LinearizeParams(n=5, n_in=3, columns=70, lanes=3, subtractive=True)),
    ("gradient", GradientParams(n=8, columns=176, lanes=4, batch=32, steps=17)),
    ("input", InputParams(n=8, n_in=2)),
    ("readout", ReadoutParams(n=8, batch=32)),
    ("update", UpdateParams(n=8, n_in=2, columns=176, lanes=4, batch=32, steps=17)),
    ("update", UpdateParams(n=5, n_in=2, columns=60, lanes=3, kind="sgdm", lr_shift=2)),
]


@pytest.mark.parametrize("block,params", CASES)
def test_verilog_lints_clean_and_is_described(block, params, tmp_path):
    v_path, j_path = write_block(block, params, tmp_path / "a")
    lint(v_path)
    text = v_path.read_text()
    assert str(tmp_path) not in text and "/work/" not in text  # emit_src=False: no machine paths
    again, _ = write_block(block, params, tmp_path / "b")
    assert again.read_text() == text  # stable output
    desc = json.loads(j_path.read_text())
    assert desc["module"] in text.split("module ", 1)[1].split("(", 1)[0]
    assert desc["parameters"] == {k: v for k, v in vars(params).items() if k != "fp"}
    assert desc["fixed_point"]["influence"] == {"width": DEFAULT.influence.width, "frac": DEFAULT.influence.frac}
    for port in desc["ports"]:
        assert f"{port['name']};" in text or f"[{port['width'] - 1}:0] {port['name']};" in text


def test_router_ports_are_flattened_streams(tmp_path):
    _, j_path = write_block("router", RouterParams(n=8, lanes=2), tmp_path)
    ports = {p["name"]: p for p in json.loads(j_path.read_text())["ports"]}
    assert ports["y__payload"] == {"name": "y__payload", "direction": "In", "width": 8 * DEFAULT.state.width}
    assert ports["events__1__payload"]["width"] == 3 + DEFAULT.state.width + 1  # index, value, end
    assert ports["events__0__ready"]["direction"] == "In"


def test_lint_reports_verilator_errors(tmp_path):
    bad = tmp_path / "bad.v"
    bad.write_text("module bad(input a, output b); assign b = c; endmodule\n")
    with pytest.raises(UserError, match="verilator lint of .*bad.v failed"):
        lint(bad)


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: RouterParams(n=0), "n: got 0"),
        (lambda: RouterParams(n=4, lanes=5), "lanes: got 5; expected an integer in 1..4"),
        (lambda: AccumulateParams(n=4, lanes=0), "lanes: got 0"),
        (lambda: InfluenceParams(n=4, columns=-3), "columns: got -3"),
        (lambda: InfluenceParams(n=4, columns=10, lanes=11), "lanes: got 11"),
        (lambda: InfluenceParams(n=4, columns=10, decay="yes"), "decay: got 'yes'"),
    ],
)
def test_invalid_parameters_are_named(make, message):
    with pytest.raises(UserError, match=message):
        make()


def test_cli_writes_and_lints(tmp_path, capsys):
    trace = SPIRAL_PATH
    assert (
        main(["verilog", "--block", "influence", "--trace", trace, "--lanes", "4", "--out", str(tmp_path), "--lint"])
        == 0
    )
    desc = json.loads((tmp_path / "egru_influence_update.json").read_text())
    assert desc["parameters"] == {"n": 8, "columns": 176, "lanes": 4, "decay": True, "banks": None}
    assert "clean" in capsys.readouterr().out


def test_cli_format_overrides(tmp_path):
    argv = ["verilog", "--block", "influence", "--n", "4", "--columns", "10", "--lanes", "2"]
    assert main([*argv, "--format", "influence=20,14", "--format", "coef=16,12", "--out", str(tmp_path), "--lint"]) == 0
    desc = json.loads((tmp_path / "egru_influence_update.json").read_text())
    assert desc["fixed_point"]["influence"] == {"width": 20, "frac": 14}
    assert desc["fixed_point"]["coef"] == {"width": 16, "frac": 12}
    rb = next(p for p in desc["ports"] if p["name"] == "rb_data")
    assert rb["width"] == 2 * 20  # two lanes of Q(20,14)


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--block", "router", "--format", "stat=16,11"], "--format: unknown signal 'stat'"),
        (["--block", "router", "--format", "state=16"], "expected state=<width>,<frac>"),
        (["--block", "router", "--format", "state=16,16"], "state: frac 16"),
        (["--block", "router", "--n", "-2"], "n: got -2"),
        (["--block", "dsp"], "--block: got 'dsp'"),
        (["--block", "influence", "--n", "4", "--lanes", "99"], "lanes: got 99"),
        (["--block", "linearise", "--n", "4", "--columns", "10"], "columns: got 10"),
        (["--block", "router", "--trace", "missing.npz"], "--trace: trace missing.npz: no such file"),
    ],
)
def test_cli_errors_exit_2_without_traceback(argv, message, tmp_path, capsys):
    assert main(["verilog", *argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_cli_takes_the_cell_unit_from_a_trace(tmp_path, capsys):
    assert main(["verilog", "--block", "cell", "--trace", SPIRAL_PATH, "--out", str(tmp_path), "--lint"]) == 0
    desc = json.loads((tmp_path / "egru_cell_unit.json").read_text())
    assert desc["parameters"] == {"n": 8, "gamma": 0.7, "epsilon": 1.0, "subtractive": False}
    assert desc["cycle_function"] == "rtl.blocks.cycles.cell_cycles"
    assert "lint-only -Wall: clean" in capsys.readouterr().out


def test_cli_takes_the_linearisation_unit_from_a_trace(tmp_path, capsys):
    assert main(["verilog", "--block", "linearise", "--trace", SPIRAL_PATH, "--out", str(tmp_path), "--lint"]) == 0
    desc = json.loads((tmp_path / "egru_linearize_unit.json").read_text())
    meta = trace_meta(SPIRAL_PATH)
    assert desc["parameters"] == {"n": 8, "n_in": 2, "columns": meta["p_kept"], "lanes": 4, "subtractive": False}
    assert desc["cycle_function"] == "rtl.blocks.cycles.linearise_cycles"
    assert "lint-only -Wall: clean" in capsys.readouterr().out
