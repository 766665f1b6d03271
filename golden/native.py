"""The compiled part of the golden model (golden/csrc), built on first use by torch's extension
loader with the machine's C++ compiler and ninja, and cached until its source or flags change (in
$TORCH_EXTENSIONS_DIR, by default ~/.cache/torch_extensions)."""

from __future__ import annotations

import os
import shutil
import sys
import time
import warnings
from functools import cache
from pathlib import Path
from types import ModuleType

import torch

CSRC = Path(__file__).parent / "csrc"
# -march=native: the build is cached per machine; -fopenmp: at::parallel_for is inline OpenMP
FLAGS = ["-O3", "-march=native", "-fopenmp"]
STALE_LOCK_SECONDS = 600  # a build takes well under a minute; an older lock was left by a killed one


def build_directory(name: str) -> Path:
    """Where `name` is built: one folder per Python and torch version."""
    root = Path(os.environ.get("TORCH_EXTENSIONS_DIR", Path.home() / ".cache" / "torch_extensions"))
    tag = f"py{sys.version_info.major}{sys.version_info.minor}_torch{torch.__version__.split('+')[0]}"
    return root / tag / name


def clear_stale_lock(lock: Path) -> bool:
    """Remove torch's build lock if it is older than any build: torch waits for the lock to go
    away, forever if the process that made it was killed mid-build. Returns whether it was removed."""
    if not lock.exists() or time.time() - lock.stat().st_mtime <= STALE_LOCK_SECONDS:
        return False
    warnings.warn(f"removing a build lock left by an interrupted build: {lock}", stacklevel=2)
    lock.unlink(missing_ok=True)
    return True


@cache
def sparse_walk() -> ModuleType:
    """golden/csrc/sparse_walk.cpp: the sparse influence engine's window walk."""
    from torch.utils.cpp_extension import load

    if shutil.which("ninja") is None:  # the ninja wheel's binary sits beside this interpreter
        os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    folder = build_directory("golden_sparse_walk")
    folder.mkdir(parents=True, exist_ok=True)
    clear_stale_lock(folder / "lock")
    return load(
        name="golden_sparse_walk",
        sources=[str(CSRC / "sparse_walk.cpp")],
        extra_cflags=FLAGS,
        extra_ldflags=["-fopenmp"],
        build_directory=str(folder),
    )
