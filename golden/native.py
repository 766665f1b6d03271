"""The compiled part of the golden model (golden/csrc), built on first use by torch's extension
loader with the machine's C++ compiler and ninja, and cached by torch (~/.cache/torch_extensions,
or $TORCH_EXTENSIONS_DIR) until its source changes."""

from __future__ import annotations

import os
import shutil
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

CSRC = Path(__file__).parent / "csrc"


@cache
def sparse_walk() -> ModuleType:
    """golden/csrc/sparse_walk.cpp: the sparse influence engine's window walk."""
    from torch.utils.cpp_extension import load

    if shutil.which("ninja") is None:  # the ninja wheel's binary sits beside this interpreter
        os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return load(name="golden_sparse_walk", sources=[str(CSRC / "sparse_walk.cpp")], extra_cflags=["-O3", "-march=native", "-fopenmp"], extra_ldflags=["-fopenmp"])
