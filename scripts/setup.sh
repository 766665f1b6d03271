#!/usr/bin/env bash
# Idempotent set-up of everything the project needs on a fresh machine of this kind:
# a virtualenv in .venv, torch 2.13.0 (the CPU build on the machine's disk; installed first so
# that nothing pulls a CUDA build), then this package with its dev extra.
# A second run with an unchanged pyproject.toml does nothing but check a stamp file.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
stamp="$venv/.setup-stamp"
want="$(sha256sum "$root/pyproject.toml" | cut -d' ' -f1)"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$venv/bin/python" -c "import golden, torch" 2>/dev/null; then
    exit 0
fi

echo "setup: creating the virtualenv and installing packages (once; later runs skip this)" >&2
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
pip="$venv/bin/python -m pip --quiet"
$pip install --upgrade pip >/dev/null
"$venv/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null \
    || $pip install "torch==2.13.0"
$pip install -e "$root[dev]"
echo "$want" > "$stamp"
