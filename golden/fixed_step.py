"""Integer reference of the EGRU's online training step (DESIGN.md contract 6) for a batch of
samples, with the spiral's readout of c_T and an update by shifts (Signum or SGD with momentum).
numpy only; every array
int64 and every quantity rounded and saturated once (golden.fixedpoint), so a run is bit-identical
on any machine. With p, s, g, w, i, cr, gr the fraction bits of the pre, state, gate, weight,
influence, credit and grad formats, per step t of a batch of B samples:

    input part   a_g^in = W_g x_t + b_g                                           (pre)
    cell unit    golden.fixed_cell.cell_step: gates from the tables, c, o, y, H', d
    linearise    golden.fixed_linearise.linearise: decay, G d's inputs, Mbar
    influence    golden.fixedpoint.influence_step: M_t = decay M_{t-1} + (G d) M_{t-1} + Mbar_t
    readout      logit = w_out . c_T + b_out                                       (pre)
                 e = sigmoid_table(logit) - target                                 (gate, exact)
    credit       credit_k = e w_out_k   (dL/dc_T for the mean cross-entropy, times B)   (credit)
    gradient     A_q += sum_{b, k} M_t[b, k, q] credit_t[b, k]         exact, at 2^-(i + cr)
                 g_q = A_q / B                            (grad; B a power of two: one rounding)
                 g_w_out = sum_b e_b c_T,b / B,  g_b_out = sum_b e_b / B                 (grad)
                 g_tau = g_theta theta (1 - theta)       (grad; theta = sigmoid_table(tau))
    update       m <- m - m 2^-mu + g                  (grad: momentum 1 - 2^-mu, torch's SGD)
                 signum: w <- w - 2^-lambda sign(m)    (master: learning rate 2^-lambda)
                 sgdm:   w <- w - 2^-lambda m          (master)

Updates come after the last step and, online, after every k-th (`update_every`); the influence
matrix carries across them, as in the float model (golden.rtrl). The forward words are rounded
from master after each update: W, V, w_out to weight, b, b_out to pre, tau to pre for the table,
theta = sigmoid_table(tau) to state. Masked recurrent weights have no column in M, so their
gradient, momentum and master words stay exactly zero.

Why Signum (the default, golden.optim.Signum in float): per parameter and update it costs one
shift and two adds for the momentum and one add of +-2^-lambda, with no multiplier and no table;
Adam needs a second moment, a square root and a division (a reciprocal-square-root table). Only
the sign of the momentum must be right, so gradient words can be coarse. And it learns: on the
spiral (n = 16, float64) Signum at 2^-8 passes 99% validation accuracy by iteration 300, while
SGD with momentum at its best power of two (0.25) sits at chance until iteration 1300 (README).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from golden.errors import UserError
from golden.fixed_cell import CellStep, PseudoDerivative, cell_step, sigmoid_slope
from golden.fixed_linearise import Column, linearise
from golden.fixedpoint import FixedPointConfig, influence_step, round_shift, round_to, saturate, sigmoid_lookup
from golden.malloc import reuse_freed_memory


@dataclass(frozen=True)
class ShiftRule:
    """The update by shifts: `kind` signum or sgdm, learning rate 2^-lr_shift, momentum
    1 - 2^-momentum_shift."""

    kind: str
    lr_shift: int
    momentum_shift: int


@dataclass
class Words:
    """The forward words of the parameters, rounded from master."""

    W: dict[str, np.ndarray]  # [n, n_in] weight
    V: dict[str, np.ndarray]  # [n, n] weight, masked entries zero
    b: dict[str, np.ndarray]  # [n] pre
    theta_gate: np.ndarray  # [n] gate: sigmoid_table(tau)
    theta: np.ndarray  # [n] state
    w_out: np.ndarray  # [n] weight
    b_out: np.ndarray  # [1] pre


@dataclass
class SequenceStats:
    """What one training sequence measured (integers, reported as numbers)."""

    logit: np.ndarray  # [B] pre
    silent_outputs: int  # entries y_t = 0 over steps, samples and units
    zero_derivatives: int  # entries d_t = 0
    entries: int  # steps x samples x units
    influence_zeros: int  # zero entries of M at the last step
    influence_entries: int


def input_part(
    W: dict[str, np.ndarray], b: dict[str, np.ndarray], x: np.ndarray, cfg: FixedPointConfig
) -> dict[str, np.ndarray]:
    """The input unit: a_g^in = W_g x + b_g, formed at 2^-(w + s) and rounded once to pre.
    W [n, n_in] (weight), b [n] (pre), x [..., n_in] (state)."""
    frac = cfg.weight.frac + cfg.state.frac
    return {g: round_to(x @ W[g].T + (b[g] << (frac - cfg.pre.frac)), frac, cfg.pre, "input part") for g in "urz"}


def readout_logit(w_out: np.ndarray, b_out: np.ndarray, c: np.ndarray, cfg: FixedPointConfig) -> np.ndarray:
    """The readout unit's prediction: logit = w_out . c + b_out, formed at 2^-(s + w) and rounded
    once to pre. w_out [n] (weight), b_out [1] (pre), c [..., n] (state)."""
    frac = cfg.state.frac + cfg.weight.frac
    return round_to(c @ w_out + (b_out << (frac - cfg.pre.frac)), frac, cfg.pre, "logit")


def readout_credit(
    w_out: np.ndarray, logit: np.ndarray, target: np.ndarray, cfg: FixedPointConfig
) -> tuple[np.ndarray, np.ndarray]:
    """The readout unit's loss step: e = sigmoid_table(logit) - target (gate, exact) and the credit
    e w_out_k rounded once to the credit format (dL/dc_T of the cross-entropy, times the batch).
    logit [B] (pre), target [B] in {0, 1}; returns (e [B], credit [B, n])."""
    error = sigmoid_lookup(logit, cfg) - (np.asarray(target, dtype=np.int64) << cfg.gate.frac)
    credit = round_to(error[:, None] * w_out[None, :], cfg.gate.frac + cfg.weight.frac, cfg.credit, "credit")
    return error, credit


def accumulate_gradient(acc: np.ndarray, credit: np.ndarray, M: np.ndarray) -> np.ndarray:
    """The gradient unit's step: A_q + sum_{b, k} M_t[b, k, q] credit_t[b, k], exact (int64; the
    width is checked by IntegerLearner.check_accumulator). credit [B, n] (credit), M [B, n, P]."""
    return acc + np.einsum("bk,bkq->q", credit, M)


def check_integers(name: str, array: np.ndarray) -> np.ndarray:
    """Refuse anything but int64 on the integer path (no float reaches it after conversion)."""
    if not isinstance(array, np.ndarray) or array.dtype != np.int64:
        raise TypeError(f"{name}: the integer path takes int64 arrays, got {getattr(array, 'dtype', type(array))}")
    return array


class IntegerLearner:
    """An EGRU with its readout in master words, its momentum, and the training step above."""

    def __init__(
        self,
        master: dict[str, np.ndarray],
        layout: list[Column],
        h: PseudoDerivative,
        subtractive: bool,
        cfg: FixedPointConfig,
    ):
        reuse_freed_memory()
        self.master = {k: check_integers(k, v) for k, v in master.items()}
        self.momentum = {k: np.zeros_like(v) for k, v in master.items()}
        self.layout, self.h, self.subtractive, self.cfg = layout, h, subtractive, cfg
        self.n = len(master["b_u"])
        self.P = layout[-1].stop

    def check_accumulator(self, batch: int, steps: int) -> None:
        """The exact gradient accumulator must fit int64 for this batch and sequence length."""
        cfg = self.cfg
        bits = int(cfg.gradient_acc_width(self.n, batch, steps))
        if bits > 63:
            raise UserError(
                f"format: influence {cfg.influence} and credit {cfg.credit} over {batch} samples x {self.n} units x "
                f"{steps} steps need a {bits}-bit gradient accumulator; expected at most 63 (narrow them)"
            )

    # -- forward words --------------------------------------------------------------------------
    def words(self) -> Words:
        cfg, M = self.cfg, self.master
        mf = cfg.master.frac
        theta_gate = sigmoid_lookup(round_to(M["tau"], mf, cfg.pre, "tau"), cfg)
        return Words(
            W={g: round_to(M[f"W_{g}"], mf, cfg.weight, "weight") for g in "urz"},
            V={g: round_to(M[f"V_{g}"], mf, cfg.weight, "weight") for g in "urz"},
            b={g: round_to(M[f"b_{g}"], mf, cfg.pre, "bias") for g in "urz"},
            theta_gate=theta_gate,
            theta=round_to(theta_gate, cfg.gate.frac, cfg.state, "theta"),
            w_out=round_to(M["w_out"], mf, cfg.weight, "weight"),
            b_out=round_to(M["b_out"], mf, cfg.pre, "bias"),
        )

    def input_part(self, words: Words, x: np.ndarray) -> dict[str, np.ndarray]:
        return input_part(words.W, words.b, x, self.cfg)

    def cell(self, words: Words, prev: CellStep | None, x: np.ndarray) -> CellStep:
        zero = np.zeros((x.shape[0], self.n), dtype=np.int64)
        c, y, o = (zero, zero, zero) if prev is None else (prev.c, prev.y, prev.o)
        part = self.input_part(words, x)
        return cell_step(c, y, o, words.V, part, words.theta, self.h, subtractive=self.subtractive, cfg=self.cfg)

    def logit(self, words: Words, c: np.ndarray) -> np.ndarray:
        return readout_logit(words.w_out, words.b_out, c, self.cfg)

    def forward(self, x: np.ndarray) -> SequenceStats:
        """The forward pass alone over x [T, B, n_in] (state words): evaluation."""
        check_integers("x", x)
        words, prev = self.words(), None
        silent = zero_d = 0
        for t in range(x.shape[0]):
            prev = self.cell(words, prev, x[t])
            silent += int(np.count_nonzero(prev.y == 0))
            zero_d += int(np.count_nonzero(prev.d == 0))
        return SequenceStats(self.logit(words, prev.c), silent, zero_d, prev.y.size * x.shape[0], 0, 0)

    # -- training -------------------------------------------------------------------------------
    def train_sequence(
        self,
        x: np.ndarray,
        target: np.ndarray,
        rule: ShiftRule,
        update_every: int | None,
        observe: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> SequenceStats:
        """One sequence of a batch: x [T, B, n_in] (state words), target [B] in {0, 1}; updates
        after the last step and every update_every steps (module docstring). `observe`, if given,
        sees every step ("step": t, cell, lin, M) and every update's gradients ("update": grads)."""
        check_integers("x", x)
        check_integers("target", target)
        cfg, n, P = self.cfg, self.n, self.P
        T, B = x.shape[:2]
        batch_shift = B.bit_length() - 1
        assert B == 1 << batch_shift, "the batch is a power of two (TrainConfig checks it)"
        units, rows = np.arange(n), np.ones(n, dtype=bool)
        M = np.zeros((B, n, P), dtype=np.int64)
        acc = np.zeros(P, dtype=np.int64)
        readout = (np.zeros(n, dtype=np.int64), np.zeros(1, dtype=np.int64))
        words, prev = self.words(), None
        silent = zero_d = 0
        logit = np.zeros(B, dtype=np.int64)
        for t in range(T):
            step = self.cell(words, prev, x[t])
            lin = linearise(prev, step, x[t], words.V, words.theta, self.layout, self.subtractive, cfg)
            M = influence_step(M, lin.decay, units, lin.d_prev, lin.G, lin.Mbar, rows, cfg)
            if observe is not None:
                observe("step", {"t": t, "cell": step, "lin": lin, "M": M})
            silent += int(np.count_nonzero(step.y == 0))
            zero_d += int(np.count_nonzero(step.d == 0))
            if t == T - 1:
                logit = self.logit(words, step.c)
                error, credit = readout_credit(words.w_out, logit, target, cfg)
                acc = accumulate_gradient(acc, credit, M)
                readout = (error @ step.c, error.sum(keepdims=True))
            if t == T - 1 or (update_every is not None and (t + 1) % update_every == 0):
                grads = self.gradients(acc, readout, words, batch_shift)
                if observe is not None:
                    observe("update", {"grads": grads})
                self._update(grads, rule)
                acc = np.zeros_like(acc)
                readout = (np.zeros(n, dtype=np.int64), np.zeros(1, dtype=np.int64))
                words = self.words()
            prev = step
        return SequenceStats(logit, silent, zero_d, T * B * n, int(np.count_nonzero(M == 0)), M.size)

    def gradients(
        self, acc: np.ndarray, readout: tuple[np.ndarray, np.ndarray], words: Words, batch_shift: int
    ) -> dict[str, np.ndarray]:
        """The batch-mean gradient of every master word from the exact accumulators."""
        cfg = self.cfg
        i, cr, g, s, gr = cfg.influence.frac, cfg.credit.frac, cfg.gate.frac, cfg.state.frac, cfg.grad.frac
        flat = round_to(acc, i + cr + batch_shift, cfg.grad, "grad")
        grads = {k: np.zeros_like(v) for k, v in self.master.items()}
        for col in self.layout:
            part = flat[col.start : col.stop]
            if col.name == "theta":
                slope = sigmoid_slope(words.theta_gate, "theta slope", cfg)
                grads["tau"][col.m] = round_to(part * slope, gr + cfg.coef.frac, cfg.grad, "grad")
            elif col.name[0] == "b":
                grads[col.name][col.m] = part
            else:
                grads[col.name][col.m, col.j] = part
        out_w, out_b = readout
        grads["w_out"] = round_to(out_w, g + s + batch_shift, cfg.grad, "grad")
        grads["b_out"] = round_to(out_b, g + batch_shift, cfg.grad, "grad")
        return grads

    def _update(self, grads: dict[str, np.ndarray], rule: ShiftRule) -> None:
        """m <- m - m 2^-mu + g (grad);  w <- w - 2^-lambda sign(m) or w - 2^-lambda m (master)."""
        cfg = self.cfg
        for name, grad in grads.items():
            m = self.momentum[name]
            m = saturate(m - round_shift(m, rule.momentum_shift) + grad, cfg.grad, "momentum")
            if rule.kind == "signum":
                step = np.sign(m) << (cfg.master.frac - rule.lr_shift)
            else:
                step = round_to(m, cfg.grad.frac + rule.lr_shift, cfg.master, "step")
            self.momentum[name] = check_integers(name, m)
            self.master[name] = check_integers(name, saturate(self.master[name] - step, cfg.master, "master"))
