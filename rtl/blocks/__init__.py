"""The accelerator blocks, their parameters, cycle functions, transactions and simulator drivers."""
