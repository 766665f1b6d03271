"""The cost model's FPGA terms (costmodel.fpga): the shipped coefficients are the fit of the recorded
synthesis sweep (recomputed here from its CSV), the per-point figures follow from them and from the
RAM arithmetic done by hand, and a bad part is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from costmodel.errors import UserError
from costmodel.fpga import BLOCKS, PARTS, block_model, fpga_figures, load_fit
from costmodel.hardware import HardwareSettings
from costmodel.model import evaluate
from rtl.synth_sweep import fit, read_rows

SWEEP = Path(__file__).resolve().parent.parent / "results" / "synth" / "sweep"


def test_shipped_coefficients_are_the_recorded_sweeps_fit():
    rows = read_rows(SWEEP / "resources.csv")
    shipped = load_fit()
    held_n = {
        e["n"] for devices in shipped.values() for res in devices.values() for m in res.values() for e in m["held_back"]
    }
    refit = fit(rows, sorted(held_n))
    for block in BLOCKS:
        for part in PARTS:
            for resource in ("luts", "ffs"):
                assert shipped[block][part][resource]["coefficients"] == pytest.approx(
                    refit[block][part][resource]["coefficients"], rel=1e-9
                )


@pytest.mark.parametrize("part", list(PARTS))
def test_model_at_the_synthesised_points(part):
    """At every swept point the model is the fitted line, and its error there is what fit.json says
    for the held-back points."""
    rows = [r for r in read_rows(SWEEP / "resources.csv") if r["device"] == part]
    for block in BLOCKS:
        held = {(e["n"], e["lanes"]): e for e in load_fit()[block][part]["luts"]["held_back"]}
        for r in (r for r in rows if r["block"] == block and (r["n"], r["lanes"]) in held):
            model = float(block_model(block, part, "luts", r["n"], r["lanes"]))
            assert model == pytest.approx(held[(r["n"], r["lanes"])]["model"], rel=1e-9)
            assert abs(model - r["luts"]) / r["luts"] == pytest.approx(held[(r["n"], r["lanes"])]["error"], rel=1e-9)


def test_memory_arithmetic_by_hand():
    spram_bits = PARTS["ice40-up5k"]["spram_bits"]
    influence = 2 * spram_bits / 8  # one SPRAM per bank
    other = 3 * 4096 / 8 + 1  # three block RAMs and one bit
    f = fpga_figures("ice40-up5k", 8, 1, influence + other, influence)
    assert (float(f["fpga_spram"]), float(f["fpga_bram"])) == (2.0, 4.0)
    too_big = 6 * spram_bits / 8  # three SPRAMs per bank: M goes to block RAM instead
    f = fpga_figures("ice40-up5k", 8, 1, too_big, too_big)
    assert (float(f["fpga_spram"]), float(f["fpga_bram"])) == (0.0, np.ceil(too_big * 8 / 4096))
    assert float(f["fpga_fits"]) == 0.0
    luts = sum(float(block_model(b, "ecp5-85k", "luts", 16, 4)) for b in BLOCKS)
    assert float(fpga_figures("ecp5-85k", 16, 4, 1e3, 0)["fpga_luts"]) == round(luts)


def test_sweep_columns_and_bad_part():
    hw = HardwareSettings(lanes=4, fpga_device="ecp5-85k")
    points = {k: np.array([16.0, 64.0]) for k in ("n",)} | {
        "p": np.array([768.0, 12288.0]),
        "T": np.array([17.0, 17.0]),
        "alpha": np.array([0.8, 0.8]),
        "beta": np.array([0.5, 0.5]),
        "omega": np.array([0.5, 0.5]),
    }
    table = evaluate(["rtrl-both"], points, hw)
    expected = fpga_figures("ecp5-85k", points["n"], 4.0, table["storage_bytes"], table["influence_bytes"])
    for k, v in expected.items():
        assert np.array_equal(table[k], v)
    with pytest.raises(UserError, match="hardware.fpga_device: got 'xc7a35t'; expected one of ice40-up5k, ecp5-85k"):
        HardwareSettings(fpga_device="xc7a35t")


def test_spec_checks_the_part_and_the_plot():
    from costmodel.spec import parse_spec

    base = {"name": "t", "methods": ["rtrl"], "axes": {"n": {"values": [16, 32]}}, "plots": ["fpga_vs_n"]}
    with pytest.raises(UserError, match="plot fpga_vs_n needs hardware.fpga_device"):
        parse_spec(base)
    with pytest.raises(UserError, match=r"hardware.fpga_device: got 'xc7a35t'; expected one of ice40-up5k, ecp5-85k"):
        parse_spec(base | {"hardware": {"fpga_device": "xc7a35t"}})
    assert parse_spec(base | {"hardware": {"fpga_device": "ice40-up5k"}}).hardware.fpga_device == "ice40-up5k"


def test_sweep_draws_the_fpga_plot(tmp_path):
    from costmodel.spec import parse_spec
    from costmodel.sweep import run_sweep

    spec = parse_spec(
        {
            "name": "fpga",
            "methods": ["rtrl", "rtrl-both"],
            "axes": {"n": {"values": [8, 16, 32]}},
            "fixed": {"T": 17, "alpha": 0.8, "beta": 0.5, "omega": 0.5, "p_per_n2": 3},
            "hardware": {"lanes": 2, "fpga_device": "ice40-up5k"},
            "plots": ["fpga_vs_n"],
        }
    )
    meta = run_sweep(spec, tmp_path, progress=False)
    assert meta["figures"] == ["fpga_vs_n.png"] and (tmp_path / "fpga_vs_n.png").stat().st_size > 10_000
    header = (tmp_path / "results.csv").read_text().splitlines()[0].split(",")
    assert {"fpga_luts", "fpga_ffs", "fpga_bram", "fpga_spram", "fpga_fits"} <= set(header)
