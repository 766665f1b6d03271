"""How many threads torch (and the compiled sparse walk, whose at::parallel_for uses torch's pool)
gets: chosen from the work's size unless the user says (`--threads`).

Small work gains nothing from a second thread and loses much when the machine is busy: measured on
this 2-core machine (spiral iteration, batch 32, T = 17, one run each), idle / with one core kept
busy by another process:

    n = 16  BPTT          1 thread 4.0 / 3.9 ms     2 threads 4.5 / 8.0 ms
    n = 16  sparse RTRL   1 thread 23 / 22 ms       2 threads 20 / 40 ms
    n = 64  sparse RTRL   1 thread 1.51 / 1.38 s    2 threads 1.02 / 1.43 s
    n = 128 BPTT          1 thread 9.8 / 8.5 ms     2 threads 11.5 / 11.4 ms

so work below AUTO_WORK multiply-accumulates per step (batch x n x p for RTRL, whose influence
update dominates; batch x p for BPTT) runs on one thread, larger work on every core this process may
use. `golden bench` reports the spiral iteration at both settings.
"""

from __future__ import annotations

import os

import torch

from golden.errors import UserError

AUTO_WORK = 1 << 22


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def egru_parameters(n: int, n_in: int) -> int:
    """p of the EGRU: W (3 n n_in), V (3 n^2), biases (3 n) and theta (n)."""
    return 3 * n * n_in + 3 * n * n + 4 * n


def step_work(algo: str, n: int, n_in: int, batch: int) -> int:
    """Multiply-accumulates per step that threads could share: batch n p for RTRL, batch p for BPTT."""
    p = egru_parameters(n, n_in)
    return batch * p * (1 if algo == "bptt" else n)


def threads_for(work: int) -> int:
    """One thread below AUTO_WORK, else every core."""
    return 1 if work < AUTO_WORK else cores()


def use_threads(requested: int | None, work: int) -> int:
    """Set torch's thread count to `requested` (0 or None: chosen from `work`); returns it."""
    if requested is not None and requested < 0:
        raise UserError(f"--threads: got {requested}; expected a positive integer, or 0 to choose from the work")
    threads = requested or threads_for(work)
    torch.set_num_threads(threads)
    return threads
