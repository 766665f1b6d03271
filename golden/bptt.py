"""Backpropagation through time, through the same pseudo-derivative as RTRL: by autograd (the
reference) and as the adjoint recursion of the cells' linearisation, with counters.

Adjoint (reverse-mode) form, with J_t and Mbar_t as each cell's `linearize` defines them (golden.cells):

    delta_T-1 = cbar_T-1,   delta_t = cbar_t + J_{t+1}^T delta_{t+1},   dS/dw = sum_t Mbar_t^T delta_t + direct terms

cbar_t being dS/ds_t with the state held (`state_credit`). The forward pass stores every step's
record (the cell's quantities; EGRU: c y o dH u r z d) and its input; the backward pass reads them
and forms J_t^T delta and each block's S^P^T delta with the cell's `adjoint` (one transposed
product per recurrent matrix and step, elementwise terms, J never formed), then the gradient's
outer products. The gated cells (EGRU, GRU) run both passes compiled (golden/csrc/gated_bptt.cpp:
per step its products and one fused elementwise loop, as torch's own GRU does); autograd's
`bptt_gradients` is the reference the tests hold them to. Counted per sample and step:

    forward_macs      the dense forward step's, g n (n_in + n) (effective ones as for RTRL)
    activation_words  words stored for the backward pass: the record (EGRU and EvNN 8 n, GRU 5 n,
                      threshold RNN 4 n) plus the input x_t (n_in)
    backward_macs     the transposed recurrent products, n^2 each (3 for the gated cells, 1 for the
                      threshold RNN), plus one MAC per kept parameter (its outer-product term; the
                      batched golden forms a masked block's products densely and drops the masked ones)
"""

from __future__ import annotations

import numpy as np
import torch

from golden.cells import CreditFn, around, make_cell
from golden.counters import RunCounters
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
    """dS/dw by the adjoint recursion (module doc), with counters; credits as golden.rtrl.run_rtrl's
    (a credit function is called for steps 0 .. T-1 in turn, after the whole forward pass). The
    forward pass is the dense one (its MACs counted as such); the gradient's outer products are
    summed over steps and samples in one product per block."""
    cell = make_cell(params.config)
    credit_fn = credits_from_tensors(credits) if isinstance(credits, dict) else credits
    T, B, n_in = x.shape
    n = params.config.n
    P = params.effective()
    with torch.no_grad():
        records = cell.dense_pass(P, x)  # [T + 1, B, n] per entry, step 0 = initial
        before, now = around(records)
        credit_list = [credit_fn(t, {k: v[t] for k, v in now.items()}) for t in range(T)]
        forward = cell.forward_macs(P, before, now, x, event_driven=False)
        credits_now = {k: torch.stack([c[k] for c in credit_list]) for k in credit_list[0]}
        blocks = cell.adjoint(P, records, x, cell.state_credit(now, credits_now))
        grads = {}
        for names, (weighted, operand) in blocks.items():  # sum over steps and samples of weighted^T operand
            names = (names,) if isinstance(names, str) else names
            w2, o2 = weighted.reshape(-1, weighted.shape[-1]), operand.reshape(-1, operand.shape[-1])
            g = w2.T @ o2 if o2.shape[1] >= w2.shape[1] else (o2.T @ w2).T  # the wide side as BLAS's columns
            for name, part in zip(names, g.split([params.block(name).rows for name in names])):
                grads[name] = part.reshape(params.block(name).shape)
                if name in params.masks:
                    grads[name] = grads[name] * params.masks[name]
        for name, g in cell.direct_gradient(now, credits_now).items():
            grads[name] = grads[name] + g.sum((0, 1)).reshape(params.block(name).shape)
    words = sum(v.shape[-1] for v in now.values()) + n_in
    counters = RunCounters(
        mode="bptt",
        cell=params.config.cell,
        n=n,
        n_in=n_in,
        sparsity=params.sparsity(),
        influence_storage_bytes=0,
        per_step={
            "forward_macs": forward["performed"].numpy(),
            "effective_forward_macs": forward["effective"].numpy(),
            "backward_macs": np.full((T, B), cell.n_gates * n * n + params.p_kept, dtype=np.int64),
            "activation_words": np.full((T, B), words, dtype=np.int64),
            "alpha": (now[cell.output_key] == 0).double().mean(-1).numpy(),
            "beta": (now["d"] == 0).double().mean(-1).numpy(),
        },
    )
    ordered = {b.name: grads[b.name] for b in params.blocks}
    return RTRLResult(grads=ordered, counters=counters, records=None, final_influence=None)
