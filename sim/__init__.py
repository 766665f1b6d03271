"""cocotb testbenches and their runner: replay golden traces through the generated Verilog on
Icarus and Verilator and demand bit-exact agreement with the fixed-point reference. Nothing
imports this package."""
