#!/usr/bin/env bash
# Set everything up (idempotent) and run the main job: the cost model's default design-space sweep
# (sweeps/default.yaml) into out/sweeps/default. Extra arguments go to `python -m costmodel sweep`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
cd "$root"
exec .venv/bin/python -m costmodel sweep "$@"
