"""Formal verification of the blocks: property harnesses in Amaranth, proven with SymbiYosys."""
