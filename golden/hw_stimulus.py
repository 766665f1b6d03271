"""Per-step inputs of the RTL blocks from a golden trace, in float and in the fixed-point formats.

The blocks need what the golden model computes on the way: the previous output y_{t-1} and the input
parts W x + b (gate accumulation), and J_t's factors and Mbar_t (influence update, contract 4). This
module rebuilds them from a trace (contract 1) through the cells' own `linearize`, so the hardware is
checked against the same equations as the exactness tests, and converts them with golden.fixedpoint
(values that do not fit a format raise, naming the signal).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from golden.cells import make_cell
from golden.errors import UserError
from golden.fixedpoint import DEFAULT, FixedPointConfig, to_fixed
from golden.immediate import ImmediatePlan
from golden.trace import Trace


@dataclass
class InfluenceStep:
    """One step of M_t = diag(decay) M_{t-1} + G[:, sources] diag(d_src) M_{t-1}[sources] + Mbar.

    Float or integer (fixed point) arrays; decay is None for the threshold RNN."""

    decay: np.ndarray | None  # [n]
    sources: np.ndarray  # [a] active source units, ascending
    d_src: np.ndarray  # [a]
    G_cols: np.ndarray  # [n, a]
    Mbar: np.ndarray  # [n, P] over the compacted (kept) parameters
    rows: np.ndarray  # [n] bool: rows of M_t that are computed


@dataclass
class ForwardStep:
    """One EGRU step's gate accumulation: previous output, input parts W_g x + b_g and the
    pre-activations the float model forms (for the error bound)."""

    y_prev: np.ndarray  # [n]
    input_part: dict[str, np.ndarray]  # g -> [n]
    pre: dict[str, np.ndarray]  # g -> [n], float only


def _records(trace: Trace, t: int, keys: tuple[str, ...]) -> dict[str, torch.Tensor]:
    return {k: trace.tensor(k)[t] for k in keys}


def influence_steps(trace: Trace, sample: int = 0) -> list[InfluenceStep]:
    """Float influence-update inputs of every step of one sample of the trace."""
    cfg = trace.config
    params = trace.params()
    P = params.effective()
    cell = make_cell(cfg)
    plan = ImmediatePlan(params, compact=True)
    x = trace.tensor("x")
    T, B = x.shape[:2]
    if not 0 <= sample < B:
        raise UserError(f"sample: {sample}, expected 0..{B - 1} (the trace's batch)")
    keys = cell.record_keys()
    prev = cell.initial(B)
    prev_rows = np.zeros(cfg.n, dtype=bool)  # M_0 = 0: no source row holds anything
    steps = []
    with torch.no_grad():
        for t in range(T):
            rec = _records(trace, t, keys)
            lin = cell.linearize(P, prev, rec, x[t])
            Mbar = torch.zeros(B, cfg.n, params.p_kept, dtype=x.dtype)
            plan.add(Mbar, lin)  # adds Mbar_t in place to the zero matrix
            src = lin.src[sample].numpy()
            sources = np.nonzero((src != 0) & prev_rows)[0]
            rows = np.ones(cfg.n, dtype=bool) if lin.rows is None else lin.rows[sample].numpy().astype(bool)
            steps.append(
                InfluenceStep(
                    decay=None if lin.decay is None else lin.decay[sample].numpy().copy(),
                    sources=sources,
                    d_src=src[sources],
                    G_cols=lin.G[sample].numpy()[:, sources],
                    Mbar=Mbar[sample].numpy(),
                    rows=rows,
                )
            )
            prev, prev_rows = rec, rows
    return steps


def influence_float(steps: list[InfluenceStep]) -> list[np.ndarray]:
    """M_t after each step, in float64 from the float inputs (the quantity the integer reference
    approximates)."""
    n, P = steps[0].Mbar.shape
    M = np.zeros((n, P))
    out = []
    for s in steps:
        new = s.Mbar + s.G_cols @ (s.d_src[:, None] * M[s.sources])
        if s.decay is not None:
            new = new + s.decay[:, None] * M
        M = np.where(s.rows[:, None], new, 0.0)
        out.append(M)
    return out


def quantize_influence(step: InfluenceStep, fp: FixedPointConfig = DEFAULT) -> InfluenceStep:
    """The step's inputs in the block's formats: decay and G in coef, d in deriv, Mbar in influence."""
    return InfluenceStep(
        decay=None if step.decay is None else to_fixed("decay (1 - u)", step.decay, fp.coef),
        sources=step.sources,
        d_src=to_fixed("d (derivative factor)", step.d_src, fp.deriv),
        G_cols=to_fixed("G (J's off-diagonal factor)", step.G_cols, fp.coef),
        Mbar=to_fixed("Mbar (immediate influence)", step.Mbar, fp.influence),
        rows=step.rows,
    )


def forward_steps(trace: Trace, sample: int = 0) -> list[ForwardStep]:
    """Float gate-accumulation inputs of every step of one sample of an EGRU trace."""
    cfg = trace.config
    if cfg.cell != "egru":
        raise UserError(f"cell: {cfg.cell!r}; the gate accumulation block implements the EGRU ('egru')")
    P = {k: v.numpy() for k, v in trace.params().effective().items()}
    x, y, r = trace.arrays["x"][:, sample], trace.arrays["y"][:, sample], trace.arrays["r"][:, sample]
    steps = []
    for t in range(x.shape[0]):
        y_prev = y[t - 1] if t else np.zeros(cfg.n)
        inp = {g: P[f"W_{g}"] @ x[t] + P[f"b_{g}"] for g in "urz"}
        pre = {
            "u": inp["u"] + P["V_u"] @ y_prev,
            "r": inp["r"] + P["V_r"] @ y_prev,
            "z": inp["z"] + P["V_z"] @ (r[t] * y_prev),
        }
        steps.append(ForwardStep(y_prev=y_prev, input_part=inp, pre=pre))
    return steps


def recurrent_weights(trace: Trace, fp: FixedPointConfig = DEFAULT) -> dict[str, np.ndarray]:
    """The masked recurrent matrices V_u, V_r, V_z in the weight format, keyed by gate."""
    P = trace.params().effective()
    return {g: to_fixed(f"V_{g} (recurrent weights)", P[f"V_{g}"].numpy(), fp.weight) for g in "urz"}


def quantize_forward(step: ForwardStep, fp: FixedPointConfig = DEFAULT) -> ForwardStep:
    """y in the state format, input parts in the pre format."""
    return ForwardStep(
        y_prev=to_fixed("y (previous output)", step.y_prev, fp.state),
        input_part={g: to_fixed(f"W_{g} x + b_{g} (input part)", v, fp.pre) for g, v in step.input_part.items()},
        pre={},
    )
