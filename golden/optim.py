"""Parameter updates: plain SGD for online RTRL with theta trained through tau = logit(theta), and
Signum (sign of the momentum; Bernstein et al., ICML 2018), the rule the fixed-point trainer uses."""

from __future__ import annotations

from typing import Callable, Iterable

import torch

from golden.params import CellParams


def sgd(params: CellParams, lr: float) -> Callable[[dict[str, torch.Tensor]], None]:
    """An on_update callback: w <- w - lr dS/dw for every block, in place.

    theta is kept in (0, 1) by its sigmoid parameterisation theta = sigmoid(tau): the step is taken
    on tau with dS/dtau = dS/dtheta * theta (1 - theta), and theta = sigmoid(tau) is written back.
    """

    def update(grads: dict[str, torch.Tensor]) -> None:
        for name, grad in grads.items():
            w = params.tensors[name]
            if name == "theta":
                tau = torch.logit(w) - lr * grad * w * (1 - w)
                w.copy_(torch.sigmoid(tau))
            else:
                w.sub_(lr * grad)

    return update


class Signum(torch.optim.Optimizer):
    """m <- momentum m + g (m = g at the first step, as torch's SGD), w <- w - lr sign(m).

    Every parameter moves by exactly lr or not at all, so the update needs no multiplier and the
    gradient's magnitude only has to be right to its sign: what makes it the hardware rule of
    golden.fixed_step, where momentum is 1 - 2^-mu and lr 2^-lambda."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float, momentum: float):
        super().__init__(params, {"lr": lr, "momentum": momentum})

    @torch.no_grad()
    def step(self) -> None:  # type: ignore[override]
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = p.grad.clone()
                else:
                    state["momentum_buffer"].mul_(group["momentum"]).add_(p.grad)
                p.sub_(group["lr"] * torch.sign(state["momentum_buffer"]))
