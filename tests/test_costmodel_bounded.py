"""Sweeps of any size: counted before any work and refused above the row limit, generated,
evaluated and written chunk by chunk (peak memory flat in the sweep's size), resumable per spec; and
plots that colour each method alike everywhere and never show values outside the swept range."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import yaml
from matplotlib.colors import to_hex

from costmodel import plots
from costmodel import sweep as sweep_module
from costmodel.cli import main
from costmodel.spec import parse_spec

HUGE = {
    "name": "huge",
    "methods": ["rtrl"],
    "axes": {
        "n": {"linspace": [1, 1000, 1000]},
        "T": {"linspace": [1, 1000, 1000]},
        "beta": {"linspace": [0, 1, 1000]},
    },
}


def test_a_billion_points_are_counted_and_refused_before_any_work(tmp_path, capsys):
    spec = tmp_path / "huge.yaml"
    spec.write_text(yaml.safe_dump(HUGE))
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "1,000,000,000 points x 1 methods = 1,000,000,000 rows, above the limit of 20,000,000 rows" in err
    assert "--max-rows" in err and "Traceback" not in err
    assert not (tmp_path / "o" / "results.csv").exists()
    assert sweep_module.count_rows(parse_spec(HUGE)) == (10**9, 10**9)


def test_an_axis_too_long_to_hold_is_refused_by_the_spec(capsys):
    with pytest.raises(Exception, match="axes.n"):
        parse_spec({**HUGE, "axes": {"n": {"linspace": [1, 10, 10**10]}}})


def test_max_rows_lowers_and_raises_the_limit(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({**HUGE, "axes": {"n": {"values": [8, 16, 32]}}}))
    assert main(["sweep", str(spec), "--out", str(tmp_path / "a"), "--no-progress", "--max-rows", "2"]) == 2
    assert "3 points x 1 methods = 3 rows, above the limit of 2 rows" in capsys.readouterr().err
    assert main(["sweep", str(spec), "--out", str(tmp_path / "a"), "--no-progress", "--max-rows", "3"]) == 0


def test_points_are_the_cartesian_product_in_any_slice():
    spec = parse_spec(
        {
            "name": "order",
            "axes": {"n": {"values": [4, 8]}, "T": {"values": [1, 2, 3]}, "omega": {"uniform": [0, 0.9]}},
            "random": {"count": 5, "seed": 1},
        }
    )
    points = sweep_module.DesignPoints(spec)
    whole = points.slice(0, points.count)
    assert points.count == 30
    # the grid's last axis is fastest, each grid point crossed with the same 5 random draws
    assert whole["n"].tolist() == [4.0] * 15 + [8.0] * 15
    assert whole["T"].tolist() == ([1.0] * 5 + [2.0] * 5 + [3.0] * 5) * 2
    assert np.array_equal(whole["omega"], np.tile(whole["omega"][:5], 6))
    for start, stop in ((0, 7), (7, 13), (13, 30)):
        part = points.slice(start, stop)
        for k in whole:
            assert np.array_equal(part[k], whole[k][start:stop])


PEAK_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys
    from costmodel.spec import parse_spec
    from costmodel.sweep import run_sweep
    spec = parse_spec(json.loads(sys.argv[1]))
    meta = run_sweep(spec, sys.argv[2], progress=False)
    print(json.dumps({"rows": meta["rows"], "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    """
)


def _peak(tmp_path, name: str, alphas: int) -> dict:
    spec = {
        "name": name,
        "methods": ["rtrl", "rtrl-both"],
        "axes": {
            "n": {"values": [16, 64, 256, 1024]},
            "T": {"values": [10, 100, 1000]},
            "beta": {"linspace": [0, 1, 100]},
            "omega": {"linspace": [0, 0.9, 10]},
            "alpha": {"linspace": [0, 0.9, alphas]},
        },
        "fixed": {"p_per_n2": 3},
        "reference": {"n": 64, "T": 100, "beta": 0.5, "omega": 0.5},
        "plots": ["op_ratio", "memory_vs_n", "crossover_T"],
    }
    out = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, json.dumps(spec), str(tmp_path / name)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


@pytest.mark.slow
def test_peak_memory_is_flat_in_the_sweeps_size(tmp_path):
    """A sweep five times larger (120,000 against 600,000 points, 1.2 million rows, 12 chunks) peaks
    within 25 MB of the smaller one (both span several chunks): one chunk's table, the plot slices
    (which do not grow with alpha) and the CSV writer's block are all it holds. Holding the table
    would add about 300 MB."""
    small = _peak(tmp_path, "small", 10)
    large = _peak(tmp_path, "large", 50)
    assert large["rows"] == 5 * small["rows"] == 1_200_000
    assert large["peak_mb"] - small["peak_mb"] < 25, (small, large)
    lines = sum(1 for _ in open(tmp_path / "large" / "results.csv"))
    assert lines == large["rows"] + 1


def test_another_specs_partial_chunks_survive_a_finished_sweep(tmp_path):
    base = {"name": "a", "methods": ["rtrl"], "axes": {"n": {"values": [8, 16]}}}
    other = parse_spec({**base, "axes": {"n": {"values": [8, 32]}}})
    out = tmp_path / "shared"
    kept = out / ".partial" / sweep_module.spec_hash(other)
    kept.mkdir(parents=True)
    (kept / "chunk_00000.npz").write_bytes(b"")
    sweep_module.run_sweep(parse_spec(base), out, progress=False)
    assert kept.is_dir() and (out / ".partial").is_dir()
    assert not (out / ".partial" / sweep_module.spec_hash(parse_spec(base))).exists()


def _capture_figures(monkeypatch) -> dict:
    figures = {}

    def keep(fig, out, name):
        figures[name] = fig
        return out / f"{name}.png"

    monkeypatch.setattr(plots, "_save", keep)
    return figures


def _line_colours(ax) -> dict[str, str]:
    colours = {}
    for artist in [*ax.get_lines(), *ax.collections]:
        label = artist.get_label()
        if label in plots.METHOD_COLOURS:
            colour = artist.get_color() if hasattr(artist, "get_xdata") else artist.get_facecolor()[0]
            colours[label] = to_hex(colour)
    return colours


def test_every_plot_colours_each_method_alike(tmp_path, monkeypatch):
    figures = _capture_figures(monkeypatch)
    spec = parse_spec(
        {
            "name": "colours",
            "axes": {
                "n": {"values": [16, 64]},
                "T": {"values": [10, 1000]},
                "beta": {"values": [0, 0.5]},
                "omega": {"values": [0, 0.8]},
            },
            "fixed": {"alpha": 0.8, "p_per_n2": 3},
            "hardware": {"fpga_device": "ecp5-85k"},
            "plots": ["memory_vs_n", "time_vs_n", "crossover_T", "energy_memory_pareto", "fpga_vs_n"],
        }
    )
    sweep_module.run_sweep(spec, tmp_path, progress=False)
    want = {m: to_hex(plots.METHOD_COLOURS[m]) for m in spec.methods}
    for name, fig in figures.items():
        for ax in fig.axes:
            found = _line_colours(ax)
            if found:
                assert found == want, name


def test_heatmap_axes_stay_inside_the_swept_values(tmp_path, monkeypatch):
    """The table1-paper case: two values per axis; the axes show 0 and 0.5 (beta), 0 and 0.8 (omega),
    labelled cell by cell, and nothing outside [min, max]."""
    figures = _capture_figures(monkeypatch)
    spec = parse_spec(
        {
            "name": "two",
            "axes": {"n": {"values": [16, 64]}, "beta": {"values": [0, 0.5]}, "omega": {"values": [0, 0.8]}},
            "plots": ["op_ratio", "memory_vs_n"],
        }
    )
    sweep_module.run_sweep(spec, tmp_path, progress=False)
    for ax in figures["op_ratio"].axes:
        if ax.get_title() in spec.methods:
            assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "0.5"]
            assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "0.8"]
            assert ax.get_xlim() == (-0.5, 1.5) and ax.get_ylim() == (-0.5, 1.5)  # one cell per value
    ax = figures["memory_vs_n"].axes[0]
    assert ax.get_xlim() == (16.0, 64.0)
