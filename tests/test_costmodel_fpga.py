"""The cost model's FPGA terms (costmodel.fpga): the shipped coefficients are the fit of the recorded
synthesis sweep (recomputed here from its CSV), the per-point figures follow from them and from the
RAM arithmetic done by hand, and a bad part is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from costmodel.errors import UserError
from costmodel.fpga import BLOCKS, PARTS, bank_blocks, block_model, fpga_figures, load_fit
from costmodel.hardware import HardwareSettings
from costmodel.model import evaluate
from golden.fixedpoint import format_from_label
from rtl.blocks.params import make_params
from rtl.fpga.parts import ram_tiling
from rtl.fpga.synth_sweep import fit, read_rows

SWEEP = Path(__file__).resolve().parent.parent / "results" / "synth" / "sweep"


def test_shipped_coefficients_are_the_recorded_sweeps_fit():
    rows = read_rows(SWEEP / "resources.csv")
    shipped = load_fit()
    held_n = {
        e["n"] for devices in shipped.values() for res in devices.values() for m in res.values() for e in m["held_back"]
    }
    refit = fit(rows, sorted(held_n))["default"]
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
    rows = [r for r in read_rows(SWEEP / "resources.csv") if r["device"] == part and r["format"] == "default"]
    for block in BLOCKS:
        held = {(e["n"], e["lanes"]): e for e in load_fit()[block][part]["luts"]["held_back"]}
        for r in (r for r in rows if r["block"] == block and (r["n"], r["lanes"]) in held):
            model = float(block_model(block, part, "luts", r["n"], r["lanes"], r["columns"]))
            assert model == pytest.approx(held[(r["n"], r["lanes"])]["model"], rel=1e-9)
            assert abs(model - r["luts"]) / r["luts"] == pytest.approx(held[(r["n"], r["lanes"])]["error"], rel=1e-9)
        assert all(e["error"] <= 0.15 for e in held.values())


@pytest.mark.parametrize("part", list(PARTS))
def test_bank_memory_is_what_synthesis_used(part):
    """The cost model's SPRAM and block RAM for the M banks against Yosys's counts at every swept
    point of the influence update, at every word widths swept (Yosys also maps the coefficient
    memory: one more tiling, or LUT RAM when it is small on the ECP5)."""
    rows = [r for r in read_rows(SWEEP / "resources.csv") if r["device"] == part and r["block"] == "influence"]
    assert len(rows) == 24 and {r["format"] for r in rows} > {"default"}
    for r in rows:
        fp = format_from_label(r["format"])
        spram, bram = (float(v) for v in bank_blocks(part, r["n"], r["lanes"], r["columns"], fp.influence.width))
        params = make_params("influence", r["n"], r["lanes"], fp=fp)
        coefs = ram_tiling(part, params.n << params.term_bits, params.fp.coef.width).primitives
        assert r["spram"] == spram
        assert r["bram"] - bram == (0 if part == "ecp5-85k" and r["n"] == 4 else coefs), r


def test_memory_arithmetic_by_hand():
    # n = 8, P = 100, L = 1, 24-bit values: each bank 800 x 24 bits = one row of two 16K x 16 SPRAMs
    other = 3 * 4096 + 1  # three block RAMs and one bit
    f = fpga_figures("ice40-up5k", 8, 1, (800 * 24 + other) / 8, 800, 24)
    assert (float(f["fpga_spram"]), float(f["fpga_bram"])) == (4.0, 4.0)
    # P = 2,100: 16,800 words need two rows of SPRAM per bank (8 > 4), so block RAM: 33 deep x 3 wide
    # of 512 x 8 (99) beats 2048 x 2 (108), 1024 x 4 (102) and 256 x 16 (132)
    f = fpga_figures("ice40-up5k", 8, 1, 16800 * 24 / 8, 16800, 24)
    assert (float(f["fpga_spram"]), float(f["fpga_bram"]), float(f["fpga_fits"])) == (0.0, 198.0, 0.0)
    # ECP5, n = 16, L = 4, P = 928: 3,712 x 96 bits, 2 deep x 11 wide of 2048 x 9 per bank
    f = fpga_figures("ecp5-85k", 16, 4, 16 * 928 * 3, 16 * 928, 24)
    assert float(f["fpga_bram"]) == 44.0
    luts = sum(float(block_model(b, "ecp5-85k", "luts", 16, 4, 928)) for b in BLOCKS)
    assert float(f["fpga_luts"]) == round(luts)
    # P = 512: 2,048 words, one row of 2048 x 9: no read multiplexers, so fewer LUTs by c_mux 2 x 96
    c_mux = load_fit()["influence"]["ecp5-85k"]["luts"]["coefficients"][4]
    shallow = sum(float(block_model(b, "ecp5-85k", "luts", 16, 4, 512)) for b in BLOCKS)
    assert luts - shallow == pytest.approx(c_mux * 2 * 96, rel=1e-9)


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
    expected = fpga_figures("ecp5-85k", points["n"], 4.0, table["storage_bytes"], table["memory_influence"], 16)
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
