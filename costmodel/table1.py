"""Table 1 of the sparse-RTRL paper: memory and time per step of BPTT, RTRL, sparse RTRL and SnAp.

Exactly as printed, with x~ = 1 - x (alpha: activity sparsity of the forward pass, beta: sparsity of
the derivative, omega: parameter sparsity), n units, p parameters, T steps:

    method          memory                     time per step
    bptt            T n + p                    n^2 + p
    rtrl            n + n p                    n^2 + n^2 p
    rtrl-param      n + w~ n p                 w~ n^2 + w~^2 n^2 p
    rtrl-activity   a~ n + b~ n p              a~ n^2 + b~^2 n^2 p
    rtrl-both       a~ n + w~ b~ n p           w~ a~ n^2 + w~^2 b~^2 n^2 p
    snap1           n + w~ p                   w~ n^2 + w~ p
    snap2           n + w~^2 n p               w~ n^2 + w~^3 n^2 p

Our copy of the paper garbles the SnAp memory cells; they follow Menick et al. 2020 (SnAp-1
n + w~ p, SnAp-2 n + w~^2 n p). Each cell is kept as its two terms: the state/forward term (first)
and the influence term (second; for BPTT the stored history, resp. the backward pass over p).
All functions are vectorised over numpy arrays (broadcasting).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from costmodel.errors import UserError

METHODS = ("bptt", "rtrl", "rtrl-param", "rtrl-activity", "rtrl-both", "snap1", "snap2")
SPARSE_RTRL = ("rtrl-param", "rtrl-activity", "rtrl-both")
CORE_METHOD = "core"  # exact sparse RTRL (rtrl-both) on the online-learning core: costmodel.core
SWEEP_METHODS = (*METHODS, CORE_METHOD)


@dataclass
class Table1Cost:
    """Table 1's four terms (arrays): memory = memory_state + memory_influence,
    time_per_step = forward_term + influence_term."""

    memory_state: np.ndarray
    memory_influence: np.ndarray
    forward_term: np.ndarray
    influence_term: np.ndarray

    @property
    def memory(self) -> np.ndarray:
        return self.memory_state + self.memory_influence

    @property
    def time_per_step(self) -> np.ndarray:
        return self.forward_term + self.influence_term


def table1(method: str, n, p, T, alpha, beta, omega) -> Table1Cost:
    """Table 1's memory (words) and time per step (operations) for one method, vectorised."""
    n, p, T = (np.asarray(v, dtype=np.float64) for v in (n, p, T))
    a, b, w = (1 - np.asarray(v, dtype=np.float64) for v in (alpha, beta, omega))
    n2 = n * n
    one = np.ones(np.broadcast(n, p, T, a, b, w).shape)
    if method == "bptt":
        terms = (T * n, p, n2, p)
    elif method == "rtrl":
        terms = (n, n * p, n2, n2 * p)
    elif method == "rtrl-param":
        terms = (n, w * n * p, w * n2, w**2 * n2 * p)
    elif method == "rtrl-activity":
        terms = (a * n, b * n * p, a * n2, b**2 * n2 * p)
    elif method == "rtrl-both":
        terms = (a * n, w * b * n * p, w * a * n2, w**2 * b**2 * n2 * p)
    elif method == "snap1":
        terms = (n, w * p, w * n2, w * p)
    elif method == "snap2":
        terms = (n, w**2 * n * p, w * n2, w**3 * n2 * p)
    else:
        raise UserError(f"method: unknown method {method!r}; expected one of {', '.join(METHODS)}")
    return Table1Cost(*(np.asarray(t, dtype=np.float64) * one for t in terms))
