"""The compiled part of the golden model (golden/csrc), built on first use by torch's extension
loader with the machine's C++ compiler and ninja.

Builds are shared by every checkout on the machine and keyed by what makes them: the source's bytes,
the flags, Python's and torch's versions. A build happens in a folder of its own process
(`.<key>.<pid>.build`) and is published by renaming that folder to `<key>`, so a library another
process has loaded is never rebuilt in place, two processes building at once cannot corrupt each
other (the first rename wins; the loser loads the winner's library), and a second checkout with the
same source loads the published library at once. Folders of builds whose process was killed are
removed by the next build. Root: $TORCH_EXTENSIONS_DIR, by default ~/.cache/torch_extensions.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

import torch

from golden.atomic import left_by_dead_writers

CSRC = Path(__file__).parent / "csrc"
# -march=native: the build is cached per machine; -fopenmp: at::parallel_for is inline OpenMP
FLAGS = ("-O3", "-march=native", "-fopenmp")
LDFLAGS = ("-fopenmp",)


def extensions_root() -> Path:
    return Path(os.environ.get("TORCH_EXTENSIONS_DIR", Path.home() / ".cache" / "torch_extensions"))


def build_key(name: str, source: Path) -> str:
    """`<name>-<hash>`: the hash of the source, the flags and the Python and torch versions."""
    digest = hashlib.sha256(source.read_bytes())
    digest.update(repr((FLAGS, LDFLAGS, sys.version_info[:2], torch.__version__)).encode())
    return f"{name}-{digest.hexdigest()[:16]}"


def _library(folder: Path, name: str) -> Path | None:
    found = sorted(folder.glob(f"{name}*.so"))
    return found[0] if found else None


def _import(name: str, library: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, library)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def remove_dead_builds(root: Path, key: str) -> list[Path]:
    """Delete the build folders of `key` left by processes that no longer run; returns them."""
    dead = left_by_dead_writers(root, rf"\.{re.escape(key)}\.(\d+)\.build")
    for folder in dead:
        shutil.rmtree(folder, ignore_errors=True)
    return dead


def load_extension(name: str, source: Path) -> ModuleType:
    """The compiled extension `name` from one C++ source: the published build if there is one,
    else build it in a private folder and publish it (see the module docstring)."""
    root = extensions_root()
    root.mkdir(parents=True, exist_ok=True)
    key = build_key(name, source)
    published = root / key
    library = _library(published, name) if published.is_dir() else None
    if library is not None:
        return _import(name, library)
    from torch.utils.cpp_extension import load

    if shutil.which("ninja") is None:  # the ninja wheel's binary sits beside this interpreter
        os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    remove_dead_builds(root, key)
    private = root / f".{key}.{os.getpid()}.build"
    shutil.rmtree(private, ignore_errors=True)
    private.mkdir()
    try:
        module = load(
            name=name,
            sources=[str(source)],
            extra_cflags=list(FLAGS),  # torch appends to the lists it is given
            extra_ldflags=list(LDFLAGS),
            build_directory=str(private),
        )
        try:
            private.rename(published)  # atomic; fails if another process published first
        except OSError:
            shutil.rmtree(private, ignore_errors=True)  # our loaded copy stays mapped; theirs is the same
    except BaseException:
        shutil.rmtree(private, ignore_errors=True)
        raise
    return module


@cache
def sparse_walk() -> ModuleType:
    """golden/csrc/sparse_walk.cpp: the sparse influence engine's window walk."""
    return load_extension("golden_sparse_walk", CSRC / "sparse_walk.cpp")


@cache
def gated_bptt() -> ModuleType:
    """golden/csrc/gated_bptt.cpp: the gated cells' dense forward pass and BPTT backward pass."""
    return load_extension("golden_gated_bptt", CSRC / "gated_bptt.cpp")
