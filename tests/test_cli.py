"""`python -m golden`: traces from the command line, checkpoints, and clean errors for bad input."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from golden.checkpoint import save_checkpoint
from golden.cli import main
from golden.config import CellConfig
from golden.params import CellParams
from golden.trace import load_trace


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "golden", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["--n", "0"], "n: got 0"),
        (["--n", "-4"], "n: got -4"),
        (["--omega", "1.0"], "omega: got 1.0"),
        (["--omega", "-0.1"], "omega: got -0.1"),
        (["--epsilon", "0"], "epsilon: got 0.0"),
        (["--epsilon", "nan"], "epsilon: got nan"),
        (["--cell", "lstm"], "unknown cell 'lstm'"),
        (["--reset", "hard"], "unknown reset 'hard'"),
        (["--cell", "gru", "--reset", "subtractive"], "applies to the egru cell only"),
        (["--checkpoint", "/nonexistent/ck.pt"], "checkpoint /nonexistent/ck.pt: no such file"),
        (["--input-scale", "nan"], "--input-scale: got nan"),
        (["--steps", "0"], "--steps: got 0"),
        (["--n", "ten"], "invalid int value: 'ten'"),
    ],
)
def test_bad_values_one_line_exit_2(tmp_path, capsys, args, fragment):
    assert main(["trace", "--out", str(tmp_path / "t.npz"), *args]) == 2
    err = capsys.readouterr().err
    assert fragment in err
    assert err.count("\n") == 1 and err.startswith("golden: error: ")
    assert not (tmp_path / "t.npz").exists()


def test_nan_in_input_file(tmp_path, capsys):
    x = np.zeros((4, 1, 2))
    x[2, 0, 1] = np.nan
    np.save(tmp_path / "x.npy", x)
    assert main(["trace", "--inputs", str(tmp_path / "x.npy"), "--out", str(tmp_path / "t.npz")]) == 2
    assert "contains NaN" in capsys.readouterr().err


def test_subprocess_error_has_no_traceback(tmp_path):
    r = run_cli("trace", "--omega", "2", "--out", str(tmp_path / "t.npz"))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert r.stderr.strip() == "golden: error: omega: got 2.0; expected a number in [0, 1)"


@pytest.mark.parametrize("cell", ["egru", "trnn"])
@pytest.mark.parametrize("n", [8, 16, 64])
def test_default_drive_is_informative(tmp_path, capsys, cell, n):
    """The default input drive makes 5% to 60% of unit-steps emit events; the command says so."""
    out = tmp_path / "t.npz"
    assert main(["trace", "--cell", cell, "--n", str(n), "--n-in", "4", "--steps", "20", "--out", str(out)]) == 0
    trace = load_trace(out)
    events = float((trace.arrays["a" if cell == "trnn" else "y"] != 0).mean())
    assert 0.05 <= events <= 0.60
    printed = capsys.readouterr().out
    assert f"alpha={1 - events:.3f}" in printed
    assert f"beta={float((trace.arrays['d'] == 0).mean()):.3f}" in printed


def test_trace_from_checkpoint(tmp_path):
    params = CellParams.initialise(CellConfig(cell="egru", reset="subtractive", n=10, n_in=3, omega=0.5, seed=4))
    save_checkpoint(tmp_path / "ck.pt", params)
    out = tmp_path / "t.npz"
    r = run_cli("trace", "--checkpoint", str(tmp_path / "ck.pt"), "--steps", "6", "--batch", "3", "--out", str(out))
    assert r.returncode == 0, r.stderr
    trace = load_trace(out)
    assert trace.meta["reset"] == "subtractive" and trace.meta["T"] == 6 and trace.meta["B"] == 3
    for k, v in params.tensors.items():
        assert np.array_equal(trace.arrays[k], v.numpy())
    assert main(["trace", "--checkpoint", str(tmp_path / "ck.pt"), "--n", "12", "--out", str(out)]) == 2


def test_damaged_checkpoint(tmp_path, capsys):
    (tmp_path / "ck.pt").write_bytes(b"not a checkpoint")
    assert main(["trace", "--checkpoint", str(tmp_path / "ck.pt"), "--out", str(tmp_path / "t.npz")]) == 2
    assert "not a readable checkpoint" in capsys.readouterr().err


def test_demo_prints_agreement(capsys, tmp_path):
    assert main(["demo", "--n", "8", "--steps", "10", "--omega", "0.5", "--json", str(tmp_path / "c.json")]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("rtrl-")}
    assert float(rows["rtrl-dense"][1]) <= 1e-9 and float(rows["rtrl-sparse"][1]) <= 1e-9
    assert (tmp_path / "c.json").exists()
