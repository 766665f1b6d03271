#!/usr/bin/env bash
# Regenerate the README's synthesis table, results/synth/<block>_n16_L<lanes>_<device>.json: every
# block at n = 16 on the iCE40 UP5K and the ECP5-85K (L = 4, the influence update's P = 928), and the
# influence update at L = 1 on the UP5K, where its M banks fit the SPRAM (about 20 minutes).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
cd "$root"
for device in ice40-up5k ecp5-85k; do
    for block in router accumulate influence; do
        .venv/bin/python -m rtl synth --block "$block" --n 16 --lanes 4 --device "$device" \
            --out "results/synth/${block}_n16_L4_${device}.json"
    done
done
.venv/bin/python -m rtl synth --block influence --n 16 --lanes 1 --device ice40-up5k \
    --out results/synth/influence_n16_L1_ice40-up5k.json
