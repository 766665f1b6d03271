"""`python -m golden bench` in small (the full grid is a command): the report's ideal speedup is the
ratio of MACs that independent runs' counters give over the timed steps, and the table shows it."""

from __future__ import annotations

import json

import pytest
import torch

from golden.bench import MAC_FIELDS
from golden.cells import make_cell
from golden.cli import main
from golden.config import CellConfig
from golden.params import CellParams
from golden.rtrl import run_rtrl


def test_small_bench_reports_counter_ratios(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(
        "golden.bench.bench_spiral_iteration", lambda repeats: {"bptt": 1.0, "rtrl": 2.0, "sparse-rtrl": 3.0}
    )
    argv = ["bench", "--n", "8", "--omega", "0", "0.5", "--epsilon", "0.1", "--steps", "3", "--batch", "2"]
    assert main([*argv, "--repeats", "1", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "bench.json").read_text())
    assert len(report["rows"]) == 2
    for row in report["rows"]:
        # the same inputs as the bench (seed 0, input seed 7), counted over steps 3..5 of 6
        cfg = CellConfig(cell="egru", n=8, n_in=4, omega=row["omega"], epsilon=0.1, seed=0)
        params = CellParams.initialise(cfg)
        gen = torch.Generator().manual_seed(7)
        x = torch.randn(6, 2, 4, generator=gen, dtype=cfg.torch_dtype)
        credits = {k: torch.randn(6, 2, 8, generator=gen, dtype=cfg.torch_dtype) for k in make_cell(cfg).credit_keys}
        macs = {
            mode: sum(int(run_rtrl(params, x, credits, mode=mode).counters.per_step[f][3:].sum()) for f in MAC_FIELDS)
            for mode in ("dense", "sparse")
        }
        assert row["ideal_speedup"] == pytest.approx(macs["dense"] / macs["sparse"], rel=1e-12)
        assert row["measured_speedup"] == pytest.approx(row["dense_ms_per_step"] / row["sparse_ms_per_step"])
        assert row["meets_target"] is None  # n < 64
    table = (tmp_path / "bench.md").read_text()
    assert f"| 8 | 0.5 | 0.1 | {report['rows'][1]['alpha']:.2f} |" in table
    assert "BPTT 1.000 s, dense RTRL 2.000 s, sparse RTRL 3.000 s" in capsys.readouterr().out


def test_bench_bad_option(tmp_path, capsys):
    assert main(["bench", "--steps", "0", "--out", str(tmp_path)]) == 2
    assert "--steps" in capsys.readouterr().err
