"""RTRL (dense and sparse, offline) equals BPTT; sparse equals dense and skips work."""

from __future__ import annotations

import pytest
import torch
from conftest import CELL_VARIANTS, make_problem, rel_error

from golden import sparse_influence
from golden.bptt import bptt_gradients, run_bptt
from golden.cells import make_cell
from golden.config import CellConfig
from golden.immediate import ImmediatePlan
from golden.params import CellParams
from golden.rtrl import DenseInfluence, run_rtrl

# epsilon small enough that many units have d = 0, and large enough that few do
EPSILONS = {"small": 0.05, "large": 3.0}


@pytest.mark.parametrize("cell,reset", CELL_VARIANTS)
@pytest.mark.parametrize("omega", [0.0, 0.5, 0.9])
@pytest.mark.parametrize("eps_name", list(EPSILONS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rtrl_equals_bptt(cell, reset, omega, eps_name, seed):
    params, x, credits = make_problem(cell, reset, n=12, T=24, B=3, omega=omega, epsilon=EPSILONS[eps_name], seed=seed)
    g_bptt = bptt_gradients(params, x, credits)
    assert all(g.abs().max() > 0 for g in g_bptt.values()), "every block must carry gradient for the check to bite"
    dense = run_rtrl(params, x, credits, mode="dense")
    sparse = run_rtrl(params, x, credits, mode="sparse")

    for k, err in rel_error(dense.grads, g_bptt).items():
        assert err <= 1e-9, f"dense RTRL vs BPTT, {k}: {err:.2e}"
    for k, err in rel_error(sparse.grads, dense.grads).items():
        assert err <= 1e-12, f"sparse vs dense RTRL, {k}: {err:.2e}"
    for name, mask in params.masks.items():
        for grads in (g_bptt, dense.grads, sparse.grads):
            assert torch.all(grads[name][~mask] == 0)
        assert (~mask).sum() == round(omega * mask.numel())

    beta = sparse.counters.mean("beta")
    if cell != "gru":  # the epsilon choice really spans the two regimes
        assert beta > 0.3 if eps_name == "small" else beta < 0.1

    # skipping: sparse never does more than dense plus its n per-row scale multiplications (the
    # decay), and strictly less wherever something is skippable
    ds, dd = sparse.counters.per_step["influence_macs"], dense.counters.per_step["influence_macs"]
    assert (ds <= dd + params.config.n).all()
    d = run_rtrl(params, x, credits, mode="sparse", keep_records=True).records["d"]
    skippable = torch.zeros(d.shape[:2], dtype=torch.bool)
    skippable[0] = True  # M_0 = 0
    skippable[1:] = (d[:-1] == 0).any(-1)
    if omega > 0:
        skippable[:] = True
    assert (ds[skippable.numpy()] < dd[skippable.numpy()]).all()
    if cell == "gru" and omega == 0:
        assert (ds[1:] == dd[1:] + params.config.n).all()  # nothing to skip after the first step


@pytest.mark.parametrize("cell,reset", CELL_VARIANTS)
def test_float32_runs_and_agrees(cell, reset):
    """float32 RTRL equals float32 BPTT, and tracks float64 (same events, gradients within 1e-3)."""
    p64, x, credits = make_problem(cell, reset, n=8, T=20, omega=0.5, epsilon=0.5)
    p32 = CellParams(CellConfig(**{**p64.config.to_dict(), "dtype": "float32"}), p64.tensors, p64.masks)
    x32, c32 = x.float(), {k: v.float() for k, v in credits.items()}
    r64 = run_rtrl(p64, x, credits, mode="sparse", keep_records=True)
    r32 = run_rtrl(p32, x32, c32, mode="sparse", keep_records=True)
    assert all(g.dtype == torch.float32 for g in r32.grads.values())
    for k, err in rel_error(r32.grads, bptt_gradients(p32, x32, c32)).items():
        assert err < 1e-5, (k, err)
    adjoint = run_bptt(p32, x32, c32).grads  # the gated cells' compiled passes in float32
    assert all(g.dtype == torch.float32 for g in adjoint.values())
    assert max(rel_error(adjoint, bptt_gradients(p32, x32, c32)).values()) < 1e-5
    out = make_cell(p64.config).output_key
    assert torch.equal(r32.records[out] != 0, r64.records[out] != 0)
    for k, err in rel_error({k: v.double() for k, v in r32.grads.items()}, r64.grads).items():
        assert err < 1e-3, (k, err)


@pytest.mark.parametrize("cell,reset", CELL_VARIANTS)
def test_sparse_walk_in_tiles_windows_and_folds(cell, reset, monkeypatch):
    """The sparse engine's order of work does not change its numbers: M walked in column tiles of 45
    (full chunks of 32 columns and a short one, tile edges inside blocks), in windows of 3 steps,
    with row scales folded back into M every few steps. Sparse equals dense and BPTT, step by step
    non-zero counts included."""
    monkeypatch.setattr(sparse_influence, "TILE_BYTES", 12 * 8 * 45)
    monkeypatch.setattr(sparse_influence.SparseInfluence, "window", 3)
    monkeypatch.setattr(sparse_influence.SparseInfluence, "SCALE_LIMIT", 4.0)
    params, x, credits = make_problem(cell, reset, n=12, T=20, B=3, omega=0.5, epsilon=0.05)
    dense = run_rtrl(params, x, credits, mode="dense")
    sparse = run_rtrl(params, x, credits, mode="sparse")
    assert params.p_kept > 2 * 45  # three tiles or more
    for k, err in rel_error(sparse.grads, dense.grads).items():
        assert err <= 1e-12, f"sparse vs dense RTRL, {k}: {err:.2e}"
    for k, err in rel_error(sparse.grads, bptt_gradients(params, x, credits)).items():
        assert err <= 1e-9, f"sparse RTRL vs BPTT, {k}: {err:.2e}"
    sc, dc = sparse.counters.per_step, dense.counters.per_step
    assert (sc["influence_nonzero"] == dc["influence_nonzero"]).all()
    if cell != "trnn":  # the threshold RNN has no decay, so no scale to fold
        assert sc["rescale_macs"].sum() > 0


@pytest.mark.parametrize("cell,reset", CELL_VARIANTS)
@pytest.mark.parametrize("omega", [0.0, 0.5])
def test_final_influence_zero_fractions_are_counted_over_every_column(cell, reset, omega):
    """Each engine's zero fractions (from its kept columns) equal a direct count over the full
    [B, n, p] influence matrix of a plain step-by-step dense run, the masked columns included;
    SnAp-1's are higher (its pattern leaves entries out)."""
    params, x, credits = make_problem(cell, reset, n=8, T=10, B=3, omega=omega, epsilon=0.3, seed=4)
    engine = DenseInfluence(params, 3, ImmediatePlan(params, compact=False), measure_nonzero=False)
    model, P = make_cell(params.config), params.effective()
    prev = model.initial(3)
    for t in range(x.shape[0]):
        rec = model.step(P, prev, x[t])
        engine.step(model.linearize(P, prev, rec, x[t]), model.state_credit(rec, {k: v[t] for k, v in credits.items()}))
        prev = rec
    M = engine.M
    out = M.clone()
    if cell == "egru":
        out = rec["d"][:, :, None] * M
        theta = params.block("theta")
        k = torch.arange(theta.rows)
        out[:, k, theta.offset + k] += -rec["c"] * rec["dH"]
    expected = {
        "state_zero_fraction": float((M == 0).double().mean()),
        "output_zero_fraction": float((out == 0).double().mean()),
    }
    assert expected["state_zero_fraction"] < 1 and (cell == "gru" and omega == 0 or expected["state_zero_fraction"] > 0)
    for mode in ("dense", "sparse"):
        assert run_rtrl(params, x, credits, mode=mode, final_influence=True).final_influence == expected
    snap = run_rtrl(params, x, credits, mode="snap1", final_influence=True).final_influence
    assert snap["state_zero_fraction"] > expected["state_zero_fraction"]
