"""What the four command lines (golden, costmodel, rtl, sim) share, so that every command answers bad
input, bad paths and interruptions the same way (imports nothing heavy):

- `Parser`: argparse whose errors are UserErrors;
- `run_cli`: runs a command and turns a UserError, or an OSError on a user's path, into one line
  `<prog>: error: ...` with exit status 2, Ctrl-C into one line saying what was kept and how to resume
  (exit 130), and a closed output pipe (`... | head`) into a quiet exit;
- `out_folder` / `out_file`: the one convention for `--out`. Commands that write several files take a
  folder (created if missing); commands that write one file take its path, or an existing folder (or a
  path ending in "/"), in which case the file gets the command's default name inside it. Either way the
  path is checked before any work: not an existing file where a folder is meant, no file among its
  parents, and a writable place to create it;
- `on_interrupt`: what a long command tells the user when Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable, Mapping, Sequence

from golden.errors import UserError

INTERRUPTED = 130  # 128 + SIGINT, as shells report it
NOTHING_KEPT = "nothing half-written was left (every file is written whole or not at all)"
_interrupt_note = NOTHING_KEPT


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit status 2."""

    def error(self, message: str):  # type: ignore[override]
        raise UserError(message)


def on_interrupt(note: str) -> None:
    """Set what Ctrl-C reports from now on: what was kept and how to resume."""
    global _interrupt_note
    _interrupt_note = note


def _os_error_text(exc: OSError) -> str:
    """`<path>: <reason>` for an OSError on a path (both paths for a rename), else its text."""
    reason = exc.strerror or exc.__class__.__name__
    if exc.filename is not None and exc.filename2 is not None:
        return f"{exc.filename} -> {exc.filename2}: {reason}"
    if exc.filename is not None:
        return f"{exc.filename}: {reason}"
    return str(exc) or reason


def run_cli(
    prog: str,
    parser: argparse.ArgumentParser,
    commands: Mapping[str, Callable[[argparse.Namespace], int]],
    argv: Sequence[str] | None,
) -> int:
    """Parse argv and run the chosen command; UserError or OSError -> `<prog>: error: ...` and 2,
    Ctrl-C -> `<prog>: interrupted; ...` and 130."""
    on_interrupt(NOTHING_KEPT)
    try:
        args = parser.parse_args(argv)
        return commands[args.command](args)
    except UserError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted; {_interrupt_note}", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:  # the reader went away; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # a path the user gave: missing, unreadable, read-only, full disk ...
        print(f"{prog}: error: {_os_error_text(exc)}", file=sys.stderr)
        return 2


def _check_creatable(path: Path, option: str) -> None:
    """Every existing ancestor of `path` is a folder, and the nearest one is writable."""
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"{option}: {path}: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise UserError(f"{option}: {path}: folder {parent} is not writable")
            return
        if parent.is_symlink():  # a dangling link among the parents
            raise UserError(f"{option}: {path}: {parent} is a broken link")


def out_folder(value: str | os.PathLike, option: str = "--out") -> Path:
    """A folder to write several files into: an existing folder, or one that can be created."""
    path = Path(value)
    if path.exists():
        if not path.is_dir():
            raise UserError(f"{option}: {path} is an existing file; expected a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise UserError(f"{option}: folder {path} is not writable")
    _check_creatable(path, option)
    return path


def out_file(value: str | os.PathLike, default_name: str, option: str = "--out") -> Path:
    """A file to write: the path itself, or `default_name` inside it when it names a folder (an
    existing one, or a path ending in a separator)."""
    text = os.fspath(value)
    path = Path(text)
    if path.is_dir() or text.endswith(os.sep):
        return out_folder(path, option) / default_name
    if path.exists() and not path.is_file():
        raise UserError(f"{option}: {path} exists and is not a regular file")
    _check_creatable(path, option)
    return path
