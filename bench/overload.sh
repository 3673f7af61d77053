#!/usr/bin/env bash
# Overload control under an offered load beyond capacity: the same 1.5 x CAPACITY calls
# (started over RAMP_S seconds, each speaking its lines in real time) against a server
# with shedding on (the default, or SHED_LAG_MS) and with it off, plus a baseline at
# CAPACITY; the providers are the local ElevenLabs emulator (bench/loadtest_emulated.sh
# runs each). Reports for each run: calls completed, refused cleanly (webhook 503 or
# stream 1013) and failed, and the completed calls' turn overhead p50/p99 (what the
# gateway adds to a reply) and the load generator's late frames.
#
#   bench/overload.sh [CAPACITY] [RAMP_S] [OUT_DIR]       defaults: 600 15 ./overload-out
# Environment: SHED_LAG_MS (the server's --shed-lag-ms; default: the server's default),
# MAX_CALLS (capacity as a call limit: the baseline and shedding runs get --max-calls
# MAX_CALLS, the run without shedding none; unset: capacity is only what the loop's lag says),
# FACTOR (1.5), PIN (1: the server on CPU 0, load generator and emulator on CPU 1), and
# everything bench/loadtest_emulated.sh reads (BIN, LINES, THREADS, ...).
# Writes OUT_DIR/{baseline,shed,noshed}/ (each run's load.json, load.html, logs) and
# OUT_DIR/summary.md (the table docs/reliability.md shows).
set -euo pipefail
cd "$(dirname "$0")/.."
CAPACITY=${1:-600}
RAMP=${2:-15}
OUT=${3:-./overload-out}
FACTOR=${FACTOR:-1.5}
export PIN=${PIN:-1}
offered=$(awk -v c="$CAPACITY" -v f="$FACTOR" 'BEGIN { printf "%d", c * f }')
offered_ramp=$(awk -v r="$RAMP" -v f="$FACTOR" 'BEGIN { printf "%d", r * f }')  # the same arrival rate
mkdir -p "$OUT"
shed_args=""
[ -n "${SHED_LAG_MS:-}" ] && shed_args="--shed-lag-ms $SHED_LAG_MS"

run() {  # NAME CALLS RAMP EXTRA_SERVE_ARGS [MAX_CALLS]
  echo "== $1: $2 calls over $3 s ${4:+(serve $4)} ${5:+(max calls $5)}"
  # A run with refusals or failures exits 1 from the load generator; the table tells.
  MAX_CALLS="${5:-5000}" EXTRA_SERVE_ARGS="$4" bench/loadtest_emulated.sh "$2" "$3" "$OUT/$1" > "$OUT/$1.log" 2>&1 || true
  tail -n 2 "$OUT/$1.log"
}
run baseline "$CAPACITY" "$RAMP" "$shed_args" "${MAX_CALLS:-}"
run shed "$offered" "$offered_ramp" "$shed_args" "${MAX_CALLS:-}"
run noshed "$offered" "$offered_ramp" "--shed-lag-ms 0"

python3 - "$OUT" "$CAPACITY" "$offered" > "$OUT/summary.md" <<'PY'
import json, sys, os
out, capacity, offered = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [("baseline", f"{capacity} calls (capacity), shedding on"),
        ("shed", f"{offered} calls offered, shedding on"),
        ("noshed", f"{offered} calls offered, shedding off (--shed-lag-ms 0)")]
print("| run | completed | refused (503/1013) | failed | peak live calls | turn overhead p50 / p99 (ms) | caller reply p99 (ms) | late frames sent | server CPU % |")
print("|---|---|---|---|---|---|---|---|---|")
for name, label in rows:
    path = os.path.join(out, name, "load.json")
    if not os.path.exists(path):
        print(f"| {label} | (no report: see {name}.log) |||||||")
        continue
    d = json.load(open(path))
    o = d["turn_overhead_ms"]
    print(f"| {label} | {d['ok']} | {d.get('refused', 0)} | {d['failed']} | {d['peak_concurrent_calls']} | "
          f"{o['p50']:.1f} / {o['p99']:.1f} | {d['reply_latency_ms']['p99']:.0f} | {d['late_frames_sent']} | "
          f"{d.get('server_cpu_pct', 0):.0f} |")
PY
cat "$OUT/summary.md"
