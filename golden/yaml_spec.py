"""YAML specifications validated with pydantic: one loader for every spec kind (the cost model's
sweeps, golden's widths sweeps), whose errors name the file, the key path and the value."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from golden.errors import UserError

Model = TypeVar("Model", bound=BaseModel)


def key_path(loc: tuple[Any, ...], skip: frozenset[str] = frozenset()) -> str:
    """pydantic's error location as a key path (a.b[2].c); `skip` drops the union members' class
    names pydantic puts in it."""
    parts = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item not in skip:
            parts.append(f".{item}" if parts else str(item))
    return "".join(parts) or "(top level)"


def validate_document(model: type[Model], data: Any, source: str, skip: frozenset[str] = frozenset()) -> Model:
    """Validate a loaded YAML document; raises UserError naming the key path and the value."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = min(exc.errors(), key=lambda e: len(e["loc"]))  # the shallowest: usually the real cause
        msg = first["msg"].removeprefix("Value error, ")
        if not first["loc"]:  # a check of the whole spec: its message names the key itself
            raise UserError(f"{source}: {msg}") from None
        value = first.get("input")
        shown = repr(value) if not isinstance(value, dict) or len(repr(value)) < 80 else "{...}"
        raise UserError(f"{source}: {key_path(first['loc'], skip)}: {msg} (got {shown})") from None


def read_yaml(path: str | Path) -> Any:
    """The document of a YAML file; a missing file, a folder or bad YAML is a UserError."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"spec {path}: no such file")
    if not path.is_file():
        raise UserError(f"spec {path}: not a regular file (a folder or a device); expected a YAML file")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise UserError(f"spec {path}: not valid YAML ({str(exc).splitlines()[0]})") from None
