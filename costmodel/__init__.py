"""Analytical cost model: Table 1 of the sparse-RTRL paper, exact per-cell accounting of the golden
implementation, hardware figures (bytes, traffic, cycles, energy), sweeps and plots."""

__version__ = "0.1.0"
