"""Heaviside event function with the triangular pseudo-derivative shared by every cell.

    H(v)  = 1 if v > 0 else 0                      (strict: H(0) = 0)
    H'(v) = gamma * max(0, 1 - |v| / epsilon)      (pseudo-derivative)

gamma is the height and epsilon the half-width of the support: H'(v) = 0 for |v| >= epsilon.
Mapping to the sources: the EGRU paper's Eq. S58 uses epsilon the same way (its lambda is our
gamma). The sparse-RTRL paper prints 1 - |v| / (2 epsilon) but states in its text that H' = 0
beyond epsilon; we follow the text, so its epsilon is our epsilon. EvNN's code uses
gamma = dampening_factor (0.7 there) and epsilon = 1 / pseudo_derivative_support.
"""

from __future__ import annotations

import torch


def pseudo_derivative(v: torch.Tensor, gamma: float, epsilon: float) -> torch.Tensor:
    """H'(v) = gamma * max(0, 1 - |v| / epsilon)."""
    return gamma * torch.clamp(1.0 - v.abs() / epsilon, min=0.0)


def heaviside(v: torch.Tensor) -> torch.Tensor:
    """H(v) = [v > 0] in v's dtype."""
    return (v > 0).to(v.dtype)


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v: torch.Tensor, gamma: float, epsilon: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(v)
        ctx.gamma, ctx.epsilon = gamma, epsilon
        return heaviside(v)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (v,) = ctx.saved_tensors
        return grad * pseudo_derivative(v, ctx.gamma, ctx.epsilon), None, None


def spike(v: torch.Tensor, gamma: float, epsilon: float) -> torch.Tensor:
    """H(v) in the forward pass, H'(v) (the pseudo-derivative) under autograd."""
    return _Spike.apply(v, gamma, epsilon)
