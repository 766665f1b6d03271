"""The FPGA flow: parts, synthesis, resource sweeps and model, capacity, boards and self-test."""
