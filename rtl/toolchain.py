"""Where the HDL tools are: Verilator built by scripts/verilator.sh (used in place from its cache
folder, VERILATOR_ROOT pointing at it) or one on PATH. Pure Python."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

from golden.errors import UserError

TOOLS = Path(os.environ.get("EGRU_TOOLS", "/var/cache/egru-codesign"))
MINIMUM_VERILATOR = (5, 36)  # cocotb 2.x builds its harness with nothing older (as scripts/verilator.sh says)


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
    """os.environ with VERILATOR_ROOT set and its bin/ first on PATH (a Verilator new enough)."""
    root = check_verilator()
    return {**os.environ, "VERILATOR_ROOT": str(root), "PATH": f"{root / 'bin'}{os.pathsep}{os.environ['PATH']}"}


@cache
def verilator_version(root: Path) -> tuple[int, int] | None:
    """(major, minor) that `<root>/bin/verilator --version` reports, None if it does not run."""
    try:
        result = subprocess.run(
            [str(root / "bin" / "verilator"), "--version"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "VERILATOR_ROOT": str(root)},
        )
    except OSError:
        return None
    match = re.search(r"Verilator (\d+)\.(\d+)", result.stdout)
    return (int(match.group(1)), int(match.group(2))) if match else None


def check_verilator() -> Path:
    """The Verilator tree to use, refused with the way to get a good one if it is older than
    MINIMUM_VERILATOR (e.g. Debian bookworm's 5.006 on PATH) or does not run."""
    root = verilator_root()
    version = verilator_version(root)
    need = ".".join(f"{v:03d}" if i else str(v) for i, v in enumerate(MINIMUM_VERILATOR))
    if version is None or version < MINIMUM_VERILATOR:
        found = "does not run" if version is None else f"is version {version[0]}.{version[1]:03d}"
        raise UserError(
            f"verilator: {root / 'bin' / 'verilator'} {found}; this project needs Verilator >= {need}, which "
            f"`bash scripts/verilator.sh` builds from Debian's source package into {TOOLS} (set EGRU_TOOLS to "
            "put it elsewhere); the tools use that build in place of any on PATH"
        )
    return root
