#!/usr/bin/env bash
# Installs what is missing, builds voxbridge, and runs `voxbridge serve` with the
# embedded speech engines (no accounts needed). Extra arguments go to `serve`,
# e.g. scripts/serve.sh --port 9000 --agent script --script lines.txt
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_BASEDIR="$PWD"
bash scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build -j"$(nproc)" voxbridge
exec ./build/voxbridge serve "$@"
