"""Online RTRL, memory independent of T, and counters against independent computations."""

from __future__ import annotations

import pytest
import torch
from conftest import CELL_VARIANTS, make_problem, rel_error

from golden.optim import sgd
from golden.rtrl import run_rtrl


@pytest.mark.parametrize("cell,reset", CELL_VARIANTS)
@pytest.mark.parametrize("mode", ["dense", "sparse"])
def test_online_with_zero_learning_rate_equals_offline(cell, reset, mode):
    params, x, credits = make_problem(cell, reset, n=8, T=21, omega=0.5, epsilon=0.5)
    offline = run_rtrl(params, x, credits, mode=mode)
    online_params = params.clone()
    chunks = []

    def record_and_step(grads):
        chunks.append(grads)
        sgd(online_params, lr=0.0)(grads)

    online = run_rtrl(online_params, x, credits, mode=mode, update_every=4, on_update=record_and_step)
    assert len(chunks) == 6  # steps 4, 8, 12, 16, 20 and the last (21)
    for k, err in rel_error(online.grads, offline.grads).items():
        assert err <= 1e-12, (k, err)
    summed = {k: sum(c[k] for c in chunks) for k in offline.grads}
    for k, err in rel_error(summed, offline.grads).items():
        assert err <= 1e-12, (k, err)


@pytest.mark.parametrize("cell,reset", CELL_VARIANTS)
def test_online_learning_sparse_equals_dense(cell, reset):
    """With a real learning rate the weights change between chunks; both engines still agree."""
    params, x, credits = make_problem(cell, reset, n=8, T=20, omega=0.5, epsilon=0.5)
    results = {}
    for mode in ("dense", "sparse"):
        p = params.clone()
        run = run_rtrl(p, x, credits, mode=mode, update_every=5, on_update=sgd(p, lr=0.05))
        results[mode] = (p, run)
    (pd, rd), (ps, rs) = results["dense"], results["sparse"]
    for k, err in rel_error(rs.grads, rd.grads).items():
        assert err <= 1e-10, (k, err)
    for k in params.tensors:
        assert torch.allclose(ps.tensors[k], pd.tensors[k], rtol=0, atol=1e-12)
    changed = [k for k in params.tensors if not torch.equal(pd.tensors[k], params.tensors[k])]
    assert "theta" in changed or params.config.cell == "gru"
    assert len(changed) >= len(params.tensors) - 1
    assert torch.all((pd.tensors["theta"] > 0) & (pd.tensors["theta"] < 1)) if "theta" in pd.tensors else True
    for name, mask in params.masks.items():  # masked weights never move
        assert torch.equal(pd.tensors[name][~mask], params.tensors[name][~mask])


def test_online_single_chunk_is_offline_plus_one_sgd_step():
    params, x, credits = make_problem("egru", "paper", n=8, T=12, omega=0.3, epsilon=0.5)
    offline = run_rtrl(params, x, credits)
    p = params.clone()
    run_rtrl(p, x, credits, update_every=12, on_update=sgd(p, lr=0.1))
    for k in params.tensors:
        if k == "theta":
            th = params.tensors[k]
            expect = torch.sigmoid(torch.logit(th) - 0.1 * offline.grads[k] * th * (1 - th))
        else:
            expect = params.tensors[k] - 0.1 * offline.grads[k]
        assert torch.allclose(p.tensors[k], expect, rtol=0, atol=1e-14)


@pytest.mark.parametrize("mode", ["dense", "sparse"])
@pytest.mark.parametrize("cell", ["egru", "trnn"])
def test_influence_storage_independent_of_sequence_length(mode, cell):
    params, x_long, credits_long = make_problem(cell, n=6, n_in=2, T=1000, B=1, omega=0.5, epsilon=0.5)
    short = run_rtrl(params, x_long[:10], {k: v[:10] for k, v in credits_long.items()}, mode=mode)
    long = run_rtrl(params, x_long, credits_long, mode=mode)
    assert short.counters.influence_storage_bytes == long.counters.influence_storage_bytes
    kept = params.p_kept if mode == "sparse" else params.p_total
    assert long.counters.influence_storage_bytes == 6 * kept * 8
    assert long.counters.per_step["influence_stored"].max() <= 6 * kept


@pytest.mark.parametrize("cell,reset", CELL_VARIANTS)
@pytest.mark.parametrize("omega", [0.0, 0.6])
def test_counters_match_independent_formulas(cell, reset, omega):
    """Counts recomputed here from the records and masks alone (a second source for every count)."""
    n, n_in, T, B = 10, 3, 15, 3
    params, x, credits = make_problem(cell, reset, n=n, n_in=n_in, T=T, B=B, omega=omega, epsilon=0.4)
    dense = run_rtrl(params, x, credits, mode="dense", keep_records=True)
    sparse = run_rtrl(params, x, credits, mode="sparse", keep_records=True)
    rec = sparse.records
    p, pk = params.p_total, params.p_kept
    gates = 1 if cell == "trnn" else 3
    out = {"egru": "y", "trnn": "a", "gru": "h", "evnn": "y"}[cell]
    y_prev = torch.cat([torch.zeros_like(rec[out][:1]), rec[out][:-1]])
    d, d_prev = rec["d"], torch.cat([torch.zeros_like(rec["d"][:1]), rec["d"][:-1]])
    events_prev = (y_prev != 0).sum(-1)
    active = (d != 0).sum(-1)
    sources = (d_prev != 0).sum(-1)
    eff = params.effective()
    dc, sc = dense.counters.per_step, sparse.counters.per_step

    assert (dc["forward_macs"] == gates * n * (n_in + n)).all()
    assert (sc["forward_macs"] == (gates * n * n_in + gates * n * events_prev).numpy()).all()
    assert (dc["influence_macs"] == n * n * p).all()
    assert (dc["influence_stored"] == n * p).all() and (dc["gradient_macs"] == n * p).all()
    expected_eff = torch.zeros(T, B, dtype=torch.int64)
    names = ["W", "V"] if cell == "trnn" else ["W_u", "W_r", "W_z", "V_u", "V_r", "V_z"]
    for name in names:
        operand = x if name.startswith("W") else y_prev
        expected_eff += (operand != 0).long() @ (eff[name] != 0).long().T @ torch.ones(n, dtype=torch.int64)
    assert (sc["effective_forward_macs"] == expected_eff.numpy()).all()
    assert (dc["effective_forward_macs"] == expected_eff.numpy()).all()

    if cell == "trnn":
        # rows written: d_t != 0; sources read: d_{t-1} != 0 (rows of M_{t-1} that are non-zero)
        assert (sc["influence_macs"] == (active * sources * pk).numpy()).all()
        assert (sc["influence_stored"] == (active * pk).numpy()).all()
    else:
        # every row is written; sources read are d_{t-1} != 0 (the GRU's d is 1); M_0 = 0 reads nothing;
        # every row held from the step before decays
        held_prev = torch.full((T, B), n)
        held_prev[0] = 0
        src = torch.where(held_prev > 0, sources, 0)
        expect = n * src * pk + held_prev  # a row's decay costs one multiplication of its scale
        assert (sc["influence_macs"] == expect.numpy()).all()
        assert (sc["influence_stored"] == n * pk).all()
    # immediate influence: parameters acting on their own unit form one entry per kept parameter;
    # the EGRU/GRU reset gate (W_r, V_r, b_r) and theta reach every unit, n entries each (in the EvNN form
    # r multiplies after V_z's product and acts on its own unit; only theta reaches every unit)
    dense_blocks = {"trnn": [], "evnn": ["theta"], "gru": ["W_r", "V_r", "b_r"]}.get(
        cell, ["W_r", "V_r", "b_r", "theta"]
    )
    kept = {b.name: int(params.mask(b.name).sum()) for b in params.blocks}
    size = {b.name: b.size for b in params.blocks}
    expected_immediate = sum(kept.values()) + (n - 1) * sum(kept[b] for b in dense_blocks)
    if cell in ("egru", "gru"):  # V_r entries (m, l) are formed only where the previous output l is non-zero
        live_entries = (y_prev != 0).long() @ params.mask("V_r").long().sum(0)
        expected_immediate = expected_immediate - n * kept["V_r"] + n * live_entries
    assert (sc["immediate_macs"] == torch.as_tensor(expected_immediate).numpy()).all()
    assert (dc["immediate_macs"] == sum(size.values()) + (n - 1) * sum(size[b] for b in dense_blocks)).all()
    assert (sc["gradient_macs"] == n * pk).all()
    assert (sc["alpha"] == (rec[out] == 0).double().mean(-1).numpy()).all()
    assert (sc["beta"] == (d == 0).double().mean(-1).numpy()).all()
    nonzero_dense = dense.counters.per_step["influence_nonzero"]
    assert (sc["influence_nonzero"] == nonzero_dense).all()
    assert (nonzero_dense <= sc["influence_stored"]).all()
    sp = sparse.counters.sparsity
    assert sp["p_maskable"] == gates * n * n
    assert sp["omega_maskable"] == pytest.approx(round(omega * n * n) * gates / (gates * n * n))
    assert sp["p_kept"] == p - round(omega * n * n) * gates
