"""The integer linearisation unit (golden.fixed_linearise) against two independent computations:

- exact rational arithmetic on the same integers (Fractions), one rounding per quantity: decay,
  coef_u, coef_z, ysr, A_r, G (its source columns; zero elsewhere) and every entry of Mbar equal
  bit for bit;
- the float model's own linearisation (golden.cells linearize and golden.immediate's compacted Mbar)
  evaluated on the dequantized integer records: within 2^-9 everywhere, and zero exactly where the
  float model's Mbar is zero, which pins the compacted column layout.

Random EGRUs (both resets, ω = 0.4) carried by the integer cell unit over 12 steps; and a batch of
samples computes what each sample computes alone."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from golden.cells import make_cell
from golden.config import CellConfig
from golden.fixed_cell import PseudoDerivative, cell_step
from golden.fixed_linearise import compacted_layout, linearise
from golden.fixedpoint import DEFAULT, influence_step, round_to, to_fixed
from golden.immediate import ImmediatePlan
from golden.params import CellParams

N, N_IN, T = 6, 2, 12


def _run(reset: str, seed: int = 0, cfg=DEFAULT):
    rng = np.random.default_rng(seed)
    P = {f"W_{g}": rng.uniform(-1, 1, (N, N_IN)) for g in "urz"}
    P.update({f"V_{g}": rng.uniform(-1.5, 1.5, (N, N)) for g in "urz"})
    P.update({f"b_{g}": rng.uniform(-0.3, 0.3, N) for g in "urz"})
    masks = {f"V_{g}": (rng.random((N, N)) > 0.4).astype(np.uint8) for g in "urz"}
    theta = to_fixed("theta", rng.uniform(0.05, 0.5, N), cfg.state)
    xs = to_fixed("x", rng.normal(0, 1.2, (T, N_IN)), cfg.state)
    V = {g: to_fixed(f"V_{g}", P[f"V_{g}"] * masks[f"V_{g}"], cfg.weight) for g in "urz"}
    W = {g: to_fixed(f"W_{g}", P[f"W_{g}"], cfg.weight) for g in "urz"}
    b = {g: to_fixed(f"b_{g}", P[f"b_{g}"], cfg.pre) for g in "urz"}
    h = PseudoDerivative.of(0.7, 0.8, cfg)
    layout = compacted_layout(N, N_IN, masks)
    subtractive = reset == "subtractive"
    prev, out = None, []
    for t in range(T):
        # input part W x + b rounded once to the pre format (the forward path's own input)
        shift = cfg.weight.frac + cfg.state.frac - cfg.pre.frac
        part = {g: round_to(W[g] @ xs[t] + (b[g] << shift), shift + cfg.pre.frac, cfg.pre, "a") for g in "urz"}
        zero = np.zeros(N, dtype=np.int64)
        c_p, y_p, o_p = (zero, zero, zero) if prev is None else (prev.c, prev.y, prev.o)
        step = cell_step(c_p, y_p, o_p, V, part, theta, h, subtractive=subtractive, cfg=cfg)
        lin = linearise(prev, step, xs[t], V, theta, layout, subtractive=subtractive, cfg=cfg)
        out.append((prev, step, xs[t], lin))
        prev = step
    return out, V, W, masks, theta, layout, h


def _q(value: Fraction, fmt) -> int:
    return min(max(math.floor(value * 2**fmt.frac + Fraction(1, 2)), fmt.min), fmt.max)


@pytest.mark.parametrize("reset", ["paper", "subtractive"])
def test_linearisation_is_bit_exact_against_rational_arithmetic(reset):
    cfg = DEFAULT
    steps, V, _, masks, theta, layout, _ = _run(reset)
    F = Fraction
    g, s, c, w, f, i = (
        cfg.gate.frac,
        cfg.state.frac,
        cfg.coef.frac,
        cfg.weight.frac,
        cfg.deriv.frac,
        cfg.influence.frac,
    )
    Vf = {k: [[F(int(v), 2**w) for v in row] for row in V[k]] for k in V}
    th = [F(int(v), 2**s) for v in theta]
    checked_sources = 0
    for prev, st, x, lin in steps:
        zero = [F(0)] * N
        cp, yp, op, dHp, dp = (
            (zero, zero, [0] * N, zero, [0] * N)
            if prev is None
            else (
                [F(int(v), 2**s) for v in prev.c],
                [F(int(v), 2**s) for v in prev.y],
                [int(v) for v in prev.o],
                [F(int(v), 2**f) for v in prev.dH],
                [int(v) for v in prev.d],
            )
        )
        u, r, z = ([F(int(v), 2**g) for v in arr] for arr in (st.u, st.r, st.z))
        su, sr, dz = ([F(int(v), 2**c) for v in arr] for arr in (st.su, st.sr, st.dz))
        ry = [F(int(v), 2**s) for v in st.ry]
        q = [cp[k] - th[k] * op[k] for k in range(N)] if reset == "subtractive" else cp
        coef_u = [_q((z[k] - q[k]) * su[k], cfg.coef) for k in range(N)]
        coef_z = [_q(u[k] * dz[k], cfg.coef) for k in range(N)]
        assert lin.coef_u.tolist() == coef_u and lin.coef_z.tolist() == coef_z
        cu, cz = [F(v, 2**c) for v in coef_u], [F(v, 2**c) for v in coef_z]
        ysr = [_q(yp[m] * sr[m], cfg.coef) for m in range(N)]
        assert lin.ysr.tolist() == ysr
        A_r = [[_q(cz[k] * Vf["z"][k][m] * F(ysr[m], 2**c), cfg.coef) for m in range(N)] for k in range(N)]
        assert lin.A_r.tolist() == A_r
        Af = [[F(v, 2**c) for v in row] for row in A_r]
        if reset == "subtractive":
            decay = [_q((1 - u[k]) * (1 - th[k] * dHp[k]), cfg.coef) for k in range(N)]
        else:
            decay = [_q(1 - u[k], cfg.coef) for k in range(N)]
        assert lin.decay.tolist() == decay
        sources = [src for src in range(N) if dp[src] != 0]
        assert lin.d_prev.tolist() == dp
        G = {}
        for src in sources:
            for k in range(N):
                value = cu[k] * Vf["u"][k][src] + cz[k] * Vf["z"][k][src] * r[src]
                value += sum(Af[k][m] * Vf["r"][m][src] for m in range(N))
                value -= int(k == src and reset == "paper")
                G[k, src] = _q(value, cfg.coef)
                assert lin.G[k, src] == G[k, src]
            checked_sources += 1
        silent = [src for src in range(N) if dp[src] == 0]
        assert not lin.G[:, silent].any()
        # every entry of Mbar
        ops = {"W": [F(int(v), 2**s) for v in x], "V": yp, "b": [F(1)]}
        for col in layout:
            for e, (m, j) in enumerate(zip(col.m.tolist(), col.j.tolist())):
                column = lin.Mbar[:, col.start + e]
                for k in range(N):
                    if col.name == "theta":
                        S = F(G.get((k, m), 0), 2**c) * -(cp[m] * dHp[m]) if m in sources else F(0)
                        if reset == "subtractive" and k == m:
                            S += (1 - u[k]) * (th[k] * dHp[k] - op[k])
                        want = _q(S, cfg.influence)
                    else:
                        gate, kind = col.name[-1], col.name[0]
                        operand = ry[j] if col.name == "V_z" else ops[kind][j]
                        if gate == "r":
                            S = Af[k][m]
                        else:
                            S = (cu if gate == "u" else cz)[k] if k == m else F(0)
                        want = _q(S * operand, cfg.influence)
                    assert column[k] == want, (col.name, k, m, j)
    assert checked_sources > 10 and i == cfg.influence.frac


@pytest.mark.parametrize("reset", ["paper", "subtractive"])
def test_linearisation_agrees_with_the_float_model_and_its_layout(reset):
    cfg = DEFAULT
    steps, V, W, masks, theta, layout, h = _run(reset, seed=1)
    config = CellConfig(cell="egru", n=N, n_in=N_IN, reset=reset, gamma=0.7, epsilon=0.8)
    tensors = {f"W_{g}": torch.from_numpy(cfg.weight.to_float(W[g])) for g in "urz"}
    tensors.update({f"V_{g}": torch.from_numpy(cfg.weight.to_float(V[g])) for g in "urz"})
    tensors.update({f"b_{g}": torch.zeros(N, dtype=torch.float64) for g in "urz"})
    tensors["theta"] = torch.from_numpy(cfg.state.to_float(theta))
    params = CellParams(config, tensors, {k: torch.from_numpy(v.astype(bool)) for k, v in masks.items()})
    cell, plan = make_cell(config), ImmediatePlan(params, compact=True)
    assert layout[-1].stop == params.p_kept
    formats = {"c": cfg.state, "y": cfg.state, "dH": cfg.deriv, "d": cfg.deriv, "u": cfg.gate, "r": cfg.gate}
    formats["z"] = cfg.gate

    def record(step):
        if step is None:
            return cell.initial(1)
        rec = {k: torch.from_numpy(fmt.to_float(getattr(step, k)))[None, :] for k, fmt in formats.items()}
        rec["o"] = torch.from_numpy(step.o.astype(np.float64))[None, :]
        return rec

    worst = {"decay": 0.0, "G": 0.0, "Mbar": 0.0}
    for prev, st, x, lin in steps:
        with torch.no_grad():
            x_f = torch.from_numpy(cfg.state.to_float(x))[None, :]
            flin = cell.linearize(params.effective(), record(prev), record(st), x_f)
            mbar = torch.zeros(1, N, params.p_kept, dtype=torch.float64)
            plan.add(mbar, flin)
        mbar = mbar[0].numpy()
        worst["decay"] = max(worst["decay"], np.abs(cfg.coef.to_float(lin.decay) - flin.decay[0].numpy()).max())
        sources = np.nonzero(lin.d_prev)[0]
        if len(sources):
            G = flin.G[0].numpy()[:, sources]
            worst["G"] = max(worst["G"], np.abs(cfg.coef.to_float(lin.G[:, sources]) - G).max())
        worst["Mbar"] = max(worst["Mbar"], np.abs(cfg.influence.to_float(lin.Mbar) - mbar).max())
        assert np.all(lin.Mbar[mbar == 0] == 0)  # the same structure, column for column
        assert np.count_nonzero(lin.Mbar) > 0.5 * np.count_nonzero(mbar)
    assert all(v <= 2.0**-9 for v in worst.values()), worst


@pytest.mark.parametrize("reset", ["paper", "subtractive"])
def test_a_batch_computes_what_each_sample_computes_alone(reset):
    """Three samples stacked on a leading axis through the cell, linearisation and influence
    update (all units as sources, silent ones with d = 0) against each sample alone with only its
    active sources: equal bit for bit, step by step."""
    runs = [_run(reset, seed=seed) for seed in (2, 3, 4)]
    cfg, (_, V, _, _, theta, layout, h) = DEFAULT, runs[0]
    n, P = N, layout[-1].stop
    singles = []
    for seed in (2, 3, 4):  # same weights and masks (seed 2's), inputs of each seed
        rng = np.random.default_rng(100 + seed)
        singles.append(to_fixed("x", rng.normal(0, 1.2, (T, N_IN)), cfg.state))
    xs = np.stack(singles, axis=1)  # [T, 3, n_in]
    W = {g: to_fixed("W", np.random.default_rng(9).uniform(-1, 1, (N, N_IN)), cfg.weight) for g in "urz"}
    shift = cfg.weight.frac + cfg.state.frac - cfg.pre.frac
    subtractive = reset == "subtractive"
    zero = np.zeros((3, n), dtype=np.int64)
    prev_b, M_b = None, np.zeros((3, n, P), dtype=np.int64)
    prev_s, M_s = [None] * 3, [np.zeros((n, P), dtype=np.int64) for _ in range(3)]
    for t in range(T):
        part = {g: round_to(xs[t] @ W[g].T, shift + cfg.pre.frac, cfg.pre, "a") for g in "urz"}
        c_p, y_p, o_p = (zero, zero, zero) if prev_b is None else (prev_b.c, prev_b.y, prev_b.o)
        st = cell_step(c_p, y_p, o_p, V, part, theta, h, subtractive=subtractive, cfg=cfg)
        lin = linearise(prev_b, st, xs[t], V, theta, layout, subtractive=subtractive, cfg=cfg)
        M_b = influence_step(M_b, lin.decay, np.arange(n), lin.d_prev, lin.G, lin.Mbar, np.ones(n, bool), cfg)
        for b in range(3):
            p = prev_s[b]
            zs = np.zeros(n, dtype=np.int64)
            one = cell_step(
                zs if p is None else p.c,
                zs if p is None else p.y,
                zs if p is None else p.o,
                V,
                {g: v[b] for g, v in part.items()},
                theta,
                h,
                subtractive=subtractive,
                cfg=cfg,
            )
            lone = linearise(p, one, xs[t, b], V, theta, layout, subtractive=subtractive, cfg=cfg)
            src = np.nonzero(lone.d_prev)[0]
            M_s[b] = influence_step(
                M_s[b], lone.decay, src, lone.d_prev[src], lone.G[:, src], lone.Mbar, np.ones(n, bool), cfg
            )
            for name in ("c", "y", "d", "su", "sr", "dz"):
                assert np.array_equal(getattr(st, name)[b], getattr(one, name)), name
            for name in ("decay", "G", "Mbar", "A_r"):
                assert np.array_equal(getattr(lin, name)[b], getattr(lone, name)), name
            assert np.array_equal(M_b[b], M_s[b])
            prev_s[b] = one
        prev_b = st
    assert np.count_nonzero(M_b) > 0.3 * M_b.size
