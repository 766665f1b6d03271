"""Plots of a sweep's tidy table. Every axis carries its unit; ratios and sizes use log scales.

One-dimensional plots take a slice of the table: the coordinates they do not plot are held at the
spec's `reference` values (the nearest value present in the sweep; the median one when the spec
names none), and the slice is stated in the title. The slices are chosen from the sweep's
coordinates before anything is evaluated, so a sweep streams its chunks through `SliceCollector`
and keeps only the rows its plots draw.

Every method has one colour in every plot (METHOD_COLOURS), and no axis extends beyond the values
the sweep took: heatmaps are drawn cell by cell over the swept values, labelled with them.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402

from costmodel.errors import UserError  # noqa: E402
from costmodel.spec import SweepSpec  # noqa: E402
from costmodel.table1 import CORE_METHOD, SWEEP_METHODS  # noqa: E402
from golden.atomic import atomic_path  # noqa: E402
from golden.figures import compute_adjusted, run_label  # noqa: E402

COORDS = ("n", "p", "T", "alpha", "beta", "omega", "lanes", "clock_mhz")
LABEL = {
    "n": "n (units)",
    "T": "T (steps)",
    "beta": "β (derivative sparsity)",
    "omega": "ω (parameter sparsity)",
    "alpha": "α (activity sparsity)",
}


METHOD_COLOURS = {m: f"C{i}" for i, m in enumerate(SWEEP_METHODS)}
FREE = {  # the coordinates each plot varies; the others are held at the reference
    "op_ratio": ("beta", "omega"),
    "memory_vs_n": ("n",),
    "time_vs_n": ("n",),
    "latency_vs_n": ("n",),
    "storage_vs_n": ("n",),
    "crossover_T": ("T",),
    "energy_memory_pareto": ("omega", "lanes", "clock_mhz"),
    "fpga_vs_n": ("n",),
}


def _reference(spec: SweepSpec, coords, free: tuple[str, ...]) -> dict[str, float]:
    """Held values of every coordinate not in `free` (p follows n when the spec scales p with n);
    `coords` (costmodel.sweep.Coordinates) lists the values each coordinate takes in the sweep."""
    ref = {}
    for k in COORDS:
        if k in free or (k == "p" and "n" in free):
            continue
        values = coords.values[k]
        want = spec.reference.get(k, values[len(values) // 2])
        ref[k] = float(values[np.argmin(np.abs(values - want))])
    if "n" in ref and "p" in ref:  # keep p consistent with the chosen n
        at_n = coords.p_at(ref["n"])
        want_p = spec.reference.get("p", at_n[len(at_n) // 2])
        ref["p"] = float(at_n[np.argmin(np.abs(at_n - want_p))])
    return ref


class SliceCollector:
    """Keeps, from each chunk of a sweep's table, the rows of every plot's slice."""

    def __init__(self, spec: SweepSpec, coords):
        self.refs = {name: _reference(spec, coords, FREE[name]) for name in spec.plots if name in FREE}
        self.parts: dict[str, list[dict[str, np.ndarray]]] = {name: [] for name in self.refs}

    def add(self, table: dict[str, np.ndarray]) -> None:
        for name, ref in self.refs.items():
            keep = _select(table, ref)
            if keep.any():
                self.parts[name].append({k: v[keep] for k, v in table.items()})

    def table(self, name: str) -> dict[str, np.ndarray]:
        parts = self.parts[name]
        if not parts:
            raise UserError(f"plot {name}: the sweep has no rows at its slice {_slice_text(self.refs[name])}")
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _heat_axis(ax, which: str, values: np.ndarray) -> np.ndarray:
    """Cell edges in index space (one cell per swept value) with the values as tick labels, at most
    six of them, so the axis shows the swept values and nothing beyond them."""
    edges = np.arange(len(values) + 1) - 0.5
    shown = np.unique(np.linspace(0, len(values) - 1, min(len(values), 6)).round().astype(int))
    set_ticks = ax.set_xticks if which == "x" else ax.set_yticks
    set_ticks(shown, [f"{values[i]:.3g}" for i in shown])
    (ax.set_xlim if which == "x" else ax.set_ylim)(edges[0], edges[-1])
    return edges


def _select(table, ref, method=None) -> np.ndarray:
    keep = np.ones(len(table["method"]), dtype=bool)
    for k, v in ref.items():
        keep &= table[k] == v
    if method is not None:
        keep &= table["method"] == method
    return keep


def _slice_text(ref: dict[str, float]) -> str:
    shown = {k: v for k, v in ref.items() if k not in ("lanes", "clock_mhz")}
    return ", ".join(f"{k}={v:g}" for k, v in shown.items())


def _save(fig, out: Path, name: str) -> Path:
    path = out / f"{name}.png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path


def op_ratio(spec, table, out: Path, ref: dict[str, float]) -> Path:
    """Time per step relative to dense RTRL over (beta, omega), one panel per method: a cell per
    swept (beta, omega), or a point per random draw."""
    methods = list(spec.methods)
    cols = min(4, len(methods))
    rows = -(-len(methods) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.8 * rows), squeeze=False, constrained_layout=True)
    ratios = table["time_ratio_vs_rtrl"]
    norm = LogNorm(vmin=max(ratios[ratios > 0].min(), 1e-6), vmax=max(ratios.max(), 1.0))
    for ax, method in zip(axes.flat, methods):
        keep = _select(table, ref, method)
        b, w, r = table["beta"][keep], table["omega"][keep], table["time_ratio_vs_rtrl"][keep]
        ub, uw = np.unique(b), np.unique(w)
        if len(ub) * len(uw) == len(r):
            order = np.lexsort((b, w))
            grid = r[order].reshape(len(uw), len(ub))
            xe, ye = _heat_axis(ax, "x", ub), _heat_axis(ax, "y", uw)
            image = ax.pcolormesh(xe, ye, np.clip(grid, norm.vmin, None), norm=norm, cmap="viridis")
        else:
            image = ax.scatter(b, w, c=np.clip(r, norm.vmin, None), norm=norm, cmap="viridis", s=8)
            _limits(ax, b, w)
        ax.set(title=method, xlabel=LABEL["beta"], ylabel=LABEL["omega"])
    for ax in list(axes.flat)[len(methods) :]:
        ax.axis("off")
    fig.colorbar(image, ax=axes, label="time per step / dense RTRL's (log scale)")
    fig.suptitle(f"Operations per step relative to dense RTRL ({_slice_text(ref)})")
    return _save(fig, out, "op_ratio")


def _limits(ax, x: np.ndarray, y: np.ndarray | None = None) -> None:
    """Axis limits at the data's extent (no margin beyond the swept values)."""
    if len(x) and x.min() < x.max():
        ax.set_xlim(x.min(), x.max())
    if y is not None and len(y) and y.min() < y.max():
        ax.set_ylim(y.min(), y.max())


def _vs(spec, table, out: Path, ref, x: str, y: str, ylabel: str, name: str, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(7.5, 5.2), constrained_layout=True)
    for method in spec.methods:
        keep = _select(table, ref, method)
        order = np.argsort(table[x][keep])
        ax.plot(table[x][keep][order], table[y][keep][order], marker=".", color=METHOD_COLOURS[method], label=method)
    ax.set(xscale="log", yscale="log", xlabel=LABEL.get(x, x), ylabel=ylabel, title=f"{title}\n({_slice_text(ref)})")
    _limits(ax, table[x])
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return _save(fig, out, name)


def memory_vs_n(spec, table, out, ref):
    return _vs(spec, table, out, ref, "n", "memory", "memory (words)", "memory_vs_n", "Memory against network size")


def time_vs_n(spec, table, out, ref):
    return _vs(
        spec,
        table,
        out,
        ref,
        "n",
        "time_per_step",
        "time per step (operations)",
        "time_vs_n",
        "Operations per step against network size",
    )


def latency_vs_n(spec, table, out, ref):
    """Microseconds per step: Table 1's methods at one MAC per lane per cycle, the core (method core)
    at its cycle function's cycles per training step, update shared by the batch."""
    return _vs(
        spec,
        table,
        out,
        ref,
        "n",
        "latency_us",
        "time per (training) step (µs)",
        "latency_vs_n",
        f"Time per step against network size ({spec.hardware.lanes} lanes)",
    )


def storage_vs_n(spec, table, out, ref):
    """Bytes on chip: Table 1's words at the hardware's widths; the core's memories (rtl.core.memory)."""
    return _vs(
        spec, table, out, ref, "n", "storage_bytes", "storage (bytes)", "storage_vs_n", "Storage against network size"
    )


def crossover_T(spec, table, out: Path, ref: dict[str, float]) -> Path:
    """Memory against T: BPTT's grows as T n + p; where it crosses each RTRL variant's is marked."""
    fig, ax = plt.subplots(figsize=(7.5, 5.2), constrained_layout=True)
    keep_b = _select(table, ref, "bptt")
    Tb, mb = table["T"][keep_b], table["memory"][keep_b]
    order = np.argsort(Tb)
    if keep_b.any():
        ax.plot(Tb[order], mb[order], color=METHOD_COLOURS["bptt"], lw=2, label="bptt")
    for method in (m for m in spec.methods if m != "bptt"):
        keep = _select(table, ref, method)
        if not keep.any():
            continue
        colour = METHOD_COLOURS[method]
        level = float(np.median(table["memory"][keep]))
        ax.axhline(level, color=colour, ls="--", label=method)
        t_cross = (level - ref["p"]) / ref["n"]  # T n + p = level
        if len(Tb) and Tb.min() <= t_cross <= Tb.max():
            ax.plot([t_cross], [level], "o", color=colour)
            ax.annotate(f"T ≈ {t_cross:,.0f}", (t_cross, level), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel=LABEL["T"],
        ylabel="memory (words)",
        title=f"BPTT against RTRL memory: crossover in T\n({_slice_text(ref)})",
    )
    _limits(ax, table["T"])
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return _save(fig, out, "crossover_T")


def energy_memory_pareto(spec, table, out: Path, ref: dict[str, float]) -> Path:
    """Energy per step against storage for one workload (the reference n, T, alpha, beta) over the
    choices a designer makes: method, parameter sparsity omega and, when swept, lanes and clock; the
    Pareto front joins the points no other point beats on both."""
    keep = _select(table, ref)
    fig, ax = plt.subplots(figsize=(7.5, 5.2), constrained_layout=True)
    for method in spec.methods:
        sel = keep & (table["method"] == method)
        colour = METHOD_COLOURS[method]
        ax.scatter(table["storage_bytes"][sel], table["energy_pj"][sel], s=14, alpha=0.7, color=colour, label=method)
    exact = ~np.char.startswith(table["method"].astype(str), "snap")
    for subset, style, label in ((keep, "k-", "Pareto front"), (keep & exact, "k--", "Pareto front, exact methods")):
        mem, energy = table["storage_bytes"][subset], table["energy_pj"][subset]
        order = np.lexsort((energy, mem))
        mem, energy = mem[order], energy[order]
        front = energy < np.concatenate([[np.inf], np.minimum.accumulate(energy)[:-1]])
        ax.plot(mem[front], energy[front], style, marker="o", mfc="none", ms=10, lw=1.2, zorder=5, label=label)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="storage (bytes)",
        ylabel="energy per step (pJ)",
        title=f"Energy against memory over methods and ω ({spec.hardware.mac} MACs)\n({_slice_text(ref)})",
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, markerscale=1.5)
    return _save(fig, out, "energy_memory_pareto")


def learning_curves(spec, table, out: Path, ref=None) -> Path:
    """Golden training loss against compute-adjusted iterations (paper's and measured)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.8), constrained_layout=True)
    for i, run_dir in enumerate(spec.golden_runs):
        file = Path(run_dir) / "metrics.json"
        if not file.is_file():
            raise UserError(f"golden_runs[{i}]: no metrics.json in {run_dir} (train with `python -m golden train`)")
        run = json.loads(file.read_text())
        curves = compute_adjusted(run)
        if curves["measured"] is None:
            continue
        a.plot(curves["paper"], curves["loss"], color=f"C{i}", label=run_label(run))
        b.plot(curves["measured"], curves["loss"], color=f"C{i}", label=run_label(run))
    a.set(
        title="paper: Σ β̃² ω̃² per iteration",
        xlabel="compute-adjusted iterations",
        ylabel="training loss (BCE)",
        yscale="log",
    )
    b.set(
        title="measured: Σ influence MACs / dense RTRL's",
        xlabel="compute-adjusted iterations",
        ylabel="training loss (BCE)",
        yscale="log",
    )
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Spiral task: loss against compute-adjusted iterations (golden runs, moving average of 25)")
    return _save(fig, out, "learning_curves")


def fpga_vs_n(spec, table, out: Path, ref: dict[str, float]) -> Path:
    """The accelerator's share of the part against n: LUTs (fitted synthesis model) and RAM blocks
    (the M banks as the RTL tiles them, the rest of the storage from its bits), one line per method;
    above 1 it does not fit."""
    from costmodel.fpga import PARTS

    part = spec.hardware.fpga_device
    cap = PARTS[part]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), constrained_layout=True)
    shares = {
        "LUTs (fitted synthesis model)": lambda k: table["fpga_luts"][k] / cap["luts"],
        "block RAMs (M banks as tiled)": lambda k: table["fpga_bram"][k] / cap["bram"],
    }
    for ax, (what, share) in zip(axes, shares.items()):
        for method in (m for m in spec.methods if m != CORE_METHOD):  # the core's resources are synthesised
            keep = _select(table, ref, method)
            order = np.argsort(table["n"][keep])
            ax.plot(
                table["n"][keep][order],
                np.maximum(share(keep)[order], 1e-4),
                marker=".",
                color=METHOD_COLOURS[method],
                label=method,
            )
        ax.axhline(1.0, color="k", lw=1, ls="--")
        ax.set(xscale="log", yscale="log", xlabel=LABEL["n"], ylabel=f"share of the {part}'s {what}")
        _limits(ax, table["n"])
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"What fits the {part} (dashed: the part is full; LUT model fitted on n = 4..16)\n{_slice_text(ref)}")
    return _save(fig, out, "fpga_vs_n")


PLOTTERS = {
    f.__name__: f
    for f in (
        op_ratio,
        memory_vs_n,
        time_vs_n,
        latency_vs_n,
        storage_vs_n,
        crossover_T,
        energy_memory_pareto,
        learning_curves,
        fpga_vs_n,
    )
}


def draw(spec: SweepSpec, slices: SliceCollector, out: Path) -> list[Path]:
    """Every plot the spec names, each from its slice of the sweep."""
    figures = []
    for name in spec.plots:
        if name in slices.refs:
            figures.append(PLOTTERS[name](spec, slices.table(name), out, slices.refs[name]))
        else:
            figures.append(PLOTTERS[name](spec, None, out))
    return figures


RULE_METHODS = {"bptt": "bptt", "rtrl": "rtrl", "sparse-rtrl": "rtrl-both", "snap1": "snap1", "snap2": "snap2"}
RULE_MARKERS = {"bptt": "s", "rtrl": "D", "sparse-rtrl": "o", "snap1": "^", "snap2": "v", "eprop": "P"}


def accuracy_vs_cost(rows: list[dict], out: Path, task: str) -> Path:
    """Measured training runs (golden sweep): test accuracy against learning MACs per step and against
    learning memory, one marker per rule (the colour of its Table 1 method), a point per (n, ω)
    with error bars over seeds."""
    from golden.train_sweep import summarise  # the sweep's own grouping of seeds

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), constrained_layout=True)
    points = summarise(rows)
    for rule in dict.fromkeys(p["algo"] for p in points):
        mine = [p for p in points if p["algo"] == rule]
        colour = METHOD_COLOURS.get(RULE_METHODS.get(rule, ""), f"C{len(SWEEP_METHODS)}")
        for ax, x in zip(axes, ("learning_macs_per_step", "memory_words")):
            ax.errorbar(
                [p[x] for p in mine],
                [p["accuracy_mean"] for p in mine],
                yerr=[p["accuracy_std"] for p in mine],
                fmt=RULE_MARKERS.get(rule, "o"),
                color=colour,
                label=rule,
                capsize=3,
                linestyle="none",
            )
            for p in mine:
                ax.annotate(
                    f"ω={p['omega']:g}",
                    (p[x], p["accuracy_mean"]),
                    fontsize=7,
                    alpha=0.7,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
    axes[0].set(xlabel="learning MACs per step and sample (influence update, or BPTT's backward pass)")
    axes[1].set(xlabel="learning memory per sample (words: influence entries, or BPTT's activations)")
    for ax in axes:
        ax.set(xscale="log", ylabel="test accuracy (mean ± std over seeds)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    sizes = sorted({p["n"] for p in points})
    fig.suptitle(f"{task} task: accuracy against measured learning cost (n = {', '.join(map(str, sizes))})")
    return _save(fig, out, f"accuracy_vs_cost_{task}")
