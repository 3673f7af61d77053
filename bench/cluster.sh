#!/usr/bin/env bash
# What running several instances as one costs, measured on this machine with real
# redis-server and HAProxy (scripts/setup.sh installs them) and the providers emulated:
#   1. a forwarded control action: GET /calls/{sid} and POST /calls/{sid}/stop sent
#      SAMPLES times to the instance that holds the call (A) and to another one (B, which
#      asks Redis where the call is and forwards the request to A): p50/p99/max of each;
#      and GET /live-calls (the console's table), which either instance gathers from both;
#   2. `voxbridge loadtest` with CALLS calls through HAProxy (deploy/haproxy.cfg,
#      round-robin over A and B, both with Redis), against the same load on one instance
#      alone without Redis.
#
#   bench/cluster.sh [CALLS] [RAMP_S] [OUT_DIR]      defaults: 300 30 ./cluster-out
# Environment: SAMPLES (500), LINES (4), TTFB_MS (100), STT_DELAY_MS (100),
# BIN (./build/voxbridge). Writes OUT_DIR/forward.json, one.json, two.json and the logs,
# and prints a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS=${1:-300}
RAMP=${2:-30}
OUT=${3:-./cluster-out}
SAMPLES=${SAMPLES:-500}
LINES=${LINES:-4}
BIN=${BIN:-./build/voxbridge}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_file() { for _ in $(seq 200); do [ -s "$1" ] && return 0; sleep 0.05; done; echo "timed out waiting for $1" >&2; exit 1; }

rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" > "$OUT/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do redis-cli -p "$rport" ping 2>/dev/null | grep -q PONG && break; sleep 0.05; done

"$BIN" emulate elevenlabs --host 127.0.0.1 --port 0 --port-file "$work/eport" --log-level warn --threads 1 \
  --stt-fixed-text "good morning" --tts-cache-mb 64 > "$OUT/emulator.log" 2>&1 &
pids+=($!)
wait_file "$work/eport"
eport=$(cat "$work/eport")

# serve NAME [extra args...]: an instance; its port goes to $work/NAME.port.
serve() {
  local name=$1; shift
  ELEVENLABS_API_KEY=test-key ELEVENLABS_BASE_URL="http://127.0.0.1:$eport" \
    "$BIN" serve --host 127.0.0.1 --port 0 --port-file "$work/$name.port" --log-level warn --tts-cache false \
    --max-calls 5000 --shed-lag-ms 0 --relaxed-call-sids --store "$work/$name.db" "$@" > "$OUT/$name.log" 2>&1 &
  pids+=($!)
  wait_file "$work/$name.port"
}
cluster=(--redis-url "redis://127.0.0.1:$rport/0")
serve a "${cluster[@]}" --instance-id a
serve b "${cluster[@]}" --instance-id b
pa=$(cat "$work/a.port"); pb=$(cat "$work/b.port")

# 1. One call held by A; the same actions sent to A and to B.
sid=CAbenchforward0001
"$BIN" sim caller --url "http://127.0.0.1:$pa" --call-sid "$sid" --say "good morning" --idle-after-ms 600000 \
  --no-transcribe > "$OUT/caller.log" 2>&1 &
caller=$!
pids+=($caller)
for _ in $(seq 200); do
  curl -fsS "http://127.0.0.1:$pa/health" | grep -q '"active_calls":1' && break; sleep 0.05
done
echo "== forwarded actions: $SAMPLES of each against A (holds the call) and B (forwards to A)"
python3 - "$pa" "$pb" "$sid" "$SAMPLES" > "$OUT/forward.json" <<'PY'
import http.client, json, sys, time
pa, pb, sid, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
base = "/api/v1/elevenlabs-twilio/calls/" + sid
def pct(v, p):
    v = sorted(v); return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]
out = {}
for name, port in (("A (owner)", pa), ("B (forwarded)", pb)):
    for method, path, label in (("GET", base, "/calls/{sid}"), ("POST", base + "/stop", "stop"),
                                ("GET", "/api/v1/elevenlabs-twilio/live-calls", "/live-calls")):
        c = http.client.HTTPConnection("127.0.0.1", int(port))
        ms = []
        for i in range(n):
            t = time.perf_counter()
            c.request(method, path, body=b"" if method == "POST" else None)
            r = c.getresponse(); r.read()
            ms.append((time.perf_counter() - t) * 1000)
            if r.status != 200: raise SystemExit(f"{method} {path} on {name}: {r.status}")
        c.close()
        ms = ms[10:]  # warm-up
        out[f"{name} {method} {label}"] = {
            "p50_ms": round(pct(ms, 50), 3), "p99_ms": round(pct(ms, 99), 3), "max_ms": round(max(ms), 3), "n": len(ms)}
print(json.dumps(out, indent=2))
PY
cat "$OUT/forward.json"
kill "$caller" 2>/dev/null || true

# 2. The load test through HAProxy over A and B, then on one instance alone.
hport=$(free_port)
sed -e "s|^  bind .*|  bind 127.0.0.1:$hport|" -e '/^  server /d' deploy/haproxy.cfg > "$work/haproxy.cfg"
printf '  server vox1 127.0.0.1:%s check\n  server vox2 127.0.0.1:%s check\n' "$pa" "$pb" >> "$work/haproxy.cfg"
printf '  server vox1-any 127.0.0.1:%s backup\n  server vox2-any 127.0.0.1:%s backup\n' "$pa" "$pb" >> "$work/haproxy.cfg"
haproxy -db -f "$work/haproxy.cfg" > "$OUT/haproxy.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$hport/health/ready" > /dev/null 2>&1 && break; sleep 0.05; done
say=()
phrases=("good morning" "what time is it" "please call me back" "thank you very much")
for i in $(seq 0 $((LINES - 1))); do say+=(--say "${phrases[$((i % ${#phrases[@]}))]}"); done
loadtest() {
  "$BIN" loadtest --url "$1" --calls "$CALLS" --ramp-s "$RAMP" "${say[@]}" --elevenlabs-emulator "http://127.0.0.1:$eport" \
    --ttfb-ms "${TTFB_MS:-100}" --stt-delay-ms "${STT_DELAY_MS:-100}" --json "$2" > /dev/null
}
echo "== $CALLS calls through HAProxy over two instances (Redis)"
loadtest "http://127.0.0.1:$hport" "$OUT/two.json"
serve one
echo "== $CALLS calls on one instance alone (no Redis)"
loadtest "http://127.0.0.1:$(cat "$work/one.port")" "$OUT/one.json"
python3 - "$OUT/two.json" "$OUT/one.json" <<'PY'
import json, sys
for name, path in (("two instances via HAProxy", sys.argv[1]), ("one instance", sys.argv[2])):
    r = json.load(open(path))
    lat, ov = r["reply_latency_ms"], r["turn_overhead_ms"]
    print(f"{name}: ok {r['ok']}/{r['calls']} failed {r['failed']} refused {r['refused']} peak {r['peak_concurrent_calls']}"
          f" reply p50/p99 {lat.get('p50', 0):.0f}/{lat.get('p99', 0):.0f} ms"
          f" caller-side overhead p50/p99 {ov.get('p50', 0):.1f}/{ov.get('p99', 0):.1f} ms")
PY
