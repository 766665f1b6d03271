"""Reference traces (DESIGN.md contract 1): one `.npz` per trace, format "egru-trace", version 1.

Entries: `meta` (0-d array holding a JSON string), `x` [T, B, n_in], every cell parameter under its
own name, `mask_<param>` (1 = kept) for every masked parameter, every record entry [T, B, n] (EGRU:
c y o u r z dH d; threshold RNN: a v dH d; GRU: h u r z d), `credit_<key>` [T, B, n] and
`grad_<param>` (offline RTRL gradient of S = sum_t sum_b sum_key credit_key . key_t, summed over batch
and time; masked entries exactly 0). A trace written with an approximate rule (`algo` snap1, snap2,
eprop in `meta`) holds that rule's gradient under the same names. Names are stable: new ones may be
added, none repurposed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from golden.atomic import atomic_path
from golden.cells import make_cell
from golden.config import CellConfig
from golden.errors import UserError
from golden.params import CellParams, block_names
from golden.rtrl import run_rtrl
from golden.trace_file import FORMAT, VERSION, TraceError, read_trace_file

CONFIG_KEYS = ("cell", "reset", "n", "n_in", "gamma", "epsilon", "omega", "seed", "dtype")
TRACE_ALGOS = {"sparse-rtrl": "sparse", "rtrl": "dense", "snap1": "snap1", "snap2": "snap2", "eprop": "eprop"}
GRADIENTS = {
    "sparse-rtrl": "offline sparse RTRL",
    "rtrl": "offline dense RTRL",
    "snap1": "offline SnAp-1 (approximate)",
    "snap2": "offline SnAp-2 (approximate)",
    "eprop": "offline e-prop (approximate)",
}


@dataclass
class Trace:
    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]

    @property
    def config(self) -> CellConfig:
        return CellConfig(**{k: self.meta[k] for k in CONFIG_KEYS})

    def params(self) -> CellParams:
        """The cell parameters and masks stored in the trace."""
        cfg = self.config
        tensors = {name: torch.from_numpy(self.arrays[name]) for name in block_names(cfg.cell)}
        masks = {k[5:]: torch.from_numpy(v) for k, v in self.arrays.items() if k.startswith("mask_")}
        return CellParams(cfg, tensors, masks)

    def tensor(self, name: str) -> torch.Tensor:
        return torch.from_numpy(self.arrays[name])

    def credits(self) -> dict[str, torch.Tensor]:
        return {k[7:]: self.tensor(k) for k in self.arrays if k.startswith("credit_")}

    def save(self, path: str | os.PathLike) -> None:
        """Write atomically: a temporary file in the same folder, then rename."""
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, meta=np.array(json.dumps(self.meta)), **self.arrays)


def expected_names(config: CellConfig) -> dict[str, tuple[int, ...]]:
    """Every entry a version-1 trace of this configuration must hold, with its shape (T, B as -1)."""
    params = CellParams.initialise(config)
    cell = make_cell(config)
    names: dict[str, tuple[int, ...]] = {"x": (-1, -1, config.n_in)}
    for b in params.blocks:
        names[b.name] = b.shape
        names[f"grad_{b.name}"] = b.shape
        if b.name in params.masks:
            names[f"mask_{b.name}"] = b.shape
    for key in cell.record_keys():
        names[key] = (-1, -1, config.n)
    for key in cell.credit_keys:
        names[f"credit_{key}"] = (-1, -1, config.n)
    return names


def make_trace(
    params: CellParams, x: torch.Tensor, credits: dict[str, torch.Tensor], algo: str = "sparse-rtrl", **meta: Any
) -> Trace:
    """Run the cell with offline RTRL (or an approximate rule, TRACE_ALGOS) and package the result."""
    if algo not in TRACE_ALGOS:
        raise UserError(f"--algo: got {algo!r}; expected one of {', '.join(TRACE_ALGOS)}")
    result = run_rtrl(params, x, credits, mode=TRACE_ALGOS[algo], keep_records=True)
    T, B, _ = x.shape
    c = result.counters
    info = {
        "format": FORMAT,
        "version": VERSION,
        **params.config.to_dict(),
        "T": T,
        "B": B,
        **params.sparsity(),
        "alpha": c.mean("alpha"),
        "beta": c.mean("beta"),
        "algo": algo,
        "gradient": f"{GRADIENTS[algo]} of S = sum_t sum_b sum_key credit_key . key_t",
        **meta,
    }
    arrays: dict[str, np.ndarray] = {"x": x.numpy()}
    for name, t in params.tensors.items():
        arrays[name] = t.numpy()
        arrays[f"grad_{name}"] = result.grads[name].numpy()
    for name, m in params.masks.items():
        arrays[f"mask_{name}"] = m.numpy().astype(np.uint8)
    for key, v in result.records.items():
        arrays[key] = v.numpy()
    for key, v in credits.items():
        arrays[f"credit_{key}"] = v.numpy()
    return Trace(info, arrays)


def load_trace(path: str | os.PathLike) -> Trace:
    """Read and check a trace (golden.trace_file, then the cell's names and shapes); every problem
    raises TraceError naming the file and what is wrong."""
    meta, arrays = read_trace_file(path)
    missing_meta = [k for k in CONFIG_KEYS + ("T", "B") if k not in meta]
    if missing_meta:
        raise TraceError(f"trace {path}: 'meta' lacks {', '.join(missing_meta)}")
    try:
        config = CellConfig(**{k: meta[k] for k in CONFIG_KEYS})
    except (UserError, TypeError) as exc:
        raise TraceError(f"trace {path}: bad cell configuration in 'meta': {exc}") from None
    for dim in ("T", "B"):
        if isinstance(meta[dim], bool) or not isinstance(meta[dim], int) or meta[dim] < 1:
            raise TraceError(f"trace {path}: 'meta' has {dim} = {meta[dim]!r}; expected a positive integer")
    expected = expected_names(config)
    missing = [k for k in expected if k not in arrays]
    if missing:
        raise TraceError(f"trace {path}: missing entries {', '.join(missing)} for cell {config.cell!r}")
    for name, shape in expected.items():
        want = tuple(meta[d] if s == -1 else s for d, s in zip(("T", "B", ""), shape)) if len(shape) == 3 else shape
        if tuple(arrays[name].shape) != want:
            raise TraceError(f"trace {path}: entry {name!r} has shape {arrays[name].shape}, expected {want}")
    return Trace(meta, arrays)
