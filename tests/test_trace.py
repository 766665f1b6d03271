"""Trace files: round trip, contents against independent runs, and clear errors for bad files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import CELL_VARIANTS, make_problem, rel_error

from golden.bptt import bptt_gradients
from golden.trace import Trace, TraceError, load_trace, make_trace


@pytest.mark.parametrize("cell,reset", CELL_VARIANTS)
def test_round_trip(tmp_path, cell, reset):
    params, x, credits = make_problem(cell, reset, n=8, T=12, omega=0.5, epsilon=0.5)
    trace = make_trace(params, x, credits)
    path = tmp_path / "t.npz"
    trace.save(path)
    back = load_trace(path)
    assert back.meta == json.loads(json.dumps(trace.meta))
    assert set(back.arrays) == set(trace.arrays)
    for k, v in trace.arrays.items():
        assert np.array_equal(back.arrays[k], v), k
    # the stored gradient is the gradient of S: BPTT on the reloaded parameters reproduces it
    g = bptt_gradients(back.params(), back.tensor("x"), back.credits())
    stored = {k: back.tensor(f"grad_{k}") for k in g}
    for k, err in rel_error(stored, g).items():
        assert err <= 1e-9, (k, err)
    for name, mask in params.masks.items():
        assert np.array_equal(back.arrays[f"mask_{name}"], mask.numpy().astype(np.uint8))
        assert np.all(back.arrays[f"grad_{name}"][back.arrays[f"mask_{name}"] == 0] == 0)
    if cell == "egru":
        a = back.arrays
        assert np.array_equal(a["y"], a["c"] * a["o"])
        assert np.array_equal(a["d"], a["o"] + a["c"] * a["dH"])
    assert not list(tmp_path.glob(".*tmp"))  # nothing half-written left behind


def _write(path, **arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)


@pytest.fixture
def good(tmp_path):
    params, x, credits = make_problem("egru", n=6, T=5)
    trace = make_trace(params, x, credits)
    path = tmp_path / "good.npz"
    trace.save(path)
    return trace, path


def test_missing_file(tmp_path):
    with pytest.raises(TraceError, match="no such file"):
        load_trace(tmp_path / "absent.npz")


def test_not_npz(tmp_path):
    p = tmp_path / "text.npz"
    p.write_text("hello")
    with pytest.raises(TraceError, match="not a readable .npz"):
        load_trace(p)


def test_truncated(good, tmp_path):
    _, path = good
    data = path.read_bytes()
    bad = tmp_path / "cut.npz"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(TraceError, match="not a readable .npz"):
        load_trace(bad)


def test_no_meta(tmp_path):
    p = tmp_path / "nometa.npz"
    _write(p, x=np.zeros(3))
    with pytest.raises(TraceError, match="no 'meta' entry"):
        load_trace(p)


def test_wrong_format_and_version(good, tmp_path):
    trace, _ = good
    for key, value, message in (("format", "other", "format 'other'"), ("version", 2, "version 2 is not supported")):
        meta = {**trace.meta, key: value}
        p = tmp_path / f"{key}.npz"
        _write(p, meta=np.array(json.dumps(meta)), **trace.arrays)
        with pytest.raises(TraceError, match=message):
            load_trace(p)


def test_missing_and_misshapen_entries(good, tmp_path):
    trace, _ = good
    arrays = dict(trace.arrays)
    del arrays["credit_y"], arrays["grad_V_z"]
    p = tmp_path / "missing.npz"
    _write(p, meta=np.array(json.dumps(trace.meta)), **arrays)
    with pytest.raises(TraceError, match="missing entries grad_V_z, credit_y"):
        load_trace(p)
    arrays = {**trace.arrays, "c": trace.arrays["c"][:, :, :3]}
    p = tmp_path / "shape.npz"
    _write(p, meta=np.array(json.dumps(trace.meta)), **arrays)
    with pytest.raises(TraceError, match="entry 'c' has shape"):
        load_trace(p)


def test_atomic_save_leaves_old_file_on_failure(good, monkeypatch):
    trace, path = good
    before = path.read_bytes()

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(RuntimeError):
        Trace(trace.meta, trace.arrays).save(path)
    assert path.read_bytes() == before
    assert not list(path.parent.glob(".*tmp"))
