"""Amaranth accelerator blocks (event router, event-driven gate accumulation, sparse row-gated
influence update), their pure-Python cycle functions and Verilog generation (DESIGN.md, contracts
2-4). This package must not import Amaranth at import time: the cost model imports its cycle
functions."""
