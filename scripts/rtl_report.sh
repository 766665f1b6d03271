#!/usr/bin/env bash
# Regenerate results/rtl/blocks.{json,md}: six seeded n = 16 traces (EGRU and threshold RNN at
# omega 0 / 0.8, epsilon 1.0 / 0.1) plus the committed spiral-trained trace, replayed through the three
# RTL blocks in Amaranth's simulator at L = 4 and 8 (about 12 minutes on 2 cores).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
cd "$root"
mkdir -p out/traces
traces=()
for spec in "egru 0.0 1.0" "egru 0.8 1.0" "egru 0.0 0.1" "egru 0.8 0.1" "trnn 0.0 1.0" "trnn 0.8 1.0"; do
    set -- $spec
    path="out/traces/$1_n16_w$2_e$3.npz"
    .venv/bin/python -m golden trace --cell "$1" --n 16 --n-in 2 --omega "$2" --epsilon "$3" \
        --steps 10 --batch 2 --seed 1 --out "$path"
    traces+=("$path")
done
exec .venv/bin/python -m sim blocks "${traces[@]}" tests/data/spiral_egru_n8_w0.5.npz --lanes 4 8 --out results/rtl
