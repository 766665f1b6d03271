"""The integer training step against float64, quantity by quantity (`python -m golden fixed-errors`).

Both models hold the same parameters (the integer model's words, dequantized for float64) and see
the same inputs (the state words of one spiral batch, the first iteration's). The integer model
runs one sequence of T = 17 steps (golden.fixed_step). At every step the float64 model
(golden.cells step and linearize, golden.immediate's compacted Mbar, the influence recursion
M_t = diag(decay) M_{t-1} + (G diag(d_{t-1})) M_{t-1} + Mbar_t) computes the same quantities from the
integer model's own previous records and M_{t-1}, so each error is what one step of the integer
datapath adds (rounding and table resolution), not an accumulation of earlier steps' differences:

    c, y, d                 the cell's state, output (where both models' events agree) and d
    G d                     J's off-diagonal coefficients G[k, l] d_{t-1, l}
    Mbar, M                 immediate and carried influence (one step of the update), compacted
    gradient (relative)     the batch-mean gradient of every trained word (W, V, b, tau, readout)
                            from the integer M_T and c_T, relative to the largest float64 entry

Per quantity the largest |integer - float64| over the steps, samples and entries is reported beside
its format's LSB and the bound (BOUNDS) that tests/test_fixed_errors.py holds it to. One row is
global instead: the median gap of the recurrent weights after k training iterations of the
fixed-point and float64 trainers from the same start (same rule, seeds, batches), bounded by one
signum step lr (one weight LSB for sgdm). Events where the models disagree (o_t differs because
c_t lies within a step's error of theta) are counted, for one step and for the whole sequence run
free (each model on its own states): y there differs by about theta.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from golden.cells import make_cell
from golden.fixed_train import FixedTrainer
from golden.fixedpoint import influence_coefficients
from golden.immediate import ImmediatePlan
from golden.spiral import STEPS
from golden.train import TrainConfig, Trainer, batch_indices

# Bounds on each step's error at the default formats, about four times what the initial and the
# spiral-trained networks measure (README); tests/test_fixed_errors.py holds initial networks to
# them, so a change that makes the integer datapath less accurate fails there.
BOUNDS = {
    "c": 2.0**-5,
    "y": 2.0**-5,
    "d": 2.0**-5,
    "G d": 2.0**-9,
    "Mbar": 2.0**-10,
    "M": 2.0**-6,  # a coefficient's error times M_{t-1}: grows with |M| (up to ~10 when trained)
    "gradient": 2.0**-9,
}


@dataclass
class Row:
    quantity: str
    format: str
    lsb: float
    error: float
    bound: float

    @property
    def within(self) -> bool:
        return self.error <= self.bound


def _float_params(trainer: FixedTrainer):
    """The integer model's forward words as float64 cell parameters, readout included."""
    params = copy.deepcopy(trainer.forward_params())
    words, cfg = trainer.learner.words(), trainer.cfg
    return params, torch.from_numpy(cfg.weight.to_float(words.w_out)), float(cfg.pre.to_float(words.b_out)[0])


def _record(cell_step, cfg) -> dict[str, torch.Tensor]:
    """An integer cell record as the float model's record (dequantized)."""
    formats = {"c": cfg.state, "y": cfg.state, "dH": cfg.deriv, "d": cfg.deriv, "u": cfg.gate, "r": cfg.gate}
    formats["z"] = cfg.gate
    rec = {k: torch.from_numpy(fmt.to_float(getattr(cell_step, k))) for k, fmt in formats.items()}
    rec["o"] = torch.from_numpy(cell_step.o.astype(np.float64))
    return rec


def sequence_errors(trainer: FixedTrainer) -> tuple[list[Row], dict[str, int]]:
    """One sequence of the first training batch, float64 stepped from the integer records."""
    cfg, learner = trainer.cfg, copy.deepcopy(trainer.learner)
    idx = batch_indices(0, len(trainer.y["train"]), trainer.config.batch, trainer.config.seed)
    x, target = trainer.x["train"][:, idx], trainer.y["train"][idx]
    seen: dict[str, list] = {"step": [], "update": []}
    learner.train_sequence(x, target, trainer.rule, None, lambda kind, v: seen[kind].append(v))
    params, w_out, b_out = _float_params(trainer)
    cell, plan = make_cell(params.config), ImmediatePlan(params, compact=True)
    P = params.effective()
    xf = torch.from_numpy(cfg.state.to_float(x))
    B, n = len(idx), params.config.n
    worst = dict.fromkeys(("c", "y", "d", "G d", "Mbar", "M"), 0.0)
    counts = {"event disagreements": 0, "free-running event disagreements": 0, "entries": 0}
    M_prev = torch.zeros(B, n, params.p_kept, dtype=torch.float64)
    prev, free = cell.initial(B), cell.initial(B)
    with torch.no_grad():
        for t, step in enumerate(seen["step"]):
            st, ln = step["cell"], step["lin"]
            rec = cell.step(P, prev, xf[t])
            lin = cell.linearize(P, prev, _record(st, cfg), xf[t])
            mbar = torch.zeros_like(M_prev)
            plan.add(mbar, lin)
            J = lin.G * lin.src[:, None, :]
            M = torch.diag_embed(lin.decay) @ M_prev + J @ M_prev + mbar
            agree = st.o == rec["o"].numpy()
            free = cell.step(P, free, xf[t])
            counts["event disagreements"] += int((~agree).sum())
            counts["free-running event disagreements"] += int((st.o != free["o"].numpy()).sum())
            counts["entries"] += st.o.size
            pairs = {
                "c": (cfg.state.to_float(st.c), rec["c"]),
                "d": (cfg.deriv.to_float(st.d), rec["d"]),
                "G d": (cfg.coef.to_float(influence_coefficients(ln.G, ln.d_prev, cfg)), J),
                "Mbar": (cfg.influence.to_float(ln.Mbar), mbar),
                "M": (cfg.influence.to_float(step["M"]), M),
            }
            for name, (got, want) in pairs.items():
                gap = np.abs(got - want.numpy())
                if name == "d":  # d = o + c H' jumps by 1 where the events disagree
                    gap = gap[agree]
                worst[name] = max(worst[name], float(gap.max(initial=0.0)))
            y_gap = np.abs(cfg.state.to_float(st.y) - rec["y"].numpy())[agree]
            worst["y"] = max(worst["y"], float(y_gap.max(initial=0.0)))
            prev = _record(st, cfg)
            M_prev = torch.from_numpy(cfg.influence.to_float(step["M"]))
        c_T = prev["c"]
        error = (torch.sigmoid(c_T @ w_out + b_out) - torch.from_numpy(target.astype(np.float64))) / B
        flat = torch.einsum("bk,bkq->q", error[:, None] * w_out, M_prev).numpy()
        readout = {"w_out": (error @ c_T).numpy(), "b_out": error.sum().reshape(1).numpy()}
    grads = seen["update"][-1]["grads"]
    theta = params.tensors["theta"].numpy()
    gap = scale = 0.0
    for col in trainer.layout:
        want = flat[col.start : col.stop]
        name = "tau" if col.name == "theta" else col.name
        if col.name == "theta":
            want = want * theta * (1 - theta)
        got = grads[name][col.m] if col.name[0] in "bt" else grads[name][col.m, col.j]
        gap = max(gap, float(np.abs(cfg.grad.to_float(got) - want).max(initial=0.0)))
        scale = max(scale, float(np.abs(want).max(initial=0.0)))
    for name, want in readout.items():
        gap = max(gap, float(np.abs(cfg.grad.to_float(grads[name]) - want).max()))
        scale = max(scale, float(np.abs(want).max()))
    formats = {"c": cfg.state, "y": cfg.state, "d": cfg.deriv, "G d": cfg.coef, "Mbar": cfg.influence}
    formats["M"] = cfg.influence
    rows = [Row(k, str(formats[k]), formats[k].lsb, worst[k], BOUNDS[k]) for k in worst]
    label = f"gradient (float64's largest entry {scale:.2g})"
    rows.append(Row(label, str(cfg.grad), cfg.grad.lsb, gap, BOUNDS["gradient"]))
    return rows, counts


def weight_errors(trainer: FixedTrainer, updates: int, out: Path) -> Row:
    """The fixed-point and float64 trainers k iterations on from the same start (momentum zero)."""
    fixed = copy.deepcopy(trainer)
    fixed.learner.momentum = {k: np.zeros_like(v) for k, v in fixed.learner.momentum.items()}
    fixed.iteration = 0
    cfg = fixed.cfg
    config = replace(trainer.config, numerics="float", formats=())
    ref = Trainer(config, out)
    master = {k: cfg.master.to_float(v) for k, v in fixed.learner.master.items()}
    with torch.no_grad():
        for name, leaf in ref.leaves.items():
            leaf.copy_(torch.from_numpy(master[name].reshape(leaf.shape)))
    ref.sync()
    for _ in range(updates):
        ref.step()
        fixed.step()
    ref.sync()
    words, P = fixed.learner.words(), ref.params.effective()
    gaps = np.concatenate([np.abs(cfg.weight.to_float(words.V[g]) - P[f"V_{g}"].numpy()).ravel() for g in "urz"])
    label = f"recurrent weights after {updates} updates, median (largest {gaps.max():.2g})"
    # signum moves a weight by +-lr or not at all: a step decided otherwise leaves a gap of lr
    bound = trainer.config.lr if trainer.config.optimizer == "signum" else cfg.weight.lsb
    return Row(label, str(cfg.weight), cfg.weight.lsb, float(np.median(gaps)), bound)


def measure(config: TrainConfig, run: Path | None, updates: int, scratch: Path) -> dict[str, Any]:
    """Every row of the table for the network of `run` (a fixed-point run folder) or the seeded
    initial one of `config`."""
    trainer = FixedTrainer(config, run if run is not None else scratch)
    if run is not None:
        trainer.restore()  # reads the run's checkpoint; nothing is written there
    rows, counts = sequence_errors(trainer)
    rows.append(weight_errors(trainer, updates, scratch / "float"))
    return {
        "network": str(run) if run else f"initial (seed {config.seed})",
        "config": {k: getattr(config, k) for k in ("n", "omega", "epsilon", "reset", "batch", "optimizer", "lr")},
        "formats": list(config.formats),
        "steps": STEPS,
        "rows": [{**vars(r), "within": r.within} for r in rows],
        **counts,
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"Network: {report['network']}; {report['config']}; one spiral batch of {report['config']['batch']}, "
        f"T = {report['steps']}; event disagreements of a step {report['event disagreements']}, free running "
        f"{report['free-running event disagreements']}, of {report['entries']} unit-steps",
        "",
        "| quantity | format | LSB | max abs error | bound | within |",
        "|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        lines.append(
            f"| {r['quantity']} | {r['format']} | {r['lsb']:.3g} | {r['error']:.3g} | {r['bound']:.3g} | "
            f"{'yes' if r['within'] else 'NO'} |"
        )
    return "\n".join(lines) + "\n"
