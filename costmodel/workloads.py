"""Named workloads with the sizes and sparsities the EGRU paper reports (data/workloads.yaml)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from costmodel.errors import UserError

FILE = Path(__file__).parent / "data" / "workloads.yaml"


@lru_cache(maxsize=1)
def workloads() -> dict[str, dict[str, Any]]:
    return yaml.safe_load(FILE.read_text())


def workload(name: str) -> dict[str, Any]:
    table = workloads()
    if name not in table:
        raise UserError(f"--workload: unknown workload {name!r}; expected one of {', '.join(table)}")
    return table[name]
