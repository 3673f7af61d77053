#!/usr/bin/env bash
# Reply latency of the llm agent, split by stage: N simulated calls against a server whose
# model is the OpenAI-compatible emulator with a fixed time to first token and token rate,
# and whose speech is the ElevenLabs emulator (WebSocket TTS, realtime STT) with a fixed
# time to first audio byte. Reports, per turn, the mean of each stage from the server's
# /metrics (end of speech -> endpoint -> transcript -> LLM first token -> first speakable
# piece -> TTS first byte -> first reply frame) against the sum of the injected delays, so
# what is left is the gateway's own share.
#
#   bench/llm_latency.sh [CALLS] [TTFT_MS] [TOKENS_PER_S] [TTS_TTFB_MS]   defaults: 10 300 50 150
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS=${1:-10}
TTFT=${2:-300}
TPS=${3:-50}
TTFB=${4:-150}
BIN=./build/voxbridge
work=$(mktemp -d)
trap 'kill $server $model $speech 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
wait_port() { for _ in $(seq 200); do [ -s "$1" ] && break; sleep 0.05; done; cat "$1"; }

printf '%s\n' "good morning" "please call me back" "you said good morning" "you said please call me back" \
  "hello and welcome please say something" > "$work/phrases.txt"
cat > "$work/rules.json" <<'JSON'
[{"match": "good morning", "text": "You said good morning. It is lovely to hear from you today."},
 {"match": "call me back", "text": "You said please call me back. I will make a note of it right away."}]
JSON
"$BIN" emulate openai --port 0 --port-file "$work/mport" --rules "$work/rules.json" --ttft-ms "$TTFT" \
  --tokens-per-second "$TPS" --log-level warn > "$work/model.log" 2>&1 &
model=$!
"$BIN" emulate elevenlabs --port 0 --port-file "$work/eport" --stt-grammar "$work/phrases.txt" --ttfb-ms "$TTFB" \
  --log-level warn > "$work/speech.log" 2>&1 &
speech=$!
mport=$(wait_port "$work/mport")
eport=$(wait_port "$work/eport")
ELEVENLABS_API_KEY=test-key ELEVENLABS_BASE_URL="http://127.0.0.1:$eport" \
  "$BIN" serve --port 0 --port-file "$work/port" --log-level warn --tts-cache false --agent llm \
  --llm-base-url "http://127.0.0.1:$mport/v1" --llm-model bench \
  --llm-first-message "Hello and welcome. Please say something." > "$work/server.log" 2>&1 &
server=$!
port=$(wait_port "$work/port")
"$BIN" sim caller --url "http://127.0.0.1:$port" --calls "$CALLS" --no-transcribe \
  --say "good morning" --say "please call me back" --json-out "$work/result.json" > /dev/null || true
curl -s "http://127.0.0.1:$port/metrics" > "$work/metrics.txt"
python3 - "$work/metrics.txt" "$work/result.json" "$CALLS" "$TTFT" "$TPS" "$TTFB" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
def mean_ms(stage):
    s = re.search(rf"^voxbridge_turn_{stage}_seconds_sum (\S+)$", text, re.M)
    c = re.search(rf"^voxbridge_turn_{stage}_seconds_count (\S+)$", text, re.M)
    if not s or not c or float(c.group(1)) == 0: return None, 0
    return float(s.group(1)) / float(c.group(1)) * 1000, int(float(c.group(1)))
calls, ttft, tps, ttfb = sys.argv[3], float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
result = json.load(open(sys.argv[2]))
print(f"calls={calls} ok={result['ok']} failed={result['failed']} turns={result['turns']}; injected: "
      f"time to first token {ttft:.0f} ms, {tps:.0f} tokens/s, TTS first byte {ttfb:.0f} ms")
rows = [("endpoint", "end of speech -> endpoint decided (silence window)"),
        ("transcript", "endpoint -> final transcript (STT)"),
        ("llm_first_token", "LLM request -> first token"),
        ("llm_first_piece", "first token -> first speakable piece"),
        ("agent", "transcript -> first piece handed to speech (all of the above LLM part)"),
        ("tts_first_byte", "piece -> first TTS audio byte"),
        ("gateway", "first audio byte -> first reply frame sent (the gateway's own share)"),
        ("response", "endpoint -> first reply frame sent")]
for stage, what in rows:
    m, n = mean_ms(stage)
    print(f"  {stage:16s} {('%.1f ms' % m) if m is not None else 'n/a':>10s}  n={n:<4d} {what}")
first_piece_tokens = 6  # "You said good morning." is about six streamed tokens
injected = ttft + (first_piece_tokens - 1) * 1000 / tps + ttfb
resp, _ = mean_ms("response")
tr, _ = mean_ms("transcript")
if resp is not None:
    print(f"injected delays on the reply path (first token + {first_piece_tokens - 1} token gaps + TTS first byte): "
          f"{injected:.0f} ms; response minus transcript minus injected: {resp - (tr or 0) - injected:.1f} ms")
PY
