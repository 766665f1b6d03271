"""On-chip memory of the online-learning EGRU core: every word golden.fixed_step keeps for exact
sparse RTRL with Signum or SGD-momentum updates, at the widths of one fixed-point configuration
(golden.fixedpoint.FixedPointConfig, the same one the integer reference and the RTL take).

With K = 3 (n^2 - round(omega n^2)) kept recurrent weights (golden.params masks exactly that many
per matrix), p_kept = 3 n n_in + K + 3 n + n trained cell words (W, kept V, b, tau) and n + 1
readout words:

    forward words      W, kept V and w_out at weight; b and b_out at pre; theta at state
    master words       p_kept + n + 1 at master (what the update rule changes)
    momentum           p_kept + n + 1 at grad
    gradient           p_kept + n + 1 exact accumulators of sum_t M_t^T credit_t over a batch of B
                       sequences of T steps: influence.width + credit.width - 1 + bits(B n T) bits
    influence          two banks of n x p_kept at influence (M_{t-1} is read while M_t is written)
    tables             sigmoid and tanh, 2^lut_bits entries each at gate
    state              per unit c and y at state, d and H' at deriv and o (1 bit), for t - 1 and t

Vectorised over n and omega (numpy arrays broadcast); tests/test_core_memory.py counts the words the
integer trainer actually allocates and finds the same bits.
"""

from __future__ import annotations

import numpy as np

from golden.fixedpoint import FixedPointConfig

STORES = ("forward words", "master words", "momentum", "gradient", "influence", "tables", "state")


def kept_recurrent(n: np.ndarray, omega: np.ndarray) -> np.ndarray:
    """K = 3 (n^2 - round(omega n^2)): golden.params masks exactly round(omega n^2) per matrix."""
    n2 = np.asarray(n, dtype=np.int64) ** 2
    return 3 * (n2 - np.round(np.asarray(omega) * n2).astype(np.int64))


def core_memory_bits(
    n: np.ndarray, n_in: int, omega: np.ndarray, cfg: FixedPointConfig, batch: int = 1, steps: int = 17
) -> dict[str, np.ndarray]:
    """Bits of each store in STORES (module docstring) and their "total"."""
    n = np.asarray(n, dtype=np.int64)
    K = kept_recurrent(n, omega)
    p_kept = 3 * n * n_in + K + 3 * n + n
    trained = p_kept + n + 1
    acc_width = cfg.gradient_acc_width(n, batch, steps)
    out = {
        "forward words": (3 * n * n_in + K + n) * cfg.weight.width + (3 * n + 1) * cfg.pre.width + n * cfg.state.width,
        "master words": trained * cfg.master.width,
        "momentum": trained * cfg.grad.width,
        "gradient": trained * acc_width,
        "influence": 2 * n * p_kept * cfg.influence.width,
        "tables": np.broadcast_to(2 * (1 << cfg.lut_bits) * cfg.gate.width, n.shape),
        "state": 2 * n * (2 * cfg.state.width + 2 * cfg.deriv.width + 1),
    }
    out["total"] = sum(out[k] for k in STORES)
    return out
