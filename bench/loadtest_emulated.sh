#!/usr/bin/env bash
# The gateway under load, with the providers emulated: N simulated Twilio calls against a
# fresh server whose ElevenLabs is the local emulator. The emulator answers recognition
# with a fixed text and synthesizes each distinct reply once, so the machine's CPU goes to
# the gateway and the load generator, as in production where the providers run elsewhere;
# the provider latencies are injected (TTFB and STT delay) and subtracted from the
# gateway's overhead per turn.
#
#   bench/loadtest_emulated.sh [CALLS] [RAMP_S] [OUT_DIR]      defaults: 1000 25 ./loadtest-out
# Environment: TTFB_MS (100), STT_DELAY_MS (100), REALTIME_STT (false), TTS_TRANSPORT
# (websocket), LINES (6: how many lines each caller says), THREADS (server threads: 1, the
# best on 2 cores shared with the load generator; 0 = one per core),
# LOADGEN_THREADS (1), MAX_CALLS (the server's --max-calls, 5000), EXTRA_SERVE_ARGS, PIN (1: the server on CPU 0, the load generator and
# the emulator on CPU 1, so they never take the server's core), BIN (./build/voxbridge),
# PROFILE_S (record the server with `perf record -g` for this many seconds once the ramp is
# over, and summarize it into OUT_DIR/profile.txt; needs perf).
# Writes OUT_DIR/load.json and OUT_DIR/load.html (open it in a browser), the logs, and
# OUT_DIR/emulator.json (the ElevenLabs emulator's CPU over the load test).
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS=${1:-1000}
RAMP=${2:-25}
OUT=${3:-./loadtest-out}
TTFB_MS=${TTFB_MS:-100}
STT_DELAY_MS=${STT_DELAY_MS:-100}
LINES=${LINES:-6}
BIN=${BIN:-./build/voxbridge}
mkdir -p "$OUT"
work=$(mktemp -d)
server=""; emulator=""; loadgen=""
trap 'kill $server $emulator $loadgen 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
server_cpu=(); others_cpu=()
if [ "${PIN:-0}" = "1" ]; then server_cpu=(taskset -c 0); others_cpu=(taskset -c 1); fi

"${others_cpu[@]}" "$BIN" emulate elevenlabs --host 127.0.0.1 --port 0 --port-file "$work/eport" --log-level warn --threads 1 \
  --stt-fixed-text "good morning" --tts-cache-mb 64 > "$OUT/emulator.log" 2>&1 &
emulator=$!
for _ in $(seq 100); do [ -s "$work/eport" ] && break; sleep 0.1; done
eport=$(cat "$work/eport")
ELEVENLABS_API_KEY=test-key ELEVENLABS_BASE_URL="http://127.0.0.1:$eport" \
  ELEVENLABS_REALTIME_STT="${REALTIME_STT:-false}" ELEVENLABS_TTS_TRANSPORT="${TTS_TRANSPORT:-websocket}" \
  "${server_cpu[@]}" "$BIN" serve --host 127.0.0.1 --port 0 --port-file "$work/port" --log-level warn --tts-cache false \
  --threads "${THREADS:-1}" --max-calls "${MAX_CALLS:-5000}" --store "$work/calls.db" ${EXTRA_SERVE_ARGS:-} > "$OUT/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(cat "$work/port")
say=()
phrases=("good morning" "what time is it" "please call me back" "thank you very much" "i would like some coffee" "goodbye")
for i in $(seq 0 $((LINES - 1))); do say+=(--say "${phrases[$((i % ${#phrases[@]}))]}"); done
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
emu_before=$(cpu_ticks "$emulator"); t0=$(date +%s.%N)
"${others_cpu[@]}" "$BIN" loadtest --url "http://127.0.0.1:$port" --calls "$CALLS" --ramp-s "$RAMP" "${say[@]}" \
  --threads "${LOADGEN_THREADS:-1}" --server-pid "$server" \
  --elevenlabs-emulator "http://127.0.0.1:$eport" --ttfb-ms "$TTFB_MS" --stt-delay-ms "$STT_DELAY_MS" \
  --json "$OUT/load.json" --html "$OUT/load.html" > /dev/null &
loadgen=$!
if [ -n "${PROFILE_S:-}" ]; then
  # The calls are all up once the ramp is over: sample the server from then on.
  sleep "$RAMP"
  perf record -g -o "$OUT/perf.data" -p "$server" -- sleep "$PROFILE_S" > "$OUT/perf.log" 2>&1
fi
wait "$loadgen"
emu_after=$(cpu_ticks "$emulator"); t1=$(date +%s.%N)
python3 - "$emu_before" "$emu_after" "$t0" "$t1" "$(getconf CLK_TCK)" > "$OUT/emulator.json" <<'PY'
import json, sys
before, after, t0, t1, hz = (float(x) for x in sys.argv[1:])
cpu = (after - before) / hz
print(json.dumps({"emulator_cpu_s": round(cpu, 2), "emulator_cpu_pct": round(100 * cpu / (t1 - t0), 1)}))
PY
cat "$OUT/emulator.json"
if [ -n "${PROFILE_S:-}" ]; then
  bench/profile_summary.sh "$OUT/perf.data" > "$OUT/profile.txt"
  head -n 12 "$OUT/profile.txt"
fi
