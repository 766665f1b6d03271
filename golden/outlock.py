"""One writer per output folder: a command that writes into a folder (a sweep, a training run, a
synthesis sweep, a board build) holds an exclusive lock on `<folder>/.lock` while it runs, so a second
command given the same folder is refused at once, naming the process that holds it, instead of the two
deleting each other's partial work.

The lock is the kernel's (`flock`), not the file's existence: it goes away with its process however
that process ends, so a killed run never leaves a stale lock behind; the file only records the owner
(pid, command, start time) for the message. Python's standard library has exactly this primitive; the
`filelock` package wraps the same call but would not let us record and report the owner.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from golden.errors import UserError

LOCK_NAME = ".lock"


class FolderInUse(UserError):
    """Another running process writes into this output folder."""


def _program() -> str:
    """`python -m costmodel` rather than .../costmodel/__main__.py."""
    path = Path(sys.argv[0])
    return f"python -m {path.parent.name}" if path.name == "__main__.py" else path.name


@contextmanager
def locked_folder(folder: str | os.PathLike, option: str = "--out") -> Iterator[Path]:
    """Create `folder` if needed and hold its lock for the block; FolderInUse if another process has it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "another process"
            raise FolderInUse(
                f"{option}: {folder} is in use by {owner}; wait for it to finish or choose another folder"
            ) from None
        command = " ".join([_program(), *sys.argv[1:]])[:300]
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} ({command}, since {time.strftime('%Y-%m-%d %H:%M:%S')})\n".encode(), 0)
        try:
            yield folder
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the lock
