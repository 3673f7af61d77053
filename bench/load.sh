#!/usr/bin/env bash
# Load benchmark: N simulated calls at once against a fresh server on loopback.
# Reports the caller-side reply latency percentiles (last speech frame sent → first
# reply frame received) and the server's CPU time and peak memory.
#
#   bench/load.sh [CALLS] [STT_MODE]      defaults: 200 grammar
# Needs a release build in ./build (scripts/serve.sh or scripts/test.sh makes one).
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS=${1:-200}
MODE=${2:-grammar}
BIN=./build/voxbridge
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT

printf '%s\n' "good morning" "please call me back" "i would like some coffee" "thank you very much" > "$work/phrases.txt"
"$BIN" serve --host 127.0.0.1 --port 0 --port-file "$work/port" --log-level warn \
  --stt-mode "$MODE" --stt-grammar "$work/phrases.txt" --tts-voice en-us+Alex \
  --greeting "Hello and welcome. Please say something." > "$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(cat "$work/port")
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$server/stat"; }
before=$(cpu); t0=$(date +%s.%N)
"$BIN" sim caller --url "http://127.0.0.1:$port" --calls "$CALLS" --no-transcribe \
  --say "good morning" --say "please call me back" --json-out "$work/result.json" > /dev/null
t1=$(date +%s.%N); after=$(cpu)
rss=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
python3 - "$work/result.json" "$CALLS" "$before" "$after" "$ticks" "$t0" "$t1" "$rss" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
calls, before, after, ticks, t0, t1, rss = int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7]), int(sys.argv[8])
cpu_s = (after - before) / ticks
wall = t1 - t0
lat = r["reply_latency_ms"]
print(f"calls={calls} ok={r['ok']} failed={r['failed']} turns={r['turns']} wall={wall:.1f}s")
print(f"reply latency ms: p50={lat['p50']:.0f} p90={lat['p90']:.0f} p99={lat['p99']:.0f} max={lat['max']:.0f} (n={lat['count']})")
print(f"server cpu: {cpu_s:.1f} s over {wall:.1f} s = {100*cpu_s/wall:.0f}% of one core; {1000*cpu_s/calls:.0f} ms cpu per call; peak rss {rss/1024:.0f} MiB")
PY
