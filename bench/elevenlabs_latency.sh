#!/usr/bin/env bash
# Gateway latency on the ElevenLabs reply path: N concurrent simulated calls against a
# server whose ElevenLabs base URL is the local emulator. For every reply it joins the
# emulator's record of when it sent the first audio of a TTS context with the server's
# "reply started" line (same context id) and reports
#   provider -> caller: emulator first audio byte sent -> first media frame written to the caller
#   inside gateway:     first audio bytes handed to the gateway -> first media frame written
# Both processes stamp CLOCK_MONOTONIC microseconds, so the numbers are comparable.
#
#   bench/elevenlabs_latency.sh [CALLS] [TRANSPORT] [CACHE]   defaults: 50 websocket false
# With CACHE=true the repeated replies come from the TTS cache; their first-frame time
# is reported separately.
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS=${1:-50}
TRANSPORT=${2:-websocket}
CACHE=${3:-false}
BIN=./build/voxbridge
work=$(mktemp -d)
trap 'kill $server $emulator 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT

printf '%s\n' "good morning" "please call me back" "you said good morning" "you said please call me back" \
  "hello and welcome please say something" > "$work/phrases.txt"
"$BIN" emulate elevenlabs --host 127.0.0.1 --port 0 --port-file "$work/eport" --log-level warn \
  --stt-grammar "$work/phrases.txt" --threads 1 > "$work/emulator.log" 2>&1 &
emulator=$!
for _ in $(seq 100); do [ -s "$work/eport" ] && break; sleep 0.1; done
eport=$(cat "$work/eport")
ELEVENLABS_API_KEY=test-key ELEVENLABS_BASE_URL="http://127.0.0.1:$eport" ELEVENLABS_TTS_TRANSPORT="$TRANSPORT" \
  "$BIN" serve --host 127.0.0.1 --port 0 --port-file "$work/port" --log-level info --tts-cache "$CACHE" \
  --greeting "Hello and welcome. Please say something." > "$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(cat "$work/port")
"$BIN" sim caller --url "http://127.0.0.1:$port" --calls "$CALLS" --no-transcribe \
  --say "good morning" --say "please call me back" --json-out "$work/result.json" > /dev/null || true  # failures are reported below
curl -s "http://127.0.0.1:$eport/emulator/first-audio" > "$work/first_audio.json"
python3 - "$work/first_audio.json" "$work/server.log" "$work/result.json" "$CALLS" "$TRANSPORT" <<'PY'
import json, re, sys
fa = {r["id"]: r for r in json.load(open(sys.argv[1]))}
result = json.load(open(sys.argv[3]))
e2e, inside, cached = [], [], []
for line in open(sys.argv[2]):
    m = re.search(r"reply started .* tts_request=(\S*) gateway_us=(-?\d+) first_byte_us=(-?\d+) first_frame_us=(-?\d+)", line)
    if not m: continue
    rid, gw, fb, ff = m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4))
    if rid == "cache":
        cached.append(gw); continue
    inside.append(gw)
    if rid in fa: e2e.append(ff - fa[rid]["first_audio_us"])
def pct(v, p):
    v = sorted(v); return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]
def show(name, v):
    if not v: print(f"{name}: no samples"); return
    print(f"{name}: n={len(v)} p50={pct(v,50)/1000:.2f} ms p90={pct(v,90)/1000:.2f} ms p99={pct(v,99)/1000:.2f} ms max={max(v)/1000:.2f} ms")
print(f"calls={sys.argv[4]} transport={sys.argv[5]} ok={result['ok']} failed={result['failed']} turns={result['turns']}")
show("provider first byte -> caller first frame", e2e)
show("inside gateway (bytes in -> frame out)", inside)
if cached: show("cached reply (cache hit -> first frame out)", cached)
lat = result["reply_latency_ms"]
print(f"caller reply latency (incl. 600 ms silence window + STT + TTS): p50={lat['p50']:.0f} p99={lat['p99']:.0f} ms")
PY
