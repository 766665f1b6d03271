"""Checkpoints: a cell's configuration, parameters and masks (plus anything a trainer adds)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from golden.atomic import atomic_path
from golden.config import CellConfig
from golden.errors import UserError
from golden.params import CellParams

FORMAT = "egru-checkpoint"
VERSION = 1


def save_checkpoint(path: str | os.PathLike, params: CellParams, extra: dict[str, Any] | None = None) -> None:
    """Write {format, version, config, params, masks, extra} atomically (temporary file, rename)."""
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": params.config.to_dict(),
        "params": {k: v.detach().clone() for k, v in params.tensors.items()},
        "masks": dict(params.masks),
        "extra": extra or {},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def read_torch_file(path: str | os.PathLike, label: str, kind: str) -> Any:
    """torch.load of tensors only (weights_only); a missing, damaged or foreign file is a UserError
    "LABEL: no such file" / "LABEL: not a readable KIND (error)"."""
    if not Path(path).is_file():
        raise UserError(f"{label}: no such file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged or foreign file
        raise UserError(f"{label}: not a readable {kind} ({exc.__class__.__name__})") from None


def load_checkpoint(path: str | os.PathLike) -> tuple[CellParams, dict[str, Any]]:
    """Read a checkpoint written by save_checkpoint; returns the parameters and the extra dict."""
    path = Path(path)
    payload = read_torch_file(path, f"checkpoint {path}", "checkpoint")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UserError(f"checkpoint {path}: not an {FORMAT} file")
    if payload.get("version") != VERSION:
        raise UserError(f"checkpoint {path}: version {payload.get('version')!r} is not supported (expected {VERSION})")
    missing = [k for k in ("config", "params", "masks") if k not in payload]
    if missing:
        raise UserError(f"checkpoint {path}: no {', '.join(missing)} entry; expected config, params and masks")
    for key, kind in (("config", dict), ("params", dict), ("masks", dict), ("extra", dict)):
        if key in payload and not isinstance(payload[key], kind):
            raise UserError(f"checkpoint {path}: {key} is a {type(payload[key]).__name__}; expected a mapping")
    try:
        config = CellConfig.from_dict(payload["config"])
        params = CellParams(config, payload["params"], payload["masks"])
    except (UserError, TypeError) as exc:
        raise UserError(f"checkpoint {path}: {exc}") from None
    return params, payload.get("extra", {})
