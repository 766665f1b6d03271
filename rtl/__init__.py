"""The hardware side (DESIGN.md, contracts 2-4):

    rtl.blocks   the accelerator blocks (event router, event-driven gate accumulation, sparse
                 row-gated influence update) as Amaranth components, their parameters, pure-Python
                 cycle functions, stream transactions, stimulus and simulator drivers
    rtl.fpga     the FPGA flow: parts, synthesis and place-and-route, resource sweeps and their
                 fitted model, capacity per part, board builds with the on-board self-test
    rtl.verilog  Verilog generation and lint; rtl.toolchain finds the HDL tools; rtl.cli the CLI

This package must not import Amaranth at import time: the cost model imports its cycle functions."""
