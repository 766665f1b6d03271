#!/usr/bin/env bash
# Set everything up (idempotent: Python packages, Icarus, Verilator), lint, and run every test on both cores. Extra arguments go to pytest.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh" || exit 1
bash "$root/scripts/verilator.sh" || exit 1  # Icarus and Verilator for the RTL lint and co-simulation
cd "$root"
.venv/bin/ruff check golden costmodel rtl sim tests || exit 1
.venv/bin/python -m pytest -n 2 "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
    echo "test.sh: pytest collected no tests; that is a failure here" >&2
    exit 1
fi
exit "$rc"
