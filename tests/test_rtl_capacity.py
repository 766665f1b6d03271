"""The largest-n search (rtl.fpga.capacity) on a stand-in resource model whose answer is known by
arithmetic, its resumable probe file, and the influence columns against golden's masks."""

from __future__ import annotations

import pytest

import rtl.fpga.capacity as capacity
from golden.config import CellConfig
from golden.errors import UserError
from golden.params import CellParams
from rtl.blocks.params import egru_columns


@pytest.mark.parametrize("n, omega", [(8, 0.0), (8, 0.5), (12, 0.9), (16, 0.8)])
def test_egru_columns_equal_golden_kept_parameters(n, omega):
    params = CellParams.initialise(CellConfig(cell="egru", n=n, n_in=2, omega=omega, seed=1))
    assert egru_columns(n, 2, omega) == params.p_kept


def _stand_in(monkeypatch, luts_per_unit: int, placeable_up_to: int | None = None):
    """Yosys counts luts = luts_per_unit * n (nothing else used); nextpnr fits n <= placeable_up_to."""
    calls = []

    def resources(block, params, device, progress):
        calls.append(params.n)
        return {"luts": luts_per_unit * params.n, "ffs": params.n, "bram": 0, "spram": 0, "dsp": 0}, None

    def synthesize(block, params, device, progress):
        calls.append(("placed", params.n))
        fits = placeable_up_to is None or params.n <= placeable_up_to
        return {"placed_with_harness": {"fits": fits}, "fmax_mhz": 50.0, "memories": []}

    monkeypatch.setattr(capacity, "block_resources", resources)
    monkeypatch.setattr(capacity, "synthesize", synthesize)
    return calls


def test_search_finds_the_largest_fitting_n(tmp_path, monkeypatch):
    calls = _stand_in(monkeypatch, luts_per_unit=100)
    r = capacity.largest_n("router", "ice40-up5k", 1, 0.0, tmp_path, progress=lambda _: None)
    assert r["largest_n"] == 5280 // 100 and not r["at_limit"]
    assert r["first_not_fitting"]["n"] == 53 and r["first_not_fitting"]["fits"] == "no: luts"
    assert "| n = 53: luts |" in capacity.markdown([r], capacity.DEFAULT)
    assert len(calls) == len(set(calls)) and ("placed", 52) in calls  # no point synthesised twice
    calls.clear()
    again = capacity.largest_n("router", "ice40-up5k", 1, 0.0, tmp_path, progress=lambda _: None)
    assert again["largest_n"] == 52 and calls == []  # resumed from probes.csv and placements.json


def test_search_steps_down_when_placement_fails(tmp_path, monkeypatch):
    _stand_in(monkeypatch, luts_per_unit=100, placeable_up_to=50)
    r = capacity.largest_n("router", "ice40-up5k", 1, 0.0, tmp_path, progress=lambda _: None)
    assert r["largest_n"] == 52 - 52 // 16  # 52 fits by counts, not in nextpnr: one step of n / 16 down
    assert r["not_placed"] == [{"n": 52, "error": "nextpnr could not place it"}]


def test_search_reports_the_limit(tmp_path, monkeypatch):
    _stand_in(monkeypatch, luts_per_unit=1)
    r = capacity.largest_n("router", "ecp5-85k", 1, 0.0, tmp_path, limit=64, progress=lambda _: None)
    assert (r["largest_n"], r["at_limit"]) == (64, True)
    assert "≥ 64" in capacity.markdown([r], capacity.DEFAULT)


def test_bad_options(tmp_path):
    with pytest.raises(UserError, match="--devices: got 'gw1n'"):
        capacity.largest_n("router", "gw1n", 1, 0.0, tmp_path)
    with pytest.raises(UserError, match="--omega: got 1.5"):
        capacity.largest_n("router", "ecp5-85k", 1, 1.5, tmp_path)


def test_a_tool_failure_ends_the_search_there(tmp_path, monkeypatch):
    _stand_in(monkeypatch, luts_per_unit=1)
    fitting = capacity.block_resources

    def resources(block, params, device, progress):
        if params.n >= 100:
            raise UserError("yosys failed on egru_event_router; see yosys_block.log")
        return fitting(block, params, device, progress)

    monkeypatch.setattr(capacity, "block_resources", resources)
    r = capacity.largest_n("router", "ecp5-85k", 1, 0.0, tmp_path, limit=256, progress=lambda _: None)
    assert r["largest_n"] == 99 and r["first_not_fitting"]["n"] == 100
    assert "| n = 100: Yosys failed |" in capacity.markdown([r], capacity.DEFAULT)


def test_results_of_separate_runs_are_merged(tmp_path, monkeypatch):
    import json

    from rtl.cli import main

    _stand_in(monkeypatch, luts_per_unit=100)
    base = ["capacity", "--lanes", "1", "--limit", "64", "--out", str(tmp_path), "--workers", "0", "--no-progress"]
    assert main([*base, "--blocks", "router", "--devices", "ice40-up5k"]) == 0
    assert main([*base, "--blocks", "accumulate", "--devices", "ecp5-85k"]) == 0
    results = json.loads((tmp_path / "capacity.json").read_text())["results"]
    assert [(r["device"], r["block"], r["largest_n"]) for r in results] == [
        ("ecp5-85k", "accumulate", 64),
        ("ice40-up5k", "router", 52),
    ]
    assert main([*base, "--blocks", "router", "--devices", "ice40-up5k", "--format", "influence=20,14"]) == 0
    assert len(json.loads((tmp_path / "capacity.json").read_text())["results"]) == 1  # other widths: not merged
    assert len(list(tmp_path.glob("probes-*.csv"))) == 1  # nor are their probes


def test_counts_only_when_placement_is_skipped(tmp_path, monkeypatch):
    calls = _stand_in(monkeypatch, luts_per_unit=1000, placeable_up_to=0)  # nextpnr would refuse everything
    r = capacity.largest_n("accumulate", "ecp5-85k", 1, 0.0, tmp_path, place=False, progress=lambda _: None)
    assert (r["largest_n"], r["placed"]) == (83, False) and not any(isinstance(c, tuple) for c in calls)
    assert "| 83 (Yosys counts; not placed) |" in capacity.markdown([r], capacity.DEFAULT)


def test_concurrent_searches_share_their_caches(tmp_path, monkeypatch):
    """Searches running side by side (one per dask worker) each hold their own view of probes.csv and
    placements.json; every write merges what the others wrote meanwhile, so nothing is lost."""
    _stand_in(monkeypatch, luts_per_unit=100)
    path = tmp_path / "probes.csv"
    first, second = capacity.Probes(path, capacity.DEFAULT), capacity.Probes(path, capacity.DEFAULT)
    first.get("router", "ecp5-85k", 8, 1, 0.0)
    second.get("accumulate", "ice40-up5k", 4, 1, 0.0)  # did not see the first's probe when it started
    again = capacity.Probes(path, capacity.DEFAULT).rows
    assert {(k[0], k[1], k[2]) for k in again} == {("router", "ecp5-85k", 8), ("accumulate", "ice40-up5k", 4)}
    placements = tmp_path / "placements.json"
    a, b = capacity.Placements(placements), capacity.Placements(placements)
    a.add("router ecp5-85k n=8", {"fits": True})
    b.add("accumulate ice40-up5k n=4", {"fits": False})
    assert set(capacity.Placements(placements).done) == {"router ecp5-85k n=8", "accumulate ice40-up5k n=4"}
