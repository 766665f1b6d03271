#!/usr/bin/env bash
# Set everything up (idempotent) and run the main job. Until the cost model lands this is the golden
# model's demonstration: BPTT vs dense vs sparse RTRL on one random EGRU sequence. Extra arguments go to it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
cd "$root"
exec .venv/bin/python -m golden demo "$@"
