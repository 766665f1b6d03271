"""Golden reference model: EGRU, threshold RNN and GRU cells, BPTT, exact dense and sparse RTRL,
operation and memory counters, and reference traces."""
from golden.bptt import bptt_gradients
from golden.checkpoint import load_checkpoint, save_checkpoint
from golden.config import CellConfig
from golden.counters import RunCounters
from golden.errors import UserError
from golden.params import CellParams
from golden.rtrl import RTRLResult, run_rtrl
from golden.trace import Trace, TraceError, load_trace, make_trace

__all__ = [
    "CellConfig", "CellParams", "RunCounters", "RTRLResult", "Trace", "TraceError", "UserError",
    "bptt_gradients", "load_checkpoint", "load_trace", "make_trace", "run_rtrl", "save_checkpoint",
]
