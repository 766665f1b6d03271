"""golden sweep: spec validation, the dask executor (local cluster, an external scheduler, a killed
worker), skipping finished points, and points equal to standalone `golden train` runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from golden.cli import main
from golden.errors import UserError
from golden.executor import dask_client, run_points
from golden.train import TrainConfig
from golden.train_sweep import load_sweep_spec, point_cost, point_name, run_sweep

SMALL = """
grid:
  task: [spiral, cue]
  algo: [sparse-rtrl, eprop]
  n: [5]
  omega: [0.5]
  seed: [0]
train:
  iterations: 2
  batch: 4
  n_samples: 40
  eval_every: 2
per_task:
  cue: {dt: 100}
"""


@pytest.fixture
def spec(tmp_path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL)
    return path


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("grid: {tasks: [spiral]}", "grid.tasks: Extra inputs are not permitted"),
        ("grid: {n: []}", "grid.n: List should have at least 1 item"),
        ("train: {n: 8}", "train.n: is a grid axis"),
        ("train: {iteration: 8}", "train.iteration: not a training setting"),
        ("grid: {omega: [1.5]}", "point (task=spiral"),
        ("grid: {task: [spiral]}\nper_task: {cue: {dt: 5}}", "per_task.cue: not a task of grid.task"),
        ("per_task: {spiral: {lr: -1}}", "lr: got -1.0"),
    ],
)
def test_bad_specs_name_the_key(tmp_path, text, fragment):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=None) as info:
        load_sweep_spec(path)
    assert fragment in str(info.value)


def test_sweep_points_equal_standalone_runs_and_rerun_skips(spec, tmp_path, monkeypatch):
    rows = run_sweep(spec, tmp_path / "out", workers=2, progress=False)
    assert [(r["task"], r["algo"]) for r in rows] == [
        ("spiral", "sparse-rtrl"),
        ("spiral", "eprop"),
        ("cue", "sparse-rtrl"),
        ("cue", "eprop"),
    ]
    out = tmp_path / "out"
    assert (out / "accuracy_vs_cost_spiral.png").stat().st_size > 0
    assert (out / "accuracy_vs_cost_cue.png").stat().st_size > 0
    _, points = load_sweep_spec(spec)
    cue_eprop = points[3]
    alone = tmp_path / "alone"
    args = ["train", "--task", "cue", "--dt", "100", "--algo", "eprop", "--n", "5", "--omega", "0.5"]
    args += ["--iterations", "2", "--batch", "4", "--samples", "40", "--eval-every", "2", "--no-progress"]
    assert main([*args, "--out", str(alone)]) == 0
    swept = json.loads((out / "points" / point_name(cue_eprop) / "metrics.json").read_text())
    assert swept == json.loads((alone / "metrics.json").read_text())
    assert rows[3]["memory_words"] == swept["history"][0]["influence_stored"]

    def no_cluster(*args, **kwargs):
        raise AssertionError("a finished sweep started a cluster")

    monkeypatch.setattr("golden.executor.dask_client", no_cluster)
    csv = (out / "results.csv").read_text()
    assert run_sweep(spec, out, progress=False) == rows
    assert (out / "results.csv").read_text() == csv


def test_external_scheduler_gives_the_same_csv(spec, tmp_path):
    run_sweep(spec, tmp_path / "local", workers=1, progress=False)
    address_file = tmp_path / "scheduler.json"
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    scheduler = subprocess.Popen(
        [*dask, "--scheduler-file", str(address_file), "--port", "0", "--dashboard-address", ":0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = None
    try:
        for _ in range(100):
            if address_file.exists() and address_file.read_text().strip():
                break
            time.sleep(0.2)
        address = json.loads(address_file.read_text())["address"]
        worker = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1", "--nworkers", "2"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert (
            main(["sweep", str(spec), "--out", str(tmp_path / "remote"), "--scheduler", address, "--no-progress"]) == 0
        )
    finally:
        for process in (worker, scheduler):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
    assert (tmp_path / "remote" / "results.csv").read_text() == (tmp_path / "local" / "results.csv").read_text()


def test_a_killed_worker_s_point_is_retried(tmp_path):
    marker = tmp_path / "killed-once"

    def dies_once(value: int) -> int:
        if value == 2 and not marker.exists():
            marker.write_text("the worker running this point was killed")
            os._exit(1)  # the worker process dies mid-point
        return value * value

    with dask_client(workers=1) as client:
        results = run_points(client, dies_once, [(i,) for i in range(4)], [f"p{i}" for i in range(4)], progress=False)
    assert results == [0, 1, 4, 9] and marker.exists()


def test_the_costliest_points_start_first(tmp_path):
    """With costs, one worker runs the points in decreasing cost (results still in the points' order);
    point_cost ranks exact RTRL above BPTT and grows with n and iterations."""

    def started(value: int) -> tuple[int, int]:
        return value, time.monotonic_ns()

    costs = [3.0, 9.0, 1.0, 5.0]
    with dask_client(workers=1) as client:
        results = run_points(
            client, started, [(i,) for i in range(4)], [f"c{i}" for i in range(4)], progress=False, costs=costs
        )
    assert [v for v, _ in results] == [0, 1, 2, 3]
    assert [v for v, _ in sorted(results, key=lambda r: r[1])] == [1, 3, 0, 2]
    base = dict(task="spiral", n=16, iterations=10)
    assert point_cost(TrainConfig(**base, algo="sparse-rtrl")) == 16 * point_cost(TrainConfig(**base, algo="bptt"))
    assert point_cost(TrainConfig(**{**base, "iterations": 20}, algo="eprop")) == 2 * point_cost(
        TrainConfig(**base, algo="eprop")
    )


def test_cli_errors_have_no_traceback(spec, tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "o")]) != 0
    assert "no such file" in capsys.readouterr().err
    code = main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--scheduler", "tcp://127.0.0.1:9", "--no-progress"])
    err = capsys.readouterr().err
    assert code != 0 and "--scheduler: cannot reach a dask scheduler" in err and "Traceback" not in err
    with pytest.raises(UserError, match="--workers: applies to the local cluster only"):
        with dask_client(workers=2, scheduler="tcp://127.0.0.1:9"):
            pass


def test_sweep_bench_reports_both_runs(tmp_path, capsys):
    argv = ["sweep-bench", "--out", str(tmp_path), "--iterations", "1", "--repeats", "2", "--no-progress"]
    assert main(argv) == 0
    report = json.loads((tmp_path / "sweep_bench.json").read_text())
    assert report["identical_csv"] and report["points"] == 12 and set(report["seconds"]) == {"1", "2"}
    assert all(len(report["runs"][k]) == 2 and report["seconds"][k] == min(report["runs"][k]) for k in ("1", "2"))
    assert report["speedup"] == report["seconds"]["1"] / report["seconds"]["2"]
    assert len((tmp_path / "workers-2" / "results.csv").read_text().splitlines()) == 13
    assert "speedup" in capsys.readouterr().out


def test_finished_only_reports_what_has_finished(spec, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--out", str(out), "--finished-only"]) != 0
    assert "no point of" in capsys.readouterr().err
    _, points = load_sweep_spec(spec)
    alone = ["train", "--algo", "sparse-rtrl", "--n", "5", "--omega", "0.5", "--iterations", "2", "--batch", "4"]
    alone += ["--samples", "40", "--eval-every", "2", "--no-progress"]
    assert main([*alone, "--out", str(out / "points" / point_name(points[0]))]) == 0
    assert main(["sweep", str(spec), "--out", str(out), "--finished-only", "--no-progress"]) == 0
    assert "1 of 4 points" in capsys.readouterr().out
    assert len((out / "results.csv").read_text().splitlines()) == 2
