#!/usr/bin/env bash
# Browser-to-agent reply latency of the softphone, per transport (WebSocket PCM16 and
# WebRTC Opus): RUNS calls each with the echo agent in headless Chromium, the page's own
# measure (end of its speech -> reply audible) and the server's stage split.
#   bench/browser_latency.sh [RUNS] [TRANSPORTS]     e.g. bench/browser_latency.sh 5 ws,webrtc
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d tests/web/node_modules ] || npm ci --prefix tests/web --no-audit --no-fund --loglevel=error
VOX_BINARY="${VOX_BINARY:-$PWD/build/voxbridge}" exec node tests/web/latency.mjs "${1:-5}" "${2:-ws,webrtc}"
