#!/usr/bin/env bash
# Regenerate results/calibration (cycles per step measured by the cocotb testbenches on Icarus and
# Verilator, no backpressure, spiral-trained trace, L = 4) and its plot docs/calibration.png.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
bash "$root/scripts/verilator.sh"
cd "$root"
trace=tests/data/spiral_egru_n8_w0.5.npz
for block in router accumulate influence; do
    for sim in icarus verilator; do
        .venv/bin/python -m sim run --block "$block" --sim "$sim" --trace "$trace" --lanes 4 \
            --out "out/sim/calibration-$block-$sim.json" --calibration results/calibration
    done
done
exec .venv/bin/python -m costmodel calibration results/calibration --out docs/calibration.png
