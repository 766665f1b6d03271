#!/usr/bin/env bash
# Idempotent set-up of everything the project needs on a fresh machine of this kind:
# a virtualenv in .venv, torch 2.13.0 (the CPU build on the machine's disk; installed first so
# that nothing pulls a CUDA build), then this package with its dev extra.
# A second run with an unchanged pyproject.toml does nothing but check g++, Python.h and a stamp file.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
stamp="$venv/.setup-stamp"
want="$(sha256sum "$root/pyproject.toml" | cut -d' ' -f1)"

# golden/csrc is compiled on first use by torch's extension loader: it needs g++ and the headers
# of the Python that makes the virtualenv (Debian's python3 has them in python3-dev)
if ! command -v g++ >/dev/null; then
    echo "setup: installing g++ (Debian)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ >/dev/null
fi
if [ ! -f "$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h" ]; then
    echo "setup: installing python3-dev (Debian)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-dev >/dev/null
fi

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
