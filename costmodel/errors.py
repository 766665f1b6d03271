"""The cost model's user-error type (kept free of torch so that `costmodel eval` starts fast)."""


class UserError(ValueError):
    """A problem with the user's input; the CLI prints it on one line and exits with status 2."""
