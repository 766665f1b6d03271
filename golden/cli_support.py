"""What the four command lines (golden, costmodel, rtl, sim) share: an argparse parser whose errors
are UserErrors, and a runner that prints a UserError on one line with exit status 2 (no traceback)
and leaves quietly when its output pipe closes (`... | head`). Imports nothing heavy."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Mapping, Sequence

from golden.errors import UserError


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit status 2."""

    def error(self, message: str):  # type: ignore[override]
        raise UserError(message)


def run_cli(
    prog: str,
    parser: argparse.ArgumentParser,
    commands: Mapping[str, Callable[[argparse.Namespace], int]],
    argv: Sequence[str] | None,
) -> int:
    """Parse argv and run the chosen command; UserError -> `<prog>: error: ...` and 2."""
    try:
        args = parser.parse_args(argv)
        return commands[args.command](args)
    except UserError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
