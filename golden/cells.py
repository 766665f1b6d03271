"""The three cells: forward step, RTRL linearisation (J_t and Mbar_t) and forward MAC counts.

A step maps the previous step's record (a dict of [B, n] tensors, zeros at t = 0) and the input
x_t [B, n_in] to the new record. The same step serves BPTT (under autograd, the event function
`spike` carries the pseudo-derivative) and RTRL (under no_grad).

RTRL state s_t and its linearisation. With M_t = d s_t / d w (n x p) every cell's exact recursion is
written in one form, which the engines in golden.rtrl consume:

    M_t = diag(decay_t) M_{t-1} + G_t diag(src_t) M_{t-1} + Mbar_t            (J_t = diag(decay_t) + G_t diag(src_t))
    Mbar_t[k, (P, m, j)] = S^P_t[k, m] * o^P_t[j]                              (immediate influence)

for a parameter block P (rows m, columns j) that enters the pre-activation row m as P[m, j] * o^P[j]:
o^P is the block's operand (x_t, y_{t-1}, ...; 1 for biases and theta) and S^P[k, m] = d s_k / d pre_m
its sensitivity. For blocks that act only on their own unit S^P is diagonal and is stored as a vector.
Rows of M_t listed False in `rows` are exactly zero (only the threshold RNN has such rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from golden.config import CellConfig
from golden.heaviside import pseudo_derivative, spike
from golden.native import gated_bptt
from golden.params import GATES

Record = dict[str, torch.Tensor]


@dataclass
class Sensitivity:
    """Immediate influence of one parameter block: Mbar[k, (m, j)] = S[k, m] * operand[j].

    S is [B, n] when diagonal (S[k, m] = 0 for k != m) and [B, n, rows] otherwise; operand is [B, cols].
    """

    S: torch.Tensor
    diagonal: bool
    operand: torch.Tensor
    event_operand: bool = False  # the operand is the previous output, zero for silent units


@dataclass
class Structure:
    """Which entries of J_t and of each block's sensitivity S^P can be non-zero, from the masks alone
    (bool; DESIGN.md contract 7): `jacobian` [n, n] is S_J, `sensitivity[P]` [n, rows] is S^P's
    pattern (the identity for blocks acting on their own unit)."""

    jacobian: torch.Tensor
    sensitivity: dict[str, torch.Tensor]


@dataclass
class Linearization:
    """J_t = diag(decay) + G diag(src) and the immediate influence of every block (see module doc)."""

    decay: torch.Tensor | None  # [B, n], None when J has no separate diagonal term
    G: torch.Tensor  # [B, n, n]
    src: torch.Tensor  # [B, n] factor applied to source row l of M_{t-1}
    rows: torch.Tensor | None  # [B, n] bool: rows of M_t that may be non-zero; None = all
    sens: dict[str, Sensitivity]


def matvec(weight: torch.Tensor, operand: torch.Tensor, event_driven: bool) -> torch.Tensor:
    """operand @ weight^T for a batch [B, k] -> [B, rows].

    event_driven: per sample, read only the weight columns whose operand entry is non-zero, as an
    event-driven accelerator does (n MACs per event per matrix).
    """
    if not event_driven:
        return operand @ weight.T
    sample, unit = torch.nonzero(operand, as_tuple=True)  # every (sample, event) pair of the batch
    out = operand.new_zeros(operand.shape[0], weight.shape[0])
    return out.index_add_(0, sample, weight.T[unit] * operand[sample, unit][:, None])


def around(records: Record) -> tuple[Record, Record]:
    """Stacked records [T + 1, B, n] as (before, now): each step's previous record and its own, [T, B, n]."""
    return {k: v[:-1] for k, v in records.items()}, {k: v[1:] for k, v in records.items()}


class Cell:
    """Common interface of the three cells."""

    name: str
    state_key: str  # RTRL state s
    output_key: str  # what the next step reads (and what alpha counts zeros of)
    credit_keys: tuple[str, ...]  # record entries a loss may depend on directly
    n_gates: int

    def __init__(self, config: CellConfig):
        self.config = config
        self.n = config.n

    def record_keys(self) -> tuple[str, ...]:
        raise NotImplementedError

    def initial(self, batch: int) -> Record:
        """The record at t = 0: every quantity zero (c_0 = y_0 = 0)."""
        z = torch.zeros(batch, self.n, dtype=self.config.torch_dtype)
        return {k: z for k in self.record_keys()}

    def step(self, P: dict[str, torch.Tensor], prev: Record, x: torch.Tensor, event_driven: bool = False) -> Record:
        raise NotImplementedError

    def linearize(self, P: dict[str, torch.Tensor], prev: Record, rec: Record, x: torch.Tensor) -> Linearization:
        raise NotImplementedError

    def matvec_terms(self, P: dict[str, torch.Tensor], prev: Record, rec: Record, x: torch.Tensor):
        """(weight, operand, recurrent) for every matrix-vector product of the forward step."""
        raise NotImplementedError

    def dense_pass(self, P: dict[str, torch.Tensor], x: torch.Tensor) -> Record:
        """The dense forward pass over x [T, B, n_in] (golden.bptt): every record entry stacked
        [T + 1, B, n], index 0 the initial record, by `step` step after step."""
        records = [self.initial(x.shape[1])]
        for t in range(x.shape[0]):
            records.append(self.step(P, records[-1], x[t]))
        return {k: torch.stack([r[k] for r in records]) for k in records[0]}

    def structure(self, mask: Callable[[str], torch.Tensor]) -> Structure:
        """The structural patterns of J_t and of every block's S^P, given each block's 0/1 mask."""
        raise NotImplementedError

    def adjoint(
        self, P, records: Record, x: torch.Tensor, cbar: torch.Tensor
    ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """BPTT's backward pass over a whole sequence (golden.bptt), records as dense_pass's ([T + 1,
        B, n], index 0 the initial record), cbar [T, B, n] the state credits: delta_t = cbar_t +
        J_{t+1}^T delta_{t+1} by n_gates transposed recurrent products and elementwise terms per step
        (J never formed); per block (S^P^T delta [T, B, rows], operand [T, B, cols]), so that
        dS/dP[m, j] = sum over steps and samples of their product. A key may be a tuple of blocks that
        share their operand, their S^P^T delta side by side in that order (one product for them all)."""
        raise NotImplementedError

    def state_credit(self, rec: Record, credits: dict[str, torch.Tensor]) -> torch.Tensor:
        """Total derivative of the step loss with respect to the state s_t, [B, n]."""
        return credits[self.state_key]

    def direct_gradient(self, rec: Record, credits: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Gradient of the step loss through parameters that reach it other than via s_t, [B, ...]."""
        return {}

    def forward_macs(
        self, P, prev: Record, rec: Record, x: torch.Tensor, event_driven: bool
    ) -> dict[str, torch.Tensor]:
        """Per sample [B]: MACs the step performs (dense matmuls, or input dense and recurrent
        products event-driven: n per non-zero operand entry) and effective MACs (NeuroBench:
        products whose weight and operand are both non-zero)."""
        performed = torch.zeros(x.shape[:-1], dtype=torch.int64)  # [B], or [T, B] for stacked steps
        columns: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # per operand: its non-zero weights per column
        for weight, operand, recurrent in self.matvec_terms(P, prev, rec, x):
            if event_driven and recurrent:
                performed += weight.shape[0] * (operand != 0).sum(-1)
            else:
                performed += weight.numel()
            kept = (weight != 0).sum(0)
            if id(operand) in columns:  # products sharing an operand (V_u and V_r read y'): one count
                kept = kept + columns[id(operand)][1]
            columns[id(operand)] = (operand, kept)
        effective = sum((operand != 0).to(torch.int64) @ kept for operand, kept in columns.values())
        return {"performed": performed, "effective": effective}


class GatedCell(Cell):
    """EGRU (papers/egru Eq. 1-2) and GRU, which share their gates.

    EGRU (reset "paper"):
        u = sigmoid(W_u x + V_u y' + b_u), r = sigmoid(W_r x + V_r y' + b_r)
        z = tanh(W_z x + V_z (r * y') + b_z)
        c = u z + (1 - u) c' - y'                   (reset "subtractive": c = u z + (1 - u)(c' - theta o'))
        o = H(c - theta), y = c o,  H'_t = H'(c - theta), d = dy/dc = o + c H'_t
    GRU: the same gates reading h' in place of y', h = u z + (1 - u) h', no threshold, d = 1.

    RTRL state s = c (EGRU; y is a function of c and theta) or h (GRU). With a prime for t - 1,
    su = u(1 - u), sr = r(1 - r), dz = 1 - z^2 and the carried state q = c' (paper), c' - theta o'
    (subtractive) or h' (GRU):
        coef_u = (z - q) su,   coef_z = u dz,   A_r = diag(coef_z) V_z diag(y' sr)   (d s / d a_r)
        G = diag(coef_u) V_u + diag(coef_z) V_z diag(r) + A_r V_r  [- I for the paper reset]
        J = diag(decay) + G diag(src),  src = d' (EGRU) or 1 (GRU),
        decay = 1 - u (paper, GRU) or (1 - u)(1 - theta H'_{t-1}) (subtractive)
    Immediate influence (operands x, y', 1 and, for V_z, r y'):
        W_u, V_u, b_u: diagonal coef_u;  W_z, V_z, b_z: diagonal coef_z;  W_r, V_r, b_r: dense A_r
        theta (EGRU): y' = c' H(c' - theta) gives d y'_l / d theta_l = -c'_l H'_{t-1,l}, so
        S^theta = G diag(-c' H'_{t-1}) [+ diag((1 - u)(theta H'_{t-1} - o')) for the subtractive reset].
    Direct term: y_t depends on theta beside c_t: d y_t / d theta = -c_t H'_t.
    """

    n_gates = 3

    def __init__(self, config: CellConfig):
        super().__init__(config)
        self.egru = config.cell == "egru"
        self.subtractive = self.egru and config.reset == "subtractive"
        self.name = config.cell
        self.state_key = "c" if self.egru else "h"
        self.output_key = "y" if self.egru else "h"
        self.credit_keys = ("c", "y") if self.egru else ("h",)

    def record_keys(self) -> tuple[str, ...]:
        states = ("c", "y", "o", "dH") if self.egru else ("h",)
        return states + ("u", "r", "z", "d")

    def _read(self, prev: Record) -> tuple[torch.Tensor, torch.Tensor]:
        """(previous state, what the gates read): (c', y') for the EGRU, (h', h') for the GRU."""
        if not self.egru:
            return prev["h"], prev["h"]
        return prev["c"], prev["y"]

    @property
    def variant(self) -> int:
        """golden/csrc/gated_bptt.cpp's variant: 0 GRU, 1 EGRU (paper reset), 2 EGRU (subtractive)."""
        return 0 if not self.egru else 2 if self.subtractive else 1

    def dense_pass(self, P, x):
        """Compiled (golden/csrc/gated_bptt.cpp): per step the products of u and r together ([W_u; W_r] x
        and [V_u; V_r] out'), those of z (W_z x and V_z (r out')) and one fused elementwise pass; the
        equations of the class docstring."""
        ur, z, theta = self._compiled_weights(P, x)
        weights = (ur["W"], ur["b"], z["W"], z["b"], ur["V"], z["V"], theta)
        cfg = self.config
        planes = gated_bptt().forward(x.contiguous(), *weights, self.variant, cfg.gamma, cfg.epsilon)
        return dict(zip(self.record_keys(), planes))

    def _compiled_weights(self, P, x):
        """The compiled passes' operands: W, b and V of u and r stacked ([u; r]), those of z, and theta
        (empty for the GRU), each contiguous."""
        ur = {k: torch.cat([P[f"{k}_u"], P[f"{k}_r"]]) for k in "WbV"}
        z = {k: P[f"{k}_z"].contiguous() for k in "WbV"}
        return ur, z, P["theta"].contiguous() if self.egru else x.new_zeros(0)

    def step(self, P, prev, x, event_driven=False):
        cfg = self.config
        state, out = self._read(prev)
        u = torch.sigmoid(x @ P["W_u"].T + matvec(P["V_u"], out, event_driven) + P["b_u"])
        r = torch.sigmoid(x @ P["W_r"].T + matvec(P["V_r"], out, event_driven) + P["b_r"])
        z = torch.tanh(x @ P["W_z"].T + matvec(P["V_z"], r * out, event_driven) + P["b_z"])
        if not self.egru:
            h = u * z + (1 - u) * state
            return {"h": h, "u": u, "r": r, "z": z, "d": torch.ones_like(h)}
        theta = P["theta"]
        if self.subtractive:
            c = u * z + (1 - u) * (state - theta * prev["o"])
        else:
            c = u * z + (1 - u) * state - out
        o = spike(c - theta, cfg.gamma, cfg.epsilon)
        dH = pseudo_derivative(c - theta, cfg.gamma, cfg.epsilon)
        return {"c": c, "y": c * o, "o": o, "dH": dH, "u": u, "r": r, "z": z, "d": o + c * dH}

    def matvec_terms(self, P, prev, rec, x):
        _, out = self._read(prev)
        terms = [(P[f"W_{g}"], x, False) for g in GATES]
        return terms + [(P["V_u"], out, True), (P["V_r"], out, True), (P["V_z"], rec["r"] * out, True)]

    def structure(self, mask):
        """From the G of the class docstring, entry by entry: G's pattern is kept V_u, kept V_z, kept
        V_z times kept V_r (A_r V_r) and, for the paper reset, the diagonal (- I); S_J adds the
        diagonal (decay). S^P: the identity for the u- and z-gate blocks; kept V_z for the r-gate
        blocks (A_r = diag(coef_z) V_z diag(y' sr)); G's pattern and the diagonal for theta."""
        eye = torch.eye(self.n, dtype=torch.bool)
        V_u, V_r, V_z = (mask(f"V_{g}").to(torch.bool) for g in GATES)
        G = V_u | V_z | ((V_z.to(torch.int64) @ V_r.to(torch.int64)) > 0)
        if self.egru and not self.subtractive:
            G = G | eye
        sens = {}
        for gate in GATES:
            for kind in "WVb":
                sens[f"{kind}_{gate}"] = V_z if gate == "r" else eye
        if self.egru:
            sens["theta"] = G | eye
        return Structure(jacobian=G | eye, sensitivity=sens)

    def adjoint(self, P, records, x, cbar):
        """Compiled (golden/csrc/gated_bptt.cpp), per step backwards: a = coef_u delta, b = coef_z delta,
        v = V_z^T b, w = A_r^T delta = y' sr v, G^T delta = V_u^T a + V_r^T w + r v [- delta for the
        paper reset], J^T delta = decay delta + src G^T delta; theta: (-c' H') G^T delta [+ (1 - u)
        (theta H' - o') delta for the subtractive reset]. Weighted operands as Cell.adjoint's."""
        ur, z, theta = self._compiled_weights(P, x)
        planes = [records[k].contiguous() for k in self.record_keys()]
        AW, Bz, TH = gated_bptt().backward(planes, cbar.contiguous(), ur["V"], z["V"], theta, self.variant)
        out = records[self.output_key][:-1]
        ones = torch.ones(*x.shape[:-1], 1, dtype=x.dtype)
        blocks = {
            ("W_u", "W_r"): (AW, x),
            ("V_u", "V_r"): (AW, out),
            ("b_u", "b_r"): (AW, ones),
            "W_z": (Bz, x),
            "V_z": (Bz, records["r"][1:] * out),
            "b_z": (Bz, ones),
        }
        if self.egru:
            blocks["theta"] = (TH, ones)
        return blocks

    def linearize(self, P, prev, rec, x):
        u, r, z = rec["u"], rec["r"], rec["z"]
        state, out = self._read(prev)
        if self.subtractive:
            state = state - P["theta"] * prev["o"]
        coef_u = (z - state) * u * (1 - u)
        coef_z = u * (1 - z * z)
        zV = coef_z[:, :, None] * P["V_z"]
        A_r = zV * (out * r * (1 - r))[:, None, :]
        # G = coef_u V_u + coef_z V_z diag(r) + A_r V_r (- I), formed in place: [B, n, n] per term
        # would otherwise be allocated and read again
        G = torch.matmul(A_r, P["V_r"])
        G.addcmul_(coef_u[:, :, None], P["V_u"]).addcmul_(zV, r[:, None, :])
        if self.egru and not self.subtractive:
            G.diagonal(dim1=1, dim2=2).sub_(1)
        decay = 1 - u
        if self.subtractive:
            decay = decay * (1 - P["theta"] * prev["dH"])
        ones = torch.ones(x.shape[0], 1, dtype=x.dtype)
        sens = {}
        for gate, S, diagonal in (("u", coef_u, True), ("r", A_r, False), ("z", coef_z, True)):
            rec_operand = r * out if gate == "z" else out
            sens[f"W_{gate}"] = Sensitivity(S, diagonal, x)
            sens[f"V_{gate}"] = Sensitivity(S, diagonal, rec_operand, event_operand=True)
            sens[f"b_{gate}"] = Sensitivity(S, diagonal, ones)
        if self.egru:
            S_theta = G * (-prev["c"] * prev["dH"])[:, None, :]
            if self.subtractive:
                S_theta = S_theta + torch.diag_embed((1 - u) * (P["theta"] * prev["dH"] - prev["o"]))
            sens["theta"] = Sensitivity(S_theta, False, ones)
        src = prev["d"] if self.egru else torch.ones_like(u)
        return Linearization(decay=decay, G=G, src=src, rows=None, sens=sens)

    def state_credit(self, rec, credits):
        """EGRU: dS/dc_t = credit_c + d_t credit_y (y_t = c_t o_t); GRU: credit_h."""
        if not self.egru:
            return credits["h"]
        return credits["c"] + rec["d"] * credits["y"]

    def direct_gradient(self, rec, credits):
        """EGRU: d(credit_y . y_t)/d theta through y_t = c_t H(c_t - theta) = -credit_y c_t H'_t."""
        if not self.egru:
            return {}
        return {"theta": -credits["y"] * rec["c"] * rec["dH"]}


class ThresholdRNN(Cell):
    """Threshold RNN of the sparse-RTRL paper, Sec. 4:  v = W x + V a' + b - theta,  a = H(v).

    RTRL state s = a, derivative factor d = H'(v). J = d a / d a' = diag(d) V, so rows k with d_k = 0
    of J, Mbar and M_t are zero; with src = 1 and M_{t-1}'s zero rows (d'_l = 0) the product costs
    |{d != 0}| x |{d' != 0}| x p_kept, Table 1's beta~_t beta~_{t-1} n^2 p. Immediate influence, all
    diagonal: W: d with operand x; V: d with operand a'; b: d with operand 1; theta: -d with operand 1.
    """

    name = "trnn"
    state_key = "a"
    output_key = "a"
    credit_keys = ("a",)
    n_gates = 1

    def record_keys(self):
        return ("a", "v", "dH", "d")

    def step(self, P, prev, x, event_driven=False):
        cfg = self.config
        v = x @ P["W"].T + matvec(P["V"], prev["a"], event_driven) + P["b"] - P["theta"]
        dH = pseudo_derivative(v, cfg.gamma, cfg.epsilon)
        return {"a": spike(v, cfg.gamma, cfg.epsilon), "v": v, "dH": dH, "d": dH}

    def matvec_terms(self, P, prev, rec, x):
        return [(P["W"], x, False), (P["V"], prev["a"], True)]

    def structure(self, mask):
        """S_J = kept V (J = diag(d) V: no diagonal of its own); every S^P is the identity."""
        eye = torch.eye(self.n, dtype=torch.bool)
        return Structure(jacobian=mask("V").to(torch.bool), sensitivity={k: eye for k in ("W", "V", "b", "theta")})

    def adjoint(self, P, records, x, cbar):
        """delta_t = cbar_t + V^T (d_{t+1} delta_{t+1}); S^T delta = d delta (theta: -d delta)."""
        before, now = around(records)
        weighted = torch.empty_like(cbar)
        carried = torch.zeros_like(cbar[0])
        for t in reversed(range(cbar.shape[0])):
            w = weighted[t] = now["d"][t] * (cbar[t] + carried)
            carried = w @ P["V"]
        ones = torch.ones(*x.shape[:-1], 1, dtype=x.dtype)
        return {"W": (weighted, x), "V": (weighted, before["a"]), "b": (weighted, ones), "theta": (-weighted, ones)}

    def linearize(self, P, prev, rec, x):
        d = rec["d"]
        ones = torch.ones(x.shape[0], 1, dtype=x.dtype)
        sens = {
            "W": Sensitivity(d, True, x),
            "V": Sensitivity(d, True, prev["a"], event_operand=True),
            "b": Sensitivity(d, True, ones),
            "theta": Sensitivity(-d, True, ones),
        }
        return Linearization(decay=None, G=d[:, :, None] * P["V"], src=torch.ones_like(d), rows=d != 0, sens=sens)


def make_cell(config: CellConfig) -> Cell:
    """The cell object for config.cell."""
    if config.cell == "evnn":
        from golden.evnn import EvNNCell  # golden.evnn builds on this module

        return EvNNCell(config)
    return ThresholdRNN(config) if config.cell == "trnn" else GatedCell(config)


CreditFn = Callable[[int, Record], dict[str, torch.Tensor]]
