#!/usr/bin/env bash
# Idempotent install of the HDL tools the RTL lint and the co-simulation need:
#   - Icarus Verilog from Debian bookworm (apt), and
#   - Verilator >= 5.036 built from Debian sid's *source* package (bookworm's 5.006 is too old for
#     cocotb 2.x; binaries from a newer suite would pull a newer libc, so only the source is taken).
# The Verilator tree lives in a cache folder outside the repository and is used in place:
#   VERILATOR_ROOT=$EGRU_TOOLS/verilator-<version>, PATH=$VERILATOR_ROOT/bin:$PATH
# `scripts/env.sh` sets that up. A second run finds the built binary and does nothing.
set -euo pipefail
tools="${EGRU_TOOLS:-/var/cache/egru-codesign}"
mkdir -p "$tools"

have_pkgs() {
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || return 1
    done
}

build_deps=(iverilog dpkg-dev g++ make autoconf bison flex libfl-dev help2man zlib1g-dev perl python3)
if ! have_pkgs "${build_deps[@]}"; then
    echo "verilator.sh: installing Debian packages: ${build_deps[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${build_deps[@]}" >/dev/null
fi

minimum=5.036  # cocotb 2.x builds its harness with nothing older
version_ok() {  # "Verilator 5.048 2026-04-26 ..." -> is 5.048 >= minimum?
    local v
    v="$("$1" --version 2>/dev/null | awk '{print $2}')" || return 1
    [ -n "$v" ] && [ "$(printf '%s\n%s\n' "$minimum" "$v" | sort -V | head -n1)" = "$minimum" ]
}
existing="$(ls -d "$tools"/verilator-*/bin/verilator_bin 2>/dev/null | sort -V | tail -n1 || true)"
if [ -n "$existing" ] && version_ok "$existing"; then
    exit 0
fi

echo "verilator.sh: building Verilator from Debian sid's source package (once, about 6 minutes)" >&2
src_list=/etc/apt/sources.list.d/egru-sid-src.sources
if [ ! -f "$src_list" ]; then
    cat > "$src_list" <<'EOF'
# Source packages only (no binaries): scripts/verilator.sh builds Verilator from sid's source.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    apt-get update -qq
fi
work="$tools/src"
rm -rf "$work" && mkdir -p "$work"
(cd "$work" && apt-get source -qq --download-only verilator >/dev/null && dpkg-source -x --no-check ./*.dsc tree >/dev/null)
version="$(cd "$work/tree" && dpkg-parsechangelog -S Version | cut -d- -f1)"
dest="$tools/verilator-$version"
rm -rf "$dest" && mv "$work/tree" "$dest" && rm -rf "$work"
cd "$dest"
autoconf
./configure --quiet
make -C src opt -j"$(nproc)" >/dev/null
version_ok "$dest/bin/verilator_bin" || { echo "verilator.sh: built $("$dest/bin/verilator_bin" --version), need >= $minimum" >&2; exit 1; }
"$dest/bin/verilator_bin" --version
