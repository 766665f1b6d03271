"""Operation and memory counters of one RTRL run, per step and per sample.

Every count is what the implementation that ran (dense or sparse, `mode`) performed, for one
sample at one step; a sample's skipping decisions are its own, as in hardware processing one sample.

    forward_macs            matrix-vector MACs of the forward step: dense = gates * n * (n_in + n);
                            sparse = gates * n * n_in + n * (non-zero recurrent operand entries)
    effective_forward_macs  NeuroBench effective MACs: products with both weight and operand non-zero
    influence_macs          the product J_t M_{t-1}: dense n * n * p; sparse rows written * source
                            rows read * p_kept, plus one multiplication per row for its decay (it
                            goes into a per-row scale, golden.sparse_influence.SparseInfluence);
                            SnAp-n and e-prop: the products within their pattern (golden.snap)
    influence_macs_vectorised  SnAp only: what the golden's batched per-group products multiplied,
                            exact zeros included (golden.snap); influence_macs is the rule's own work
    rescale_macs            sparse only: p_kept per row whose accumulated scale had to be folded back
                            (value-dependent; none for hundreds of steps)
    immediate_macs          entries of Mbar_t formed: per entry of a diagonal block (a parameter acting
                            on its own unit) 1, of a dense block n; sparse forms only kept entries;
                            SnAp-n and e-prop: every entry of P_1
    gradient_macs           M_t^T (dS/ds_t): n * p dense; n * p_kept sparse; |P_n| SnAp-n, |P_1| e-prop
    influence_stored        influence entries held: n * p dense; (rows that may be non-zero) * p_kept sparse;
                            the pattern's entries |P_n| (SnAp-n), |P_1| (e-prop)
    influence_nonzero       measured non-zero entries of M_t (absent when the run was asked not to
                            measure it: counting is a full pass over M, which benchmarks leave out)
    backward_macs           BPTT only (golden.bptt.run_bptt): J_t^T delta_t and Mbar_t^T delta_t
    activation_words        BPTT only: words stored per step for the backward pass
    alpha                   fraction of units whose output is exactly zero
    beta                    fraction of units whose derivative factor d is exactly zero
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

COUNT_FIELDS = (
    "forward_macs",
    "effective_forward_macs",
    "influence_macs",
    "influence_macs_vectorised",
    "rescale_macs",
    "immediate_macs",
    "gradient_macs",
    "influence_stored",
    "influence_nonzero",
    "backward_macs",
    "activation_words",
)
RATE_FIELDS = ("alpha", "beta")


@dataclass
class RunCounters:
    """Per-step, per-sample counts ([T, B] arrays) of one run, with the run's static sizes."""

    mode: str
    cell: str
    n: int
    n_in: int
    sparsity: dict[str, Any]
    influence_storage_bytes: int
    per_step: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return int(self.per_step["alpha"].shape[0])

    @property
    def batch(self) -> int:
        return int(self.per_step["alpha"].shape[1])

    def total(self, name: str) -> int:
        """Sum over all steps and samples."""
        return int(self.per_step[name].sum())

    def mean(self, name: str) -> float:
        """Mean per sample and step."""
        return float(self.per_step[name].mean())

    def summary(self) -> dict[str, Any]:
        """Run-level figures: totals and per-sample-step means of every count, mean alpha and beta."""
        out: dict[str, Any] = {
            "mode": self.mode,
            "cell": self.cell,
            "n": self.n,
            "n_in": self.n_in,
            "steps": self.steps,
            "batch": self.batch,
            **self.sparsity,
            "influence_storage_bytes": self.influence_storage_bytes,
        }
        for name in COUNT_FIELDS:
            if name in self.per_step:
                out[f"{name}_total"] = self.total(name)
                out[f"{name}_per_step"] = self.mean(name)
        for name in RATE_FIELDS:
            out[name] = self.mean(name)
        return out

    def to_json(self, per_step: bool = True) -> dict[str, Any]:
        """summary() plus, optionally, every per-step per-sample array as nested lists [T][B]."""
        out = self.summary()
        if per_step:
            out["per_step"] = {k: v.tolist() for k, v in self.per_step.items()}
        return out

    def dumps(self, per_step: bool = True) -> str:
        return json.dumps(self.to_json(per_step), indent=1)


class CounterLog:
    """Collects one dict of [B] tensors per step and stacks them into a RunCounters."""

    def __init__(self) -> None:
        self.rows: list[dict[str, np.ndarray]] = []

    def add(self, **values) -> None:
        self.rows.append({k: np.asarray(v) for k, v in values.items()})

    def finish(self, **static) -> RunCounters:
        names = [k for k in COUNT_FIELDS + RATE_FIELDS if k in self.rows[0]]
        per_step = {k: np.stack([r[k] for r in self.rows]) for k in names}
        for k in COUNT_FIELDS:
            if k in per_step:
                per_step[k] = per_step[k].astype(np.int64)
        return RunCounters(per_step=per_step, **static)
