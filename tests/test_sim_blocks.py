"""`python -m sim blocks` (small version of scripts/rtl_report.sh): the report's cycles and
utilisation agree with the cycle functions computed here from the trace, and bad options exit 2."""

from __future__ import annotations

import json

import numpy as np

from golden.hw_stimulus import influence_steps
from golden.trace import load_trace
from rtl.blocks.cycles import influence_cycles, router_cycles
from rtl.blocks.params import InfluenceParams, RouterParams
from sim.cli import main
from tests.rtl_traces import SPIRAL_PATH


def test_blocks_report_matches_cycle_functions(tmp_path):
    out = tmp_path / "report"
    argv = ["blocks", SPIRAL_PATH, "--samples", "1", "--lanes", "4", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    rows = {r["block"]: r for r in json.loads((out / "blocks.json").read_text())["rows"]}
    assert set(rows) == {"router", "accumulate", "influence"}
    assert all(r["bit_exact"] and r["cycles_equal"] and r["steps"] == 10 for r in rows.values())

    trace = load_trace(SPIRAL_PATH)
    steps = influence_steps(trace, 0)
    p = InfluenceParams(n=8, columns=trace.params().p_kept, lanes=4)
    cycles = sum(influence_cycles(p, int(s.rows.sum()), len(s.sources)) for s in steps)
    macs = sum(int(s.rows.sum()) * p.columns * (len(s.sources) + 1) for s in steps)
    assert rows["influence"]["measured_cycles"] == cycles
    assert rows["influence"]["utilisation"] == macs / (4 * cycles)
    y = trace.arrays["y"][:, 0]
    assert rows["router"]["measured_cycles"] == sum(router_cycles(RouterParams(n=8, lanes=4), v != 0) for v in y)
    assert "| influence | 4 |" in (out / "blocks.md").read_text()
    assert np.isclose(rows["influence"]["utilisation"], 0.995, atol=0.01)


def test_blocks_bad_options(tmp_path, capsys):
    assert main(["blocks", SPIRAL_PATH, "--blocks", "fft", "--out", str(tmp_path)]) == 2
    assert "--blocks: unknown fft" in capsys.readouterr().err
    assert main(["blocks", SPIRAL_PATH, "--lanes", "0", "--out", str(tmp_path)]) == 2
    assert "--lanes" in capsys.readouterr().err
    assert main(["blocks", "nope.npz", "--out", str(tmp_path)]) == 2
    assert "nope.npz" in capsys.readouterr().err
