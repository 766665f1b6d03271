"""Where the HDL tools are: Verilator built by scripts/verilator.sh (used in place from its cache
folder, VERILATOR_ROOT pointing at it) or one on PATH. Pure Python."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from golden.errors import UserError

TOOLS = Path(os.environ.get("EGRU_TOOLS", "/var/cache/egru-codesign"))


def _version_key(binary: Path) -> list[int]:
    """verilator-5.048/bin/verilator_bin -> [5, 48]."""
    return [int(x) for x in binary.parent.parent.name.removeprefix("verilator-").split(".") if x.isdigit()]


def verilator_root() -> Path:
    """The Verilator tree to use: $VERILATOR_ROOT, else the newest one scripts/verilator.sh built,
    else the one whose binary is on PATH."""
    if os.environ.get("VERILATOR_ROOT"):
        return Path(os.environ["VERILATOR_ROOT"])
    built = sorted(TOOLS.glob("verilator-*/bin/verilator_bin"), key=_version_key)
    if built:
        return built[-1].parent.parent
    found = shutil.which("verilator")
    if found:
        return Path(found).resolve().parent.parent
    raise UserError(f"verilator: not found; run `bash scripts/verilator.sh` (it builds Verilator into {TOOLS})")


def verilator_env() -> dict[str, str]:
    """os.environ with VERILATOR_ROOT set and its bin/ first on PATH."""
    root = verilator_root()
    return {**os.environ, "VERILATOR_ROOT": str(root), "PATH": f"{root / 'bin'}{os.pathsep}{os.environ['PATH']}"}
