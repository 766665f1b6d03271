"""The integer linearisation unit (golden.fixed_linearise) against two independent computations:

- exact rational arithmetic on the same integers (Fractions), one rounding per quantity: decay,
  coef_u, coef_z, A_r, G's source columns and every entry of Mbar equal bit for bit;
- the float model's own linearisation (golden.cells linearize and golden.immediate's compacted Mbar)
  evaluated on the dequantized integer records: within 2^-9 everywhere, and zero exactly where the
  float model's Mbar is zero, which pins the compacted column layout.

Random EGRUs (both resets, ω = 0.4) carried by the integer cell unit over 12 steps."""

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
from golden.fixedpoint import DEFAULT, to_fixed
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
        part = {g: cfg.pre.saturate(((W[g] @ xs[t] + (b[g] << shift)) + (1 << (shift - 1))) >> shift) for g in "urz"}
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
        A_r = [[_q(cz[k] * Vf["z"][k][m] * yp[m] * sr[m], cfg.coef) for m in range(N)] for k in range(N)]
        assert lin.A_r.tolist() == A_r
        Af = [[F(v, 2**c) for v in row] for row in A_r]
        if reset == "subtractive":
            decay = [_q((1 - u[k]) * (1 - th[k] * dHp[k]), cfg.coef) for k in range(N)]
        else:
            decay = [_q(1 - u[k], cfg.coef) for k in range(N)]
        assert lin.decay.tolist() == decay
        sources = [src for src in range(N) if dp[src] != 0]
        assert lin.sources.tolist() == sources and lin.d_src.tolist() == [dp[src] for src in sources]
        G = {}
        for a, src in enumerate(sources):
            for k in range(N):
                value = cu[k] * Vf["u"][k][src] + cz[k] * Vf["z"][k][src] * r[src]
                value += sum(Af[k][m] * Vf["r"][m][src] for m in range(N))
                value -= int(k == src and reset == "paper")
                G[k, src] = _q(value, cfg.coef)
                assert lin.G_cols[k, a] == G[k, src]
            checked_sources += 1
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
        if len(lin.sources):
            G = flin.G[0].numpy()[:, lin.sources]
            worst["G"] = max(worst["G"], np.abs(cfg.coef.to_float(lin.G_cols) - G).max())
        worst["Mbar"] = max(worst["Mbar"], np.abs(cfg.influence.to_float(lin.Mbar) - mbar).max())
        assert np.all(lin.Mbar[mbar == 0] == 0)  # the same structure, column for column
        assert np.count_nonzero(lin.Mbar) > 0.5 * np.count_nonzero(mbar)
    assert all(v <= 2.0**-9 for v in worst.values()), worst
