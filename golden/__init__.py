"""Golden reference model: EGRU, threshold RNN and GRU cells, BPTT, exact dense and sparse RTRL,
operation and memory counters, reference traces and spiral-task training.

The names below load lazily, so that `import golden.atomic` (or the numpy-only modules other
packages use) does not import torch.
"""

from importlib import import_module

_EXPORTS = {
    "bptt_gradients": "golden.bptt",
    "load_checkpoint": "golden.checkpoint",
    "save_checkpoint": "golden.checkpoint",
    "CellConfig": "golden.config",
    "RunCounters": "golden.counters",
    "UserError": "golden.errors",
    "CellParams": "golden.params",
    "RTRLResult": "golden.rtrl",
    "run_rtrl": "golden.rtrl",
    "Trace": "golden.trace",
    "TraceError": "golden.trace",
    "load_trace": "golden.trace",
    "make_trace": "golden.trace",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'golden' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
