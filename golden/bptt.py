"""Backpropagation through time by autograd, through the same pseudo-derivative as RTRL."""

from __future__ import annotations

import torch

from golden.cells import make_cell
from golden.params import CellParams


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
