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
    def spiral(repeats, threads):
        auto = {"bptt": 1, "rtrl": 1, "sparse-rtrl": 1}
        times = {"bptt": threads, "rtrl": 2.0 * threads, "sparse-rtrl": 3.0, "fixed": 6.0, "fixed_ratio": 2.0}
        ratios = {"sparse_over_bptt": 3.0 / threads, "sparse_over_bptt_macs": 90.0}
        return {"threads": threads, "auto_threads": auto, **times, **ratios}

    monkeypatch.setattr("golden.bench.bench_spiral_iteration", spiral)
    monkeypatch.setattr("golden.bench.bench_against_torch_gru", lambda repeats, threads: [])
    monkeypatch.setattr("golden.bench.cores", lambda: 2)
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
        assert row["threads"] == 1  # 2 x 8 x p MACs per step: one thread (golden.threads)
    table = (tmp_path / "bench.md").read_text()
    assert f"| 8 | 0.5 | 0.1 | {report['rows'][1]['alpha']:.2f} |" in table
    out = capsys.readouterr().out
    assert "| 1 | 1.0000 | 2.0000 | 3.0000 |" in out and "| 2 | 2.0000 | 4.0000 | 3.0000 |" in out
    assert [s["threads"] for s in report["spiral"]] == [1, 2]


def test_bench_bad_option(tmp_path, capsys):
    assert main(["bench", "--steps", "0", "--out", str(tmp_path)]) == 2
    assert "--steps" in capsys.readouterr().err


def test_threads_follow_the_work_and_the_option(monkeypatch):
    from golden import threads

    monkeypatch.setattr(threads, "cores", lambda: 2)
    # spiral n = 16, batch 32: p = 3 16 2 + 3 16^2 + 4 16 = 928; BPTT 29,696 and RTRL 475,136 MACs per step
    assert threads.egru_parameters(16, 2) == 928
    assert threads.step_work("bptt", 16, 2, 32) == 32 * 928
    assert threads.step_work("sparse-rtrl", 16, 2, 32) == 32 * 16 * 928
    assert threads.threads_for(threads.step_work("sparse-rtrl", 16, 2, 32)) == 1
    assert threads.threads_for(threads.step_work("sparse-rtrl", 64, 2, 32)) == 2  # 25 million MACs
    assert threads.threads_for(threads.AUTO_WORK - 1) == 1 and threads.threads_for(threads.AUTO_WORK) == 2
    before = torch.get_num_threads()
    try:
        assert threads.use_threads(1, 10**12) == 1 and torch.get_num_threads() == 1
        assert threads.use_threads(0, 10) == 1 and threads.use_threads(None, 10**12) == 2
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_bad_threads_refused(tmp_path, capsys):
    assert main(["demo", "--threads", "-1"]) == 2
    assert "--threads: got -1" in capsys.readouterr().err


def test_golden_bptt_against_torch_gru_is_timed_in_one_run():
    """The comparison runs both iterations at each n and reports their ratio against its target."""
    from golden.bench import bench_against_torch_gru

    rows = bench_against_torch_gru(repeats=1, threads=1, ns=(4, 256))
    assert [r["n"] for r in rows] == [4, 256] and [r["target"] for r in rows] == [1.5, 1.0]
    for r in rows:
        assert r["golden_bptt_s"] > 0 and r["torch_gru_s"] > 0
        assert r["ratio"] == r["golden_bptt_s"] / r["torch_gru_s"] and r["meets_target"] == (r["ratio"] <= r["target"])


def test_iteration_macs_of_a_bptt_iteration_match_the_closed_form(tmp_path):
    """BPTT's iteration MACs: the dense forward T B 3 n (n_in + n) plus the backward T B (3 n^2 + p)."""
    from golden.bench import iteration_macs
    from golden.train import TrainConfig, Trainer

    config = TrainConfig(algo="bptt", n=6, batch=4, n_samples=40)
    stats = Trainer(config, tmp_path).step()
    T, B, n, n_in = 17, 4, 6, 2
    p = 3 * (n * n_in + n * n + n) + n
    assert iteration_macs(stats) == T * B * (3 * n * (n_in + n) + 3 * n * n + p)
