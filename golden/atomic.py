"""Write files so that readers never see them half-written: a temporary file beside the target,
renamed over it only when complete (numpy-free and torch-free, shared by every package).

A temporary file's name carries the writer's process id, `.<stem>.<pid>.<random>.tmp<suffix>`. A
writer killed outright (SIGKILL, power loss) cannot remove its temporary file, so the next write of
the same target removes those whose process no longer runs.
"""

from __future__ import annotations

import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def left_by_dead_writers(folder: Path, pattern: str) -> list[Path]:
    """The entries of `folder` whose name matches `pattern` (a regular expression whose first group
    is a process id) and whose process no longer runs."""
    name = re.compile(pattern)
    found = []
    for candidate in folder.iterdir() if folder.is_dir() else ():
        match = name.fullmatch(candidate.name)
        if match and int(match.group(1)) != os.getpid() and not process_alive(int(match.group(1))):
            found.append(candidate)
    return found


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of `path` left by writers that no longer run; returns them."""
    path = Path(path)
    stale = left_by_dead_writers(path.parent, rf"\.{re.escape(path.stem)}\.(\d+)\.[^.]+\.tmp{re.escape(path.suffix)}")
    for candidate in stale:
        candidate.unlink(missing_ok=True)
    return stale


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder (same suffix, so tools that pick a format by
    extension still work); rename it to `path` when the block succeeds, delete it when it fails."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.{os.getpid()}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_text_if_changed(path: Path, text: str) -> None:
    """atomic_write_text, but an unchanged file keeps its modification time (so builds keyed on it,
    such as Verilator's, do not run again)."""
    if not path.is_file() or path.read_text() != text:
        atomic_write_text(path, text)
