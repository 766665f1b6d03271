"""The EvNN-compatible EGRU cell (`cell="evnn"`): the gate form of the published EvNN code (Nazeer
et al., github.com/Efficient-Scalable-Machine-Learning/EvNN, its PyTorch path `EGRUScript`), with
its state dict imported and exported.

EvNN's step, in its own names (kernel K [n_in, 3n], recurrent kernel R [n, 3n], biases b_x, b_h
[3n], threshold thr [n]; column blocks in the order z, r, g):

    z = sigmoid(x K_z + b_xz + y' R_z + b_hz),   r = sigmoid(x K_r + b_xr + y' R_r + b_hr)
    g = tanh(x K_g + b_xg + r * (y' R_g + b_hg))                 (r applied after the product)
    c = z * h' + (1 - z) * g,   o = H(c - thr),   h = c - o thr,   y = o c

Ours, one to one: W_u = K_z^T, V_u = R_z^T, b_u = b_xz, bh_u = b_hz (and r, and z for g), theta = thr;
the record's c is EvNN's pre-reset state (its h is c - theta o), u is its z (the gate that keeps the
old state: "flipped" against the paper's EGRU), z is its g, y and o are its y and o. Pseudo-
derivative: EvNN's dampening factor is gamma and 1 / pseudo_derivative_support is epsilon.

RTRL state s = c, with h' = c' - theta o' the carried state, su = u(1 - u), sr = r(1 - r),
dz = 1 - z^2, q = V_z y' + bh_z:

    coef_u = (h' - z) su,  coef_z = (1 - u) dz,  coef_q = coef_z r,  coef_r = coef_z q sr
    G = diag(coef_u) V_u + diag(coef_q) V_z + diag(coef_r) V_r,  J = diag(u (1 - theta H'_{t-1})) + G diag(d')

Every gate parameter acts on its own unit (r multiplies after the product, so no V_z V_r term):
S^P is diagonal, coef_u for the u gate's W_u, V_u, b_u, bh_u, coef_r for the r gate's, coef_z for
W_z and b_z, coef_q for V_z and bh_z. theta: S^theta = G diag(-c' H'_{t-1}) + diag(u (theta H'_{t-1}
- o')); direct term d y_t / d theta = -c_t H'_t. S_J = kept V_u | kept V_z | kept V_r | I.
"""

from __future__ import annotations

import torch

from golden.cells import Cell, Linearization, Sensitivity, Structure, around, matvec
from golden.errors import UserError
from golden.heaviside import pseudo_derivative, spike
from golden.params import GATES, CellParams

EVNN_GATE_ORDER = ("u", "r", "z")  # EvNN's column blocks z, r, g are our u, r, z


class EvNNCell(Cell):
    """The cell of the module doc."""

    name = "evnn"
    state_key = "c"
    output_key = "y"
    credit_keys = ("c", "y")
    n_gates = 3

    def record_keys(self) -> tuple[str, ...]:
        return ("c", "y", "o", "dH", "u", "r", "z", "d")

    def step(self, P, prev, x, event_driven=False):
        cfg, out = self.config, prev["y"]
        theta = P["theta"]
        carried = prev["c"] - theta * prev["o"]
        u = torch.sigmoid(x @ P["W_u"].T + P["b_u"] + matvec(P["V_u"], out, event_driven) + P["bh_u"])
        r = torch.sigmoid(x @ P["W_r"].T + P["b_r"] + matvec(P["V_r"], out, event_driven) + P["bh_r"])
        q = matvec(P["V_z"], out, event_driven) + P["bh_z"]
        z = torch.tanh(x @ P["W_z"].T + P["b_z"] + r * q)
        c = u * carried + (1 - u) * z
        o = spike(c - theta, cfg.gamma, cfg.epsilon)
        dH = pseudo_derivative(c - theta, cfg.gamma, cfg.epsilon)
        return {"c": c, "y": c * o, "o": o, "dH": dH, "u": u, "r": r, "z": z, "d": o + c * dH}

    def matvec_terms(self, P, prev, rec, x):
        return [(P[f"W_{g}"], x, False) for g in GATES] + [(P[f"V_{g}"], prev["y"], True) for g in GATES]

    def structure(self, mask):
        eye = torch.eye(self.n, dtype=torch.bool)
        G = mask("V_u").to(torch.bool) | mask("V_z").to(torch.bool) | mask("V_r").to(torch.bool)
        sens = {f"{kind}_{g}": eye for kind in ("W", "V", "b", "bh") for g in GATES}
        sens["theta"] = G | eye
        return Structure(jacobian=G | eye, sensitivity=sens)

    def adjoint(self, P, records, x, cbar):
        """Per step, backwards: G^T delta = [V_u; V_z; V_r]^T [coef_u; coef_q; coef_r] delta (one product),
        J^T delta = u (1 - theta H') delta + d' G^T delta; theta: (-c' H') G^T delta + u (theta H' - o') delta."""
        before, now = around(records)
        u, r, z, out, theta = now["u"], now["r"], now["z"], before["y"], P["theta"]
        carried_state = before["c"] - theta * before["o"]
        q = out @ P["V_z"].T + P["bh_z"]
        coef_z = (1 - u) * (1 - z * z)
        coefs = torch.stack([(carried_state - z) * u * (1 - u), coef_z * r, coef_z * q * r * (1 - r)], dim=2)
        V = torch.cat([P["V_u"], P["V_z"], P["V_r"]])  # [3n, n]
        decay = u * (1 - theta * before["dH"])
        deltas, GTs = torch.empty_like(cbar), torch.empty_like(cbar)
        carried = torch.zeros_like(cbar[0])
        T, B, n = cbar.shape
        for t in reversed(range(T)):
            delta = deltas[t] = cbar[t] + carried
            GT = GTs[t] = (coefs[t] * delta[:, None, :]).reshape(B, 3 * n) @ V
            carried = decay[t] * delta + before["d"][t] * GT
        a, e, f = (coefs[:, :, i] * deltas for i in range(3))
        b = coef_z * deltas
        ones = torch.ones(*x.shape[:-1], 1, dtype=x.dtype)
        blocks = {}
        for gate, weighted in (("u", a), ("r", f)):
            blocks.update({f"W_{gate}": (weighted, x), f"V_{gate}": (weighted, out)})
            blocks.update({f"b_{gate}": (weighted, ones), f"bh_{gate}": (weighted, ones)})
        blocks.update({"W_z": (b, x), "b_z": (b, ones), "V_z": (e, out), "bh_z": (e, ones)})
        blocks["theta"] = (-before["c"] * before["dH"] * GTs + u * (theta * before["dH"] - before["o"]) * deltas, ones)
        return blocks

    def linearize(self, P, prev, rec, x):
        u, r, z, out, theta = rec["u"], rec["r"], rec["z"], prev["y"], P["theta"]
        carried = prev["c"] - theta * prev["o"]
        q = out @ P["V_z"].T + P["bh_z"]
        coef_u = (carried - z) * u * (1 - u)
        coef_z = (1 - u) * (1 - z * z)
        coef_q = coef_z * r
        coef_r = coef_z * q * r * (1 - r)
        G = coef_u[:, :, None] * P["V_u"] + coef_q[:, :, None] * P["V_z"] + coef_r[:, :, None] * P["V_r"]
        ones = torch.ones(x.shape[0], 1, dtype=x.dtype)
        sens = {}
        for gate, coef in (("u", coef_u), ("r", coef_r)):
            sens[f"W_{gate}"] = Sensitivity(coef, True, x)
            sens[f"V_{gate}"] = Sensitivity(coef, True, out, event_operand=True)
            sens[f"b_{gate}"] = Sensitivity(coef, True, ones)
            sens[f"bh_{gate}"] = Sensitivity(coef, True, ones)
        sens["W_z"] = Sensitivity(coef_z, True, x)
        sens["b_z"] = Sensitivity(coef_z, True, ones)
        sens["V_z"] = Sensitivity(coef_q, True, out, event_operand=True)
        sens["bh_z"] = Sensitivity(coef_q, True, ones)
        S_theta = G * (-prev["c"] * prev["dH"])[:, None, :] + torch.diag_embed(u * (theta * prev["dH"] - prev["o"]))
        sens["theta"] = Sensitivity(S_theta, False, ones)
        decay = u * (1 - theta * prev["dH"])
        return Linearization(decay=decay, G=G, src=prev["d"], rows=None, sens=sens)

    def state_credit(self, rec, credits):
        """dS/dc_t = credit_c + d_t credit_y (y_t = c_t o_t)."""
        return credits["c"] + rec["d"] * credits["y"]

    def direct_gradient(self, rec, credits):
        """d(credit_y . y_t)/d theta through y_t = c_t H(c_t - theta) = -credit_y c_t H'_t."""
        return {"theta": -credits["y"] * rec["c"] * rec["dH"]}


def from_evnn_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our evnn cell's parameters from an EvNN EGRU layer's state dict (module doc's mapping);
    UserError names a missing or misshapen entry."""
    for key in ("kernel", "recurrent_kernel", "bias", "recurrent_bias", "thr"):
        if key not in state:
            raise UserError(
                f"EvNN state dict: no {key!r}; expected kernel, recurrent_kernel, bias, recurrent_bias, thr"
            )
    thr = torch.as_tensor(state["thr"])
    n = thr.shape[0] if thr.dim() == 1 else -1
    shapes = {"recurrent_kernel": (n, 3 * n), "bias": (3 * n,), "recurrent_bias": (3 * n,)}
    for key, shape in shapes.items():
        if n < 1 or tuple(state[key].shape) != shape:
            raise UserError(f"EvNN state dict: {key} has shape {tuple(state[key].shape)}; expected {shape} (n = {n})")
    kernel = torch.as_tensor(state["kernel"])
    if kernel.dim() != 2 or kernel.shape[1] != 3 * n:
        raise UserError(f"EvNN state dict: kernel has shape {tuple(kernel.shape)}; expected (n_in, {3 * n})")
    out = {"theta": thr.clone()}
    for i, g in enumerate(EVNN_GATE_ORDER):
        cols = slice(i * n, (i + 1) * n)
        out[f"W_{g}"] = kernel[:, cols].T.clone()
        out[f"V_{g}"] = torch.as_tensor(state["recurrent_kernel"])[:, cols].T.clone()
        out[f"b_{g}"] = torch.as_tensor(state["bias"])[cols].clone()
        out[f"bh_{g}"] = torch.as_tensor(state["recurrent_bias"])[cols].clone()
    return out


def to_evnn_state_dict(params: CellParams) -> dict[str, torch.Tensor]:
    """The inverse of from_evnn_state_dict for an evnn cell's effective (masked) weights."""
    if params.config.cell != "evnn":
        raise UserError(f"cell: {params.config.cell!r}; only an evnn cell exports an EvNN state dict")
    P = params.effective()
    return {
        "kernel": torch.cat([P[f"W_{g}"].T for g in EVNN_GATE_ORDER], 1),
        "recurrent_kernel": torch.cat([P[f"V_{g}"].T for g in EVNN_GATE_ORDER], 1),
        "bias": torch.cat([P[f"b_{g}"] for g in EVNN_GATE_ORDER]),
        "recurrent_bias": torch.cat([P[f"bh_{g}"] for g in EVNN_GATE_ORDER]),
        "thr": P["theta"].clone(),
    }
