"""Parameter updates for online RTRL: plain SGD, with theta trained through tau = logit(theta)."""

from __future__ import annotations

from typing import Callable

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
