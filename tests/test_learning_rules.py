"""SnAp-n and e-prop (golden.snap) against an independent dense reference, exact RTRL, BPTT and the
cost model's exact accounting (costmodel.exact_rules)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import CELL_VARIANTS, make_problem, rel_error

from costmodel.exact_rules import bptt_counts, rule_counts, rule_pattern
from golden.bptt import bptt_gradients, run_bptt
from golden.cells import make_cell
from golden.cli import main as golden_main
from golden.errors import UserError
from golden.immediate import ImmediatePlan
from golden.params import CellParams
from golden.rtrl import run_rtrl
from golden.snap import influence_pattern
from golden.trace import load_trace
from golden.train import TrainConfig

RULE_ORDER = {"snap1": 1, "snap2": 2, "snap3": 3, "eprop": 1}


def _masks(params) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in params.masks.items()}


def reference_rule(params, x, credits, rule: str) -> dict[str, torch.Tensor]:
    """The rule's gradient the plain way: M [B, n, p] over the full layout, M_t = J_t M_{t-1} + Mbar_t
    (e-prop: diag(J_t)) and then every entry outside the pattern cleared; the pattern is the cost
    model's (costmodel.exact_rules), scattered to the full layout."""
    cfg = params.config
    cell, plan = make_cell(cfg), ImmediatePlan(params, compact=False)
    kept = rule_pattern(cfg.cell, _masks(params), cfg.n, cfg.n_in, RULE_ORDER[rule])["P"]
    allowed = torch.zeros(cfg.n, params.p_total, dtype=torch.bool)
    allowed[:, params.kept_index] = torch.from_numpy(kept)
    T, B, _ = x.shape
    M = torch.zeros(B, cfg.n, params.p_total, dtype=torch.float64)
    total = torch.zeros(params.p_total, dtype=torch.float64)
    P, prev = params.effective(), cell.initial(B)
    with torch.no_grad():
        for t in range(T):
            rec = cell.step(P, prev, x[t])
            lin = cell.linearize(P, prev, rec, x[t])
            J = lin.G * lin.src[:, None, :] + (torch.diag_embed(lin.decay) if lin.decay is not None else 0)
            if rule == "eprop":
                J = torch.diag_embed(J.diagonal(dim1=1, dim2=2))
            M = torch.bmm(J, M)
            plan.add(M, lin)
            M = M * allowed
            credit = {k: v[t] for k, v in credits.items()}
            total += torch.einsum("bn,bnp->p", cell.state_credit(rec, credit), M)
            for name, g in cell.direct_gradient(rec, credit).items():
                block = params.block(name)
                total[block.offset : block.offset + block.size] += g.sum(0).reshape(-1)
            prev = rec
    return params.unflatten(total)


@pytest.mark.parametrize("cell,reset", CELL_VARIANTS)
@pytest.mark.parametrize("omega", [0.0, 0.5, 0.9])
@pytest.mark.parametrize("rule", ["snap1", "snap2", "eprop"])
def test_rule_equals_dense_reference(cell, reset, omega, rule):
    params, x, credits = make_problem(cell, reset, n=7, n_in=3, T=9, B=3, omega=omega, epsilon=0.5, seed=3)
    got = run_rtrl(params, x, credits, mode=rule).grads
    want = reference_rule(params, x, credits, rule)
    assert max(rel_error(got, want).values()) < 1e-12
    for name, mask in params.masks.items():
        assert (got[name][~mask] == 0).all()  # masked weights get exactly no gradient


@pytest.mark.parametrize("cell,reset", CELL_VARIANTS)
@pytest.mark.parametrize("order", [1, 2, 3])
def test_snap_n_is_exact_while_T_le_n(cell, reset, order):
    """M_t lies in P_t, so SnAp-n cannot be exceeded before step n + 1: it equals exact RTRL and
    BPTT for T <= n. At T = n + 1 SnAp-1 departs (the check can fail)."""
    params, x, credits = make_problem(cell, reset, n=9, n_in=3, T=order + 1, B=2, omega=0.7, epsilon=0.5, seed=4)
    short = (x[:order], {k: v[:order] for k, v in credits.items()})
    snap = run_rtrl(params, *short, mode=f"snap{order}").grads
    assert max(rel_error(snap, run_rtrl(params, *short, mode="sparse").grads).values()) < 1e-12
    assert max(rel_error(snap, bptt_gradients(params, *short)).values()) < 1e-9
    if order == 1:
        longer = run_rtrl(params, x, credits, mode="snap1").grads
        assert max(rel_error(longer, run_rtrl(params, x, credits, mode="sparse").grads).values()) > 1e-6


@pytest.mark.parametrize("cell,reset", CELL_VARIANTS)
def test_eprop_equals_snap1_where_a_column_has_one_row(cell, reset):
    """u- and z-gate columns (and every threshold-RNN column) have their P_1 entries in one row: there
    SnAp-1 keeps only J's diagonal, as e-prop does. The r-gate blocks and theta reach other units
    within one step, so there the two rules differ (in the EvNN form only theta does)."""
    params, x, credits = make_problem(cell, reset, n=8, n_in=3, T=12, B=2, omega=0.5, epsilon=0.5, seed=6)
    eprop = run_rtrl(params, x, credits, mode="eprop").grads
    snap1 = run_rtrl(params, x, credits, mode="snap1").grads
    err = rel_error(eprop, snap1)
    # EvNN's r multiplies after V_z's product, so only theta reaches other units there
    spreads = {"trnn": (), "evnn": ("theta",)}.get(cell, ("W_r", "V_r", "b_r", "theta"))
    single_row = [k for k in err if k not in spreads]
    assert all(err[k] < 1e-12 for k in single_row)
    if cell != "trnn":
        assert all(err[k] > 1e-6 for k in err if k not in single_row)


@pytest.mark.parametrize("cell,reset", CELL_VARIANTS)
@pytest.mark.parametrize("omega", [0.0, 0.5, 0.9])
@pytest.mark.parametrize("rule", ["snap1", "snap2", "snap3", "eprop"])
def test_cost_model_predicts_every_counter(cell, reset, omega, rule):
    params, x, credits = make_problem(cell, reset, n=9, n_in=3, T=10, B=3, omega=omega, epsilon=0.4, seed=5)
    x[3, 1] = 0.0  # a silent input step
    run = run_rtrl(params, x, credits, mode=rule, keep_records=True)
    rec, out_key = run.records, make_cell(params.config).output_key
    predicted = rule_counts(
        cell, rule, _masks(params), (x != 0).numpy(), (rec[out_key] != 0).numpy(), (rec["d"] != 0).numpy()
    )
    assert set(predicted) <= set(run.counters.per_step)
    for field, value in predicted.items():
        assert (value == run.counters.per_step[field]).all(), field
    stored = run.counters.per_step["influence_stored"]
    size = int(influence_pattern(params, RULE_ORDER[rule]).sum())
    assert (stored == size).all()  # SnAp's stored entries are its pattern's size
    assert size == int(rule_pattern(cell, _masks(params), 9, 3, RULE_ORDER[rule])["P"].sum())


def test_snap2_pattern_densifies_at_small_n_and_thins_with_omega():
    """DESIGN.md: two hops per step (r y inside V_z) make SnAp-2's pattern nearly full at n = 10,
    omega = 0.5 (2,782 of 2,800 there); at omega = 0.9 it is far from full."""
    params, _, _ = make_problem("egru", n=10, n_in=3, omega=0.5, seed=2)
    full = 10 * params.p_kept
    assert full == 2800 and 0.98 * full < int(influence_pattern(params, 2).sum()) < full
    sparse, _, _ = make_problem("egru", n=10, n_in=3, omega=0.9, seed=2)
    assert int(influence_pattern(sparse, 2).sum()) < 0.7 * 10 * sparse.p_kept


def test_unknown_mode_is_a_user_error():
    params, x, credits = make_problem("egru", n=4, T=2)
    for mode in ("snap0", "snapx", "eprop2"):
        with pytest.raises(UserError, match="mode: unknown mode"):
            run_rtrl(params, x, credits, mode=mode)


@pytest.mark.parametrize("algo", ["snap1", "eprop"])
def test_trace_holds_the_rule_gradient(tmp_path, algo):
    out = tmp_path / "t.npz"
    args = ["trace", "--n", "6", "--omega", "0.5", "--steps", "7", "--batch", "2", "--epsilon", "0.5"]
    assert golden_main([*args, "--algo", algo, "--out", str(out)]) == 0
    trace = load_trace(out)
    assert trace.meta["algo"] == algo and algo in trace.meta["gradient"].lower().replace("-", "")
    params = trace.params()
    want = run_rtrl(params, trace.tensor("x"), trace.credits(), mode=algo).grads
    exact = run_rtrl(params, trace.tensor("x"), trace.credits(), mode="sparse").grads
    got = {k: trace.tensor(f"grad_{k}") for k in want}
    assert max(rel_error(got, want).values()) == 0
    assert max(rel_error(got, exact).values()) > 1e-6  # the approximation is what was stored


def test_trace_rejects_an_unknown_algo(tmp_path, capsys):
    assert golden_main(["trace", "--n", "4", "--algo", "snap9x", "--out", str(tmp_path / "t.npz")]) != 0
    assert "--algo: got 'snap9x'" in capsys.readouterr().err
    assert not (tmp_path / "t.npz").exists()


@pytest.mark.parametrize("algo", ["snap2", "eprop"])
def test_train_with_a_rule(tmp_path, algo):
    args = ["train", "--algo", algo, "--n", "6", "--omega", "0.5", "--iterations", "3", "--batch", "4"]
    assert golden_main([*args, "--samples", "64", "--eval-every", "3", "--out", str(tmp_path), "--no-progress"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["config"]["algo"] == algo and metrics["iterations_done"] == 3
    config = TrainConfig(algo=algo, n=6, omega=0.5)
    size = int(influence_pattern(CellParams.initialise(config.cell_config()), RULE_ORDER[algo]).sum())
    assert all(h["influence_stored"] == size for h in metrics["history"])


@pytest.mark.parametrize("cell,reset", CELL_VARIANTS)
@pytest.mark.parametrize("omega", [0.0, 0.5, 0.9])
def test_adjoint_bptt_equals_autograd_and_its_counters_are_predicted(cell, reset, omega):
    params, x, credits = make_problem(cell, reset, n=9, n_in=3, T=10, B=3, omega=omega, epsilon=0.4, seed=7)
    x[2, 0] = 0.0
    run = run_bptt(params, x, credits)
    assert max(rel_error(run.grads, bptt_gradients(params, x, credits)).values()) < 1e-12
    rec = run_rtrl(params, x, credits, mode="sparse", keep_records=True).records
    out_key = make_cell(params.config).output_key
    predicted = bptt_counts(
        cell, _masks(params), (x != 0).numpy(), (rec[out_key] != 0).numpy(), (rec["d"] != 0).numpy()
    )
    for field, value in predicted.items():
        assert (value == run.counters.per_step[field]).all(), field


def test_patterns_command_matches_golden_patterns(capsys):
    from costmodel.cli import main as costmodel_main

    assert (
        costmodel_main(["patterns", "--cell", "egru", "--n", "10", "--omega", "0.5", "--n-in", "3", "--seed", "2"]) == 0
    )
    row = capsys.readouterr().out.splitlines()[2]
    params, _, _ = make_problem("egru", n=10, n_in=3, omega=0.5, seed=2)
    full = 10 * params.p_kept
    sizes = [int(influence_pattern(params, order).sum()) / full for order in (1, 2)]
    assert row == f"| 10 | {sizes[0]:.3f} / {sizes[1]:.3f} |"
    assert costmodel_main(["patterns", "--cell", "lstm"]) != 0
    assert "cell: unknown cell 'lstm'" in capsys.readouterr().err
