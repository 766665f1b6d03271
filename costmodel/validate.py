"""`costmodel validate`: the cost model against what the golden model counts.

For every cell (EGRU with both resets, threshold RNN, GRU) and omega in {0, 0.5, 0.9}, on random
inputs and on spiral-task inputs, it runs golden's dense and sparse RTRL, the adjoint BPTT and the
approximate rules (SnAp-1, SnAp-2, e-prop) and compares per step and per sample: exact mode (predicted from the run's
masks; costmodel.exact and costmodel.exact_rules) must have zero error; statistical mode
(from the run's mean alpha, beta and omega) reports its relative error on the totals. Beside them,
Table 1's rtrl-both influence ratio with the same measured beta and omega, and the measured one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from costmodel.exact import FIELDS, exact_counts, expected_counts
from costmodel.exact_rules import RULES, bptt_counts, rule_counts
from costmodel.table1 import table1
from golden.atomic import atomic_write_text

VARIANTS = (("egru", "paper"), ("egru", "subtractive"), ("trnn", "paper"), ("gru", "paper"), ("evnn", "paper"))


def _run_case(cell: str, reset: str, omega: float, inputs: str, n: int, T: int, B: int, seed: int) -> dict[str, Any]:
    import torch

    from golden.bptt import run_bptt
    from golden.cells import make_cell
    from golden.config import CellConfig
    from golden.params import CellParams
    from golden.rtrl import run_rtrl
    from golden.spiral import spiral_dataset

    n_in = 2 if inputs == "spiral" else 3
    cfg = CellConfig(cell=cell, reset=reset, n=n, n_in=n_in, omega=omega, epsilon=0.5, seed=seed)
    params = CellParams.initialise(cfg)
    gen = torch.Generator().manual_seed(seed)
    if inputs == "spiral":
        x = spiral_dataset(100, seed=seed)["train"].x[:T, :B]
    else:
        x = torch.randn(T, B, n_in, generator=gen, dtype=torch.float64)
    credits = {k: torch.randn(T, B, n, generator=gen, dtype=torch.float64) for k in make_cell(cfg).credit_keys}
    runs = {
        mode: run_rtrl(params, x, credits, mode=mode, keep_records=(mode == "sparse")) for mode in ("dense", "sparse")
    }
    rec = runs["sparse"].records
    out_key = make_cell(cfg).output_key
    masks = {k: v.numpy() for k, v in params.masks.items()}
    nonzero = ((x != 0).numpy(), (rec[out_key] != 0).numpy(), (rec["d"] != 0).numpy())
    predicted = exact_counts(cell, masks, *nonzero)
    c_sparse = runs["sparse"].counters
    alpha, beta = c_sparse.mean("alpha"), c_sparse.mean("beta")
    expected = expected_counts(cell, n, n_in, T, alpha, beta, omega, x_density=float((x != 0).double().mean()))
    case: dict[str, Any] = {
        "cell": cell,
        "reset": reset,
        "omega": omega,
        "inputs": inputs,
        "n": n,
        "T": T,
        "B": B,
        "alpha": alpha,
        "beta": beta,
        "exact_max_abs_error": {},
        "statistical_rel_error": {},
    }
    for mode in ("dense", "sparse"):
        measured = runs[mode].counters.per_step
        for field in FIELDS:
            err = int(np.abs(predicted[mode][field] - measured[field]).max())
            case["exact_max_abs_error"][f"{mode}.{field}"] = err
            total = float(measured[field].sum()) / B
            case["statistical_rel_error"][f"{mode}.{field}"] = (expected[mode][field] - total) / total if total else 0.0
    measured = run_bptt(params, x, credits).counters.per_step
    for field, value in bptt_counts(cell, masks, *nonzero).items():
        case["exact_max_abs_error"][f"bptt.{field}"] = int(np.abs(value - measured[field]).max())
    for rule in RULES:
        measured = run_rtrl(params, x, credits, mode=rule).counters.per_step
        for field, value in rule_counts(cell, rule, masks, *nonzero).items():
            case["exact_max_abs_error"][f"{rule}.{field}"] = int(np.abs(value - measured[field]).max())
    dense_inf = runs["dense"].counters.total("influence_macs")
    omega_m = c_sparse.sparsity["omega_maskable"]
    t1 = table1("rtrl-both", n, 1, T, alpha, beta, omega_m)
    case["influence_ratio_measured"] = c_sparse.total("influence_macs") / dense_inf
    case["influence_ratio_table1"] = float(t1.influence_term / (n * n))
    return case


def validate(
    out: str | os.PathLike, n: int = 10, T: int = 12, B: int = 3, seed: int = 0, progress: bool = True
) -> dict[str, Any]:
    """Run every case, write validate.json and validate.md into `out`; returns the report."""
    cases = [
        (cell, reset, omega, inputs)
        for cell, reset in VARIANTS
        for omega in (0.0, 0.5, 0.9)
        for inputs in ("random", "spiral")
    ]
    results = [
        _run_case(c, r, w, i, n, T, B, seed) for c, r, w, i in tqdm(cases, desc="validate", disable=not progress)
    ]
    worst = max(max(r["exact_max_abs_error"].values()) for r in results)
    report = {
        "exact_ok": worst == 0,
        "exact_worst_abs_error": worst,
        "cases": results,
        "settings": {"n": n, "T": T, "B": B, "seed": seed, "epsilon": 0.5},
    }
    atomic_write_text(Path(out) / "validate.json", json.dumps(report, indent=1))
    atomic_write_text(Path(out) / "validate.md", markdown(report))
    return report


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"Exact mode: worst absolute error over every counter, step and sample: {report['exact_worst_abs_error']}",
        "",
        "The last two columns compare the sparse/dense influence MACs measured with Table 1's rtrl-both "
        "(1 - beta)^2 (1 - omega)^2 at the same measured beta and omega. They agree for the threshold RNN; "
        "the EGRU and GRU depart because their leak (1 - u_t) keeps every row of M_t non-zero, so only "
        "source rows (d_{t-1} = 0) and masked columns are saved, and J's masked entries are not skipped.",
        "",
        "| cell | reset | ω | inputs | α | β | exact max error | statistical error, sparse influence | "
        "statistical error, sparse forward | influence ratio measured | Table 1 rtrl-both |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["cases"]:
        s = r["statistical_rel_error"]
        lines.append(
            f"| {r['cell']} | {r['reset']} | {r['omega']:g} | {r['inputs']} | {r['alpha']:.3f} | {r['beta']:.3f} | "
            f"{max(r['exact_max_abs_error'].values())} | {s['sparse.influence_macs']:+.2%} | "
            f"{s['sparse.forward_macs']:+.2%} | {r['influence_ratio_measured']:.4f} | "
            f"{r['influence_ratio_table1']:.4f} |"
        )
    return "\n".join(lines) + "\n"
