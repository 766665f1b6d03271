"""Backpropagation through time, through the same pseudo-derivative as RTRL: by autograd (the
reference) and as the adjoint recursion over the cells' linearisation, with counters.

Adjoint (reverse-mode) form, with J_t and Mbar_t from each cell's `linearize` (golden.cells):

    delta_T-1 = cbar_T-1,   delta_t = cbar_t + J_{t+1}^T delta_{t+1},   dS/dw = sum_t Mbar_t^T delta_t + direct terms

cbar_t being dS/ds_t with the state held (`state_credit`). The forward pass stores every step's
record (the cell's quantities; EGRU: c y o dH u r z d) and its input, which the backward pass reads
to form J_t and Mbar_t again. Counted per sample and step, as the algorithm performs it:

    activation_words  words stored for the backward pass: the record (EGRU 8 n, GRU 5 n, threshold
                      RNN 4 n) plus the input x_t (n_in)
    backward_macs     J_t^T delta_t (t >= 1): the structurally non-zero J[k, l] (golden.cells.Structure)
                      whose source is active (src_l != 0, or l = k) and whose row may be non-zero
                      (threshold RNN: d_t,k != 0); plus Mbar_t^T delta_t: for each distinct dense
                      sensitivity (the r gates' A_r, theta's) its pattern's entries (S^T delta), and
                      one MAC per kept parameter (the outer product with the block's operand)

The batched golden forms J_t^T delta_t as a dense product; the count is the algorithm's.
"""

from __future__ import annotations

import torch

from golden.cells import CreditFn, Linearization, make_cell
from golden.counters import CounterLog
from golden.immediate import ImmediatePlan
from golden.params import CellParams
from golden.rtrl import RTRLResult, credits_from_tensors


def bptt_gradients(params: CellParams, x: torch.Tensor, credits: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """dS/dw for S = sum_t sum_b sum_key credits[key][t, b] . record_t[key][b], by autograd.

    Gradients are with respect to the raw (unmasked) parameters; a masked entry's gradient is
    exactly 0 because the cell reads weight * mask.
    """
    cell = make_cell(params.config)
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in params.tensors.items()}
    P = {k: (v * params.masks[k] if k in params.masks else v) for k, v in leaves.items()}
    prev = cell.initial(x.shape[1])
    S = x.new_zeros(())
    for t in range(x.shape[0]):
        rec = cell.step(P, prev, x[t])
        for key, credit in credits.items():
            S = S + (credit[t] * rec[key]).sum()
        prev = rec
    grads = torch.autograd.grad(S, list(leaves.values()), allow_unused=True)
    return {k: (g if g is not None else torch.zeros_like(leaves[k])) for k, g in zip(leaves, grads)}


def run_bptt(params: CellParams, x: torch.Tensor, credits: dict[str, torch.Tensor] | CreditFn) -> RTRLResult:
    """dS/dw by the adjoint recursion (module doc), with counters; credits as golden.rtrl.run_rtrl's."""
    cell = make_cell(params.config)
    credit_fn = credits_from_tensors(credits) if isinstance(credits, dict) else credits
    plan = ImmediatePlan(params, compact=True)
    structure = cell.structure(params.mask)
    S_J = structure.jacobian
    eye = torch.eye(params.config.n, dtype=torch.bool)
    T, B, n_in = x.shape
    P = params.effective()
    log = CounterLog()
    stored: list[tuple] = []
    with torch.no_grad():
        prev = cell.initial(B)
        for t in range(T):
            rec = cell.step(P, prev, x[t], event_driven=True)
            fwd = cell.forward_macs(P, prev, rec, x[t], event_driven=True)
            credit = credit_fn(t, rec)
            stored.append((prev, rec, credit))
            log.add(
                forward_macs=fwd["performed"],
                effective_forward_macs=fwd["effective"],
                alpha=(rec[cell.output_key] == 0).double().mean(-1),
                beta=(rec["d"] == 0).double().mean(-1),
                activation_words=torch.full((B,), len(rec) * params.config.n + n_in),
            )
            prev = rec
        grad = x.new_zeros(params.p_total)
        carried = x.new_zeros(B, params.config.n)  # J_{t+1}^T delta_{t+1}
        backward = torch.zeros(T, B, dtype=torch.int64)
        dense_S = None
        for t in reversed(range(T)):
            prev, rec, credit = stored[t]
            lin = cell.linearize(P, prev, rec, x[t])
            if dense_S is None:
                dense_S = _dense_sensitivity_entries(lin, structure.sensitivity)
            delta = cell.state_credit(rec, credit) + carried
            backward[t] = dense_S + params.p_kept
            for name, (m_idx, j_idx, _) in plan.columns.items():
                s = lin.sens[name]
                weighted = s.S * delta if s.diagonal else torch.einsum("bkm,bk->bm", s.S, delta)  # S^T delta
                block = params.block(name)
                g = torch.zeros(block.rows, block.cols, dtype=x.dtype)
                g[m_idx, j_idx] = (weighted[:, m_idx] * s.operand[:, j_idx]).sum(0)
                grad[block.offset : block.offset + block.size] += g.reshape(-1)
            for name, g in cell.direct_gradient(rec, credit).items():
                block = params.block(name)
                grad[block.offset : block.offset + block.size] += g.sum(0).reshape(-1)
            if t > 0:
                carried = torch.einsum("bkl,bk->bl", lin.G, delta) * lin.src
                if lin.decay is not None:
                    carried = carried + lin.decay * delta
                active = S_J[None] & ((lin.src != 0)[:, None, :] | eye[None])
                if lin.rows is not None:
                    active = active & lin.rows[:, :, None]
                backward[t] += active.sum((1, 2))
    counters = log.finish(
        mode="bptt",
        cell=params.config.cell,
        n=params.config.n,
        n_in=n_in,
        sparsity=params.sparsity(),
        influence_storage_bytes=0,
    )
    counters.per_step["backward_macs"] = backward.numpy()
    return RTRLResult(grads=params.unflatten(grad), counters=counters, records=None, final_influence=None)


def _dense_sensitivity_entries(lin: Linearization, sensitivity: dict[str, torch.Tensor]) -> int:
    """Structural entries of each distinct dense sensitivity tensor (S^T delta costs one MAC each):
    the r gates' A_r, shared by W_r, V_r and b_r, counted once; theta's once."""
    distinct = {id(s.S): name for name, s in lin.sens.items() if not s.diagonal}
    return sum(int(sensitivity[name].sum()) for name in distinct.values())
