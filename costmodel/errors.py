"""The cost model's user-error type: the project's one (golden.errors, which imports nothing heavy),
so errors raised by the RTL parameters the cost model uses are reported the same way."""

from golden.errors import UserError

__all__ = ["UserError"]
