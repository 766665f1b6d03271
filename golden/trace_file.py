"""Reading a trace file (DESIGN.md contract 1) with numpy alone: the one place that opens an
`egru-trace` .npz, so the golden model and the RTL side (which does not import torch) refuse the
same bad files with the same messages. Checked here: the file is a readable .npz (not truncated, not
another format), `meta` is JSON naming format "egru-trace" and version 1, every array is numeric and
finite, and every mask holds 0 and 1 alone. `golden.trace.load_trace` adds the cell's names and
shapes."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from golden.errors import UserError

FORMAT = "egru-trace"
VERSION = 1


class TraceError(UserError):
    """A file that is not a readable trace of a supported version."""


def read_trace_file(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(meta, arrays) of a trace file; every problem raises TraceError naming the file and the entry."""
    path = Path(path)
    if not path.is_file():
        raise TraceError(f"trace {path}: no such file")
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise TraceError(f"trace {path}: a single .npy array, not an .npz trace")
        with data:
            arrays = {k: data[k] for k in data.files}
    except TraceError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, zipfile.LargeZipFile) as exc:
        raise TraceError(f"trace {path}: not a readable .npz file ({exc.__class__.__name__}: {exc})") from None
    if "meta" not in arrays:
        raise TraceError(f"trace {path}: no 'meta' entry, so not an {FORMAT} file")
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except json.JSONDecodeError as exc:
        raise TraceError(f"trace {path}: 'meta' is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else meta
        raise TraceError(f"trace {path}: format {got!r}, expected {FORMAT!r}")
    version = meta.get("version")
    if not isinstance(version, int) or version != VERSION:
        raise TraceError(f"trace {path}: version {version!r} is not supported; this reader reads version {VERSION}")
    for name, array in arrays.items():
        if array.dtype.kind not in "biuf":
            raise TraceError(f"trace {path}: entry {name!r} has dtype {array.dtype}; expected numbers")
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            bad = int((~np.isfinite(array)).sum())
            raise TraceError(f"trace {path}: entry {name!r} has {bad} NaN or infinite values; expected finite")
        if name.startswith("mask_") and not np.isin(array, (0, 1)).all():
            values = np.unique(array)[:6].tolist()
            raise TraceError(f"trace {path}: entry {name!r} holds {values}; expected only 0 (masked) and 1 (kept)")
    return meta, arrays
