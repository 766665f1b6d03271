"""Bad input of every kind gets one line and a clean exit, whatever the command: a probe of the four
CLIs (paths, damaged and wrong data, out-of-range sizes), Ctrl-C during long runs, SIGKILL's
leftovers, two runs sharing an output folder, and a Verilator too old for the project.

Each class is handled by one shared mechanism (golden.cli_support, golden.atomic, golden.outlock, one
loader per file kind); these tests drive it through the real commands."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from costmodel.cli import main as costmodel_main
from golden.checkpoint import save_checkpoint
from golden.cli import main as golden_main
from golden.config import CellConfig
from golden.params import CellParams
from rtl.cli import main as rtl_main
from sim.cli import main as sim_main
from tests.rtl_traces import SPIRAL_PATH as _SPIRAL

MAINS = {"golden": golden_main, "costmodel": costmodel_main, "rtl": rtl_main, "sim": sim_main}
ROOT = Path(__file__).resolve().parent.parent
SPIRAL_PATH = str(ROOT / _SPIRAL)  # absolute: the probe runs in a temporary folder
SPIRAL_CHECKPOINT = str(ROOT / "tests" / "data" / "spiral_egru_n8_w0.5.pt")


@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> dict[str, Path]:
    """Files a careless or unlucky user might hand the tools."""
    d = tmp_path_factory.mktemp("bad")
    files = {"file": d / "a-file.txt", "folder": d / "a-folder"}
    files["file"].write_text("not a folder\n")
    files["folder"].mkdir()
    trace = np.load(SPIRAL_PATH, allow_pickle=False)
    arrays = {k: trace[k] for k in trace.files}
    raw = Path(SPIRAL_PATH).read_bytes()
    files["truncated"] = d / "truncated.npz"
    files["truncated"].write_bytes(raw[: len(raw) // 2])
    files["nan_trace"] = d / "nan.npz"
    np.savez(
        files["nan_trace"],
        **{**arrays, "c": np.where(np.arange(arrays["c"].size).reshape(arrays["c"].shape) == 5, np.nan, arrays["c"])},
    )
    files["mask_trace"] = d / "mask2.npz"
    mask = arrays["mask_V_u"].copy()
    mask.flat[3] = 2
    np.savez(files["mask_trace"], **{**arrays, "mask_V_u": mask})
    files["npy"] = d / "x.npy"
    np.save(files["npy"], np.zeros(3))

    params = CellParams.initialise(CellConfig(n=8, omega=0.5))
    payload = torch.load(SPIRAL_CHECKPOINT, weights_only=True)

    def checkpoint(name: str, change) -> None:
        data = {**payload, "params": dict(payload["params"]), "masks": dict(payload["masks"])}
        change(data)
        files[name] = d / f"{name}.pt"
        torch.save(data, files[name])

    checkpoint("nan_ck", lambda p: p["params"].update(V_z=torch.full((8, 8), float("nan"), dtype=torch.float64)))
    checkpoint("shape_ck", lambda p: p["masks"].update(V_u=torch.ones(4, 4, dtype=torch.bool)))
    checkpoint("config_ck", lambda p: p.pop("config"))
    checkpoint("half_ck", lambda p: p["masks"].update(V_r=torch.full((8, 8), 0.5)))
    checkpoint("foreign_mask_ck", lambda p: p["masks"].update(W_u=torch.ones(8, 2, dtype=torch.bool)))
    files["cell_ck"] = d / "cell.pt"
    save_checkpoint(files["cell_ck"], params)  # a cell, not a training run
    files["spec"] = d / "spec.yaml"
    files["spec"].write_text(yaml.safe_dump({"name": "s", "methods": ["rtrl"], "axes": {"n": {"values": [8]}}}))
    return files


def _out_under_file(b):
    return str(b["file"] / "out")


# (program, arguments, a fragment the one-line message must hold); {key} names a file of `bad`
PROBE = [
    # paths: --out an existing file where a folder is meant, a path under a file, a folder where a
    # file is meant is accepted (tested below), unreadable inputs
    ("golden", ["train", "--out", "{file}", "--iterations", "1"], "is an existing file; expected a folder"),
    ("golden", ["train", "--out", "{file}/run", "--iterations", "1"], "is a file, not a folder"),
    ("golden", ["trace", "--out", "{file}/t.npz"], "is a file, not a folder"),
    ("golden", ["demo", "--json", "{file}/c.json", "--n", "4"], "is a file, not a folder"),
    ("golden", ["fig3", "runs/none", "--out", "{file}/f.png"], "is a file, not a folder"),
    ("golden", ["bench", "--out", "{file}"], "is an existing file; expected a folder"),
    ("golden", ["trace", "--inputs", "/nonexistent/x.npy", "--out", "{folder}"], "--inputs: no such file"),
    ("golden", ["trace", "--checkpoint", "{folder}", "--out", "{folder}"], "no such file"),
    ("golden", ["fig3", "{folder}", "--out", "{folder}"], "metrics.json"),
    ("costmodel", ["sweep", "{spec}", "--out", "{file}"], "is an existing file; expected a folder"),
    ("costmodel", ["sweep", "{spec}", "--out", "{file}/s"], "is a file, not a folder"),
    ("costmodel", ["sweep", "{folder}"], "not a regular file (a folder or a device); expected a YAML file"),
    ("costmodel", ["sweep", "{file}"], "spec"),
    ("costmodel", ["validate", "--out", "{file}"], "is an existing file; expected a folder"),
    ("costmodel", ["bench", "--out", "{file}/b"], "is a file, not a folder"),
    ("costmodel", ["calibration", "{folder}", "--out", "{file}/c.png"], "is a file, not a folder"),
    ("costmodel", ["calibration", "{file}"], "no CSV files"),
    ("rtl", ["verilog", "--block", "router", "--out", "{file}"], "is an existing file; expected a folder"),
    ("rtl", ["synth", "--block", "router", "--device", "ice40-up5k", "--out", "{file}/s.json"], "is a file"),
    ("rtl", ["sweep", "--out", "{file}"], "is an existing file; expected a folder"),
    ("rtl", ["capacity", "--out", "{file}/c"], "is a file, not a folder"),
    ("rtl", ["build", "--board", "icebreaker", "--trace", SPIRAL_PATH, "--out", "{file}"], "is an existing file"),
    ("rtl", ["verilog", "--block", "router", "--trace", "{folder}", "--out", "{folder}"], "no such file"),
    (
        "sim",
        ["run", "--block", "router", "--sim", "icarus", "--trace", SPIRAL_PATH, "--out", "{file}/r.json"],
        "is a file",
    ),
    (
        "sim",
        ["run", "--block", "router", "--sim", "icarus", "--trace", SPIRAL_PATH, "--calibration", "{file}"],
        "is an existing file",
    ),
    ("sim", ["blocks", SPIRAL_PATH, "--out", "{file}"], "is an existing file; expected a folder"),
    ("sim", ["bench", "--out", "{file}/b"], "is a file, not a folder"),
    # data: damaged and wrong files, refused by their one loader with the entry named
    ("rtl", ["verilog", "--block", "router", "--trace", "{truncated}", "--out", "{folder}"], "not a readable .npz"),
    ("rtl", ["selftest", "--trace", "{truncated}"], "not a readable .npz"),
    ("sim", ["run", "--block", "router", "--sim", "icarus", "--trace", "{nan_trace}"], "entry 'c' has 1 NaN"),
    ("rtl", ["selftest", "--trace", "{nan_trace}"], "entry 'c' has 1 NaN"),
    ("rtl", ["selftest", "--trace", "{mask_trace}"], "entry 'mask_V_u' holds [0, 1, 2]"),
    ("rtl", ["verilog", "--block", "influence", "--trace", "{npy}", "--out", "{folder}"], "not an .npz trace"),
    ("golden", ["trace", "--checkpoint", "{nan_ck}", "--out", "{folder}"], "parameter V_z: 64 NaN or infinite"),
    ("golden", ["trace", "--checkpoint", "{shape_ck}", "--out", "{folder}"], "mask V_u: shape (4, 4), expected (8, 8)"),
    ("golden", ["trace", "--checkpoint", "{config_ck}", "--out", "{folder}"], "no config entry"),
    ("golden", ["trace", "--checkpoint", "{half_ck}", "--out", "{folder}"], "mask V_r: values [0.5]"),
    ("golden", ["trace", "--checkpoint", "{foreign_mask_ck}", "--out", "{folder}"], "mask W_u: not a maskable"),
    ("golden", ["trace", "--checkpoint", "{truncated}", "--out", "{folder}"], "not a readable checkpoint"),
    ("golden", ["trace", "--inputs", "{truncated}", "--out", "{folder}"], "--inputs"),
    # sizes outside a model's range, and lanes that do not fit, are refused rather than clamped
    ("costmodel", ["eval", "--n", "4000000000", "--fpga-device", "ecp5-85k"], "--n = 4e+09 is outside the FPGA"),
    ("costmodel", ["eval", "--n", "64", "--lanes", "0"], "hardware.lanes: got 0"),
    (
        "rtl",
        ["selftest", "--trace", SPIRAL_PATH, "--blocks", "router", "--lanes", "router=9"],
        "--lanes: router lanes = 9",
    ),
    (
        "sim",
        ["run", "--block", "router", "--sim", "icarus", "--trace", SPIRAL_PATH, "--lanes", "9"],
        "--lanes: router lanes = 9",
    ),
    ("golden", ["demo", "--threads", "-2"], "--threads: got -2"),
    ("costmodel", ["sweep", "{spec}", "--max-rows", "0", "--out", "{folder}"], "--max-rows: got 0"),
]


@pytest.mark.parametrize("prog,argv,fragment", PROBE, ids=[f"{p}-{i}" for i, (p, _, _) in enumerate(PROBE)])
def test_probe_one_line_exit_2(prog, argv, fragment, bad, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # nothing the probe writes lands in the checkout
    args = [a.format(**bad) for a in argv]
    assert MAINS[prog](args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{prog}: error: ") and err.count("\n") == 1, err
    assert fragment in err and "Traceback" not in err, err


def test_probe_leaves_the_file_given_as_a_folder_untouched(bad):
    assert bad["file"].read_text() == "not a folder\n"


def test_a_folder_given_for_a_file_gets_the_default_name(tmp_path, capsys):
    assert golden_main(["trace", "--n", "4", "--steps", "3", "--batch", "1", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "trace.npz").is_file()
    assert golden_main(["trace", "--n", "4", "--steps", "3", "--batch", "1", "--out", f"{tmp_path}/new/"]) == 0
    assert (tmp_path / "new" / "trace.npz").is_file()


def _cli(prog: str, *args: str, **kwargs) -> subprocess.Popen:
    def default_sigint():  # pytest-xdist's workers ignore SIGINT, and children inherit that
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    return subprocess.Popen(
        [sys.executable, "-m", prog, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
        **kwargs,
    )


def _wait_for(predicate, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder nobody may write: a read-only tmpfs when we are root (root ignores mode bits; the
    immutable attribute where mounting is not allowed), else mode 555."""
    folder = tmp_path / "locked"
    folder.mkdir()
    if os.geteuid() == 0:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)]).returncode == 0
        if not mounted:  # no mount rights in this container: the immutable attribute stops root too
            subprocess.run(["chattr", "+i", str(folder)], check=True)
        yield folder
        subprocess.run(["umount", str(folder)] if mounted else ["chattr", "-i", str(folder)], check=True)
    else:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)


def test_read_only_folder(read_only_folder, tmp_path, capsys):
    """A folder the user may not write: refused before any work, for a folder and for a file output."""
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"name": "s", "methods": ["rtrl"], "axes": {"n": {"values": [8]}}}))
    target = read_only_folder / "o"
    assert costmodel_main(["sweep", str(spec), "--out", str(target), "--no-progress"]) == 2
    assert capsys.readouterr().err == f"costmodel: error: --out: {target}: folder {read_only_folder} is not writable\n"
    assert golden_main(["trace", "--n", "4", "--out", str(read_only_folder)]) == 2
    assert capsys.readouterr().err == f"golden: error: --out: folder {read_only_folder} is not writable\n"


def test_os_error_on_a_read_only_file_system(tmp_path, capsys):
    """Whatever the checks miss, an OSError on a path still ends as one line, exit 2."""
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"name": "s", "methods": ["rtrl"], "axes": {"n": {"values": [8]}}}))
    assert costmodel_main(["sweep", str(spec), "--out", "/proc/version/out", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("costmodel: error: --out: /proc/version/out: /proc/version is a file") and "\n" == err[-1]


def _big_spec(tmp_path: Path) -> Path:
    spec = tmp_path / "big.yaml"
    axes = {"n": {"geomspace": [16, 1024, 7]}, "T": {"values": [10, 100]}, "beta": {"linspace": [0, 1, 400]}}
    spec.write_text(yaml.safe_dump({"name": "big", "axes": {**axes, "omega": {"linspace": [0, 0.9, 60]}}}))
    return spec


@pytest.mark.slow
def test_ctrl_c_during_a_sweep_says_what_was_kept_and_resumes(tmp_path):
    out = tmp_path / "o"
    proc = _cli("costmodel", "sweep", str(_big_spec(tmp_path)), "--out", str(out), "--no-progress", cwd=ROOT)
    _wait_for(lambda: len(list(out.glob(".partial/*/chunk_*.npz"))) >= 2)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    last = stderr.strip().splitlines()[-1]
    kept = f"the finished chunks are kept in {out}/.partial; run the same command again to resume"
    assert last == f"costmodel: interrupted; {kept}"
    assert not (out / "results.csv").exists() and not list(out.glob(".results.*"))
    again = subprocess.run(
        [sys.executable, "-m", "costmodel", "sweep", str(_big_spec(tmp_path)), "--out", str(out), "--no-progress"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert again.returncode == 0 and "chunk(s) resumed" in again.stdout
    assert not (out / ".partial").exists()


@pytest.mark.slow
def test_ctrl_c_during_training_says_how_to_resume(tmp_path):
    out = tmp_path / "run"
    args = ["train", "--n", "4", "--iterations", "100000", "--checkpoint-every", "1", "--eval-every", "1000"]
    proc = _cli("golden", *args, "--samples", "200", "--no-progress", "--out", str(out), cwd=ROOT)
    _wait_for(lambda: (out / "metrics.json").exists())
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"golden: interrupted; kept {out}/checkpoint.pt and metrics.json of iteration ")
    assert last.endswith("of 100000; run the same command with --resume to continue")


def test_killed_writers_leave_temporaries_that_the_next_run_removes(tmp_path, capsys):
    """SIGKILL cannot be caught: a killed sweep leaves its temporary CSV (named with its pid) and a
    temporary chunk; the next run of the same output removes both, and keeps a live writer's."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    spec_path = tmp_path / "s.yaml"
    spec_path.write_text(yaml.safe_dump({"name": "s", "methods": ["rtrl"], "axes": {"n": {"values": [8, 16]}}}))
    out = tmp_path / "o"
    out.mkdir()
    stale = out / f".results.{dead_pid}.abc123.tmp.csv"
    stale.write_bytes(b"x" * 1000)
    live = out / f".results.{os.getppid()}.def456.tmp.csv"  # our parent still runs
    live.write_bytes(b"y")
    from costmodel.spec import load_spec
    from costmodel.sweep import spec_hash

    chunk_dir = out / ".partial" / spec_hash(load_spec(spec_path))
    chunk_dir.mkdir(parents=True)
    stale_chunk = chunk_dir / f".chunk_00000.{dead_pid}.zz9.tmp.npz"
    stale_chunk.write_bytes(b"z")
    assert costmodel_main(["sweep", str(spec_path), "--out", str(out), "--no-progress"]) == 0
    assert not stale.exists() and not stale_chunk.exists() and live.exists()
    assert (out / "results.csv").is_file()


LOCK_HOLDER = (
    "import sys, time; from golden.outlock import locked_folder\n"
    "with locked_folder(sys.argv[1]):\n    print('locked', flush=True); time.sleep(600)\n"
)


def test_a_second_run_on_a_busy_folder_is_refused_and_a_killed_owner_frees_it(tmp_path, capsys):
    out = tmp_path / "o"
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        spec = tmp_path / "s.yaml"
        spec.write_text(yaml.safe_dump({"name": "s", "methods": ["rtrl"], "axes": {"n": {"values": [8]}}}))
        assert costmodel_main(["sweep", str(spec), "--out", str(out), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert f"--out: {out} is in use by pid {holder.pid} (" in err and "choose another folder" in err
        assert err.count("\n") == 1 and not (out / "results.csv").exists()
    finally:
        holder.kill()  # SIGKILL: the kernel drops the lock with the process; no stale lock remains
        holder.wait()
    assert costmodel_main(["sweep", str(spec), "--out", str(out), "--no-progress"]) == 0


def test_two_different_sweeps_into_one_folder_one_waits_its_turn(tmp_path):
    """The case that lost work before: the second sweep is refused while the first runs; after the
    first finishes, the second runs and both specs' results are whole."""
    out = tmp_path / "shared"
    first = _cli("costmodel", "sweep", str(_big_spec(tmp_path)), "--out", str(out), "--no-progress", cwd=ROOT)
    _wait_for(lambda: (out / ".lock").exists() and (out / ".lock").read_text().startswith("pid"))
    spec = tmp_path / "small.yaml"
    spec.write_text(yaml.safe_dump({"name": "small", "methods": ["rtrl"], "axes": {"n": {"values": [8]}}}))
    second = subprocess.run(
        [sys.executable, "-m", "costmodel", "sweep", str(spec), "--out", str(out), "--no-progress"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    _, first_err = first.communicate(timeout=600)
    assert first.returncode == 0, first_err
    assert second.returncode == 2 and f"is in use by pid {first.pid}" in second.stderr


def test_old_verilator_is_named_with_the_way_to_the_right_one(tmp_path, monkeypatch, capsys):
    """Debian bookworm's Verilator 5.006 (here a stand-in script) is refused before linting."""
    root = tmp_path / "old-verilator"
    (root / "bin").mkdir(parents=True)
    fake = root / "bin" / "verilator"
    fake.write_text("#!/bin/sh\necho 'Verilator 5.006 2023-01-22 rev (Debian 5.006-3)'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("VERILATOR_ROOT", str(root))
    from rtl import toolchain

    toolchain.verilator_version.cache_clear()
    try:
        assert rtl_main(["verilog", "--block", "router", "--n", "4", "--out", str(tmp_path / "v"), "--lint"]) == 2
    finally:
        toolchain.verilator_version.cache_clear()
    err = capsys.readouterr().err
    assert f"{fake} is version 5.006; this project needs Verilator >= 5.036" in err
    assert "bash scripts/verilator.sh" in err and err.count("\n") == 1


def test_resume_from_a_checkpoint_that_is_not_a_training_run(tmp_path, bad, capsys):
    out = tmp_path / "run"
    out.mkdir()
    shutil.copy(bad["cell_ck"], out / "checkpoint.pt")
    assert golden_main(["train", "--n", "8", "--omega", "0.5", "--out", str(out), "--resume", "--no-progress"]) == 2
    assert "is not a training checkpoint (no train_config" in capsys.readouterr().err
