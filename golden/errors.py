"""The one exception type for mistakes a user can fix (bad option, bad file, bad value)."""


class UserError(ValueError):
    """A problem with the user's input. The CLI prints its message on one line and exits with 2."""
