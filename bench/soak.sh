#!/usr/bin/env bash
# Soak: CALLS simulated Twilio calls kept going for SECONDS against one fresh server whose
# ElevenLabs is the local emulator (as in bench/loadtest_emulated.sh), sampling the server
# every SAMPLE_S seconds: RSS, open file descriptors (/proc/PID/fd), threads, CPU, the size
# of its SQLite call store (the db, -wal and -shm files), live calls and latency (its
# /metrics, and the reply latency each `voxbridge loadtest` batch reports). Exits 1 when a
# series grows over the run where a steady load should keep it flat.
#
#   bench/soak.sh [CALLS] [SECONDS] [OUT_DIR]    defaults: 200 3600 ./soak-out
#   bench/soak.sh 30 180 build/soak-ci           about the CI check: 3 minutes of 30 calls (about
#                                                4½ minutes in all, with calibration and drain)
#
# How CALLS stay live: a calibration pair of calls first measures how long one call lasts
# (PERIOD, about 25 s with 6 lines); then every PERIOD seconds a new `voxbridge loadtest`
# batch of CALLS calls starts, its calls spread evenly over PERIOD, so each call of a batch
# ends about when the same call of the next batch starts. After SECONDS no batch starts
# and the running ones finish (the drain); an idle sample is taken before and after.
#
# Environment: SAMPLE_S (10), LINES (6: lines each caller says), TTFB_MS (100),
# STT_DELAY_MS (100), THREADS (server threads: 1), PERIOD_S (skip the calibration: a batch
# every PERIOD_S seconds), PIN (1: the server on CPU 0, the load and the emulator on CPU 1),
# EXTRA_SERVE_ARGS, IDLE_AFTER_S (0: one more idle sample this long after the load, e.g.
# 200 to see the warm provider sockets close), BIN (build/voxbridge; copied to the temporary directory first, so a
# rebuild during a long soak changes nothing under test).
#
# The growth check. Warm-up: the first 20 % of SECONDS or 30 s, whichever is longer, and at
# least one PERIOD plus a sample (the first batch ramps up then). Baseline: the warm-up's
# maximum. End: the median of the samples (batches) from 80 % of SECONDS on. Fails when
#   RSS      end > baseline x (1 + RSS_GROWTH_PCT/100) + RSS_GROWTH_MB      (10 %, 8 MiB)
#   FDs      end > baseline x (1 + FD_GROWTH_PCT/100) + FD_GROWTH           (5 %, 8)
#   threads  end > baseline + THREAD_GROWTH                                 (2)
#   store    at any sample after the warm-up (and the final idle one), the growth since
#            the warm-up's last sample > calls ended since then x STORE_KB_PER_CALL KiB
#            + STORE_SLACK_MB MiB                                           (16 KiB, 8 MiB)
#   latency  the callers' reply latency p99 per batch (voxbridge loadtest), end >
#            baseline x (1 + P99_GROWTH_PCT/100) + P99_GROWTH_MS            (25 %, 100 ms)
#   failures failed calls > FAILED_MAX_PCT % of all calls                   (0.5 %)
# Writes OUT_DIR/soak.json (settings, bounds, samples, batches, summary), OUT_DIR/soak.html
# (self-contained: inline SVG plots, no network) and the server, emulator and load
# generator logs.
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS=${1:-200}
DURATION=${2:-3600}
OUT=${3:-./soak-out}
SAMPLE_S=${SAMPLE_S:-10}
LINES=${LINES:-6}
TTFB_MS=${TTFB_MS:-100}
STT_DELAY_MS=${STT_DELAY_MS:-100}
THREADS=${THREADS:-1}
BIN=${BIN:-build/voxbridge}
export RSS_GROWTH_PCT=${RSS_GROWTH_PCT:-10} RSS_GROWTH_MB=${RSS_GROWTH_MB:-8}
export FD_GROWTH_PCT=${FD_GROWTH_PCT:-5} FD_GROWTH=${FD_GROWTH:-8} THREAD_GROWTH=${THREAD_GROWTH:-2}
export STORE_KB_PER_CALL=${STORE_KB_PER_CALL:-16} STORE_SLACK_MB=${STORE_SLACK_MB:-8}
export P99_GROWTH_PCT=${P99_GROWTH_PCT:-25} P99_GROWTH_MS=${P99_GROWTH_MS:-100}
export FAILED_MAX_PCT=${FAILED_MAX_PCT:-0.5}

die() { echo "soak: $*" >&2; exit 2; }
[[ $CALLS =~ ^[0-9]+$ ]] && [ "$CALLS" -ge 2 ] || die "CALLS must be a number >= 2 (got '$CALLS')"
[[ $DURATION =~ ^[0-9]+$ ]] && [ "$DURATION" -ge 10 ] || die "SECONDS must be a number >= 10 (got '$DURATION')"
[[ $SAMPLE_S =~ ^[0-9]+$ ]] && [ "$SAMPLE_S" -ge 1 ] || die "SAMPLE_S must be a whole number of seconds >= 1"
[ -x "$BIN" ] || die "no binary at $BIN (build it, or set BIN)"
command -v python3 > /dev/null || die "needs python3 (scripts/setup.sh installs it)"
command -v curl > /dev/null || die "needs curl (scripts/setup.sh installs it)"

mkdir -p "$OUT"
work=$(mktemp -d)
server=""; emulator=""; batch_pids=()
cleanup() {
  local p
  for p in "${batch_pids[@]}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  [ -n "$emulator" ] && kill "$emulator" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
server_cpu=(); others_cpu=()
if [ "${PIN:-0}" = "1" ]; then server_cpu=(taskset -c 0); others_cpu=(taskset -c 1); fi
cp "$BIN" "$work/voxbridge"
vox="$work/voxbridge"

echo "soak: $CALLS calls for $DURATION s, a sample every $SAMPLE_S s, into $OUT (binary: $BIN)"
echo "soak: bounds: RSS +${RSS_GROWTH_PCT} % +${RSS_GROWTH_MB} MiB; FDs +${FD_GROWTH_PCT} % +${FD_GROWTH};" \
     "threads +${THREAD_GROWTH}; store <= ${STORE_KB_PER_CALL} KiB per call ended + ${STORE_SLACK_MB} MiB;" \
     "reply p99 +${P99_GROWTH_PCT} % +${P99_GROWTH_MS} ms; failed calls <= ${FAILED_MAX_PCT} %"

wait_for_file() {  # FILE PID WHAT: waits up to 30 s for FILE, while PID lives
  for _ in $(seq 300); do
    [ -s "$1" ] && return 0
    kill -0 "$2" 2>/dev/null || die "$3 exited at start; see its log in $OUT"
    sleep 0.1
  done
  die "$3 did not write its port file in 30 s"
}
"${others_cpu[@]}" "$vox" emulate elevenlabs --host 127.0.0.1 --port 0 --port-file "$work/eport" --log-level warn \
  --threads 1 --stt-fixed-text "good morning" --tts-cache-mb 64 > "$OUT/emulator.log" 2>&1 &
emulator=$!
wait_for_file "$work/eport" "$emulator" "the ElevenLabs emulator"
eport=$(cat "$work/eport")
store="$work/calls.db"
ELEVENLABS_API_KEY=test-key ELEVENLABS_BASE_URL="http://127.0.0.1:$eport" \
  ELEVENLABS_REALTIME_STT="${REALTIME_STT:-false}" ELEVENLABS_TTS_TRANSPORT="${TTS_TRANSPORT:-websocket}" \
  "${server_cpu[@]}" "$vox" serve --host 127.0.0.1 --port 0 --port-file "$work/port" --log-level warn --tts-cache false \
  --threads "$THREADS" --max-calls 5000 --store "$store" ${EXTRA_SERVE_ARGS:-} > "$OUT/server.log" 2>&1 &
server=$!
wait_for_file "$work/port" "$server" "the server"
port=$(cat "$work/port")
base="http://127.0.0.1:$port"

say=()
phrases=("good morning" "what time is it" "please call me back" "thank you very much" "i would like some coffee" "goodbye")
for i in $(seq 0 $((LINES - 1))); do say+=(--say "${phrases[$((i % ${#phrases[@]}))]}"); done
mkdir -p "$work/batches"
# A batch of load: COUNT calls over RAMP seconds, its report in $work/batches/NAME.json,
# ended by `timeout` after LIMIT_S. The subshell execs, so $! of `run_batch ... &` is the
# process to signal (timeout passes the signal on to the load test).
run_batch() {  # NAME COUNT RAMP LIMIT_S
  exec "${others_cpu[@]}" timeout "$4" "$vox" loadtest --url "$base" --calls "$2" --ramp-s "$3" "${say[@]}" \
    --server-pid "$server" --elevenlabs-emulator "http://127.0.0.1:$eport" --ttfb-ms "$TTFB_MS" \
    --stt-delay-ms "$STT_DELAY_MS" --json "$work/batches/$1.json" > /dev/null 2> "$work/batches/$1.log"
}

# Calibration: how long a call lasts. Two calls, not one: `voxbridge loadtest --calls 1`
# hangs (its only call never gets its 20 ms frame clock), as does a batch whose calls never
# overlap; hence CALLS >= 2.
if [ -z "${PERIOD_S:-}" ]; then
  echo "soak: calibrating: two calls to measure a call's length"
  (run_batch calibration 2 0 180) || die "the calibration calls failed: $(tail -n 3 "$work/batches/calibration.log")"
  PERIOD_S=$(python3 -c 'import json,sys; print(max(5, round(json.load(open(sys.argv[1]))["wall_s"])))' \
    "$work/batches/calibration.json")
fi
echo "soak: a call lasts about $PERIOD_S s: a batch of $CALLS calls every $PERIOD_S s"

clk_tck=$(getconf CLK_TCK)
size_of() { stat -c %s "$1" 2>/dev/null || echo 0; }
t0=0; NOW=0
now() { local t=${EPOCHREALTIME/[.,]/}; NOW=$((t / 1000 - t0)); }
now; t0=$NOW; NOW=0
printf 't_ms\tphase\trss_kb\tthreads\tfds\tcpu_ticks\tdb_bytes\twal_bytes\tshm_bytes\tactive\tstarted\tended\tturns\tws\tresp_sum\tresp_count\tgw_sum\tgw_count\tresp_buckets\n' \
  > "$work/samples.tsv"
sample() {  # PHASE
  kill -0 "$server" 2>/dev/null || { echo "soak: the server exited during the soak; see $OUT/server.log" >&2; exit 1; }
  now
  local status fds cpu metrics
  status=$(awk '/^VmRSS:/ {r = $2} /^Threads:/ {t = $2} END {printf "%s\t%s", r, t}' "/proc/$server/status")
  fds=$(find "/proc/$server/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  cpu=$(awk '{print $14 + $15}' "/proc/$server/stat")
  metrics=$(curl -s --max-time 5 "$base/metrics" | awk '
    /^voxbridge_active_calls / {a = $2}
    /^voxbridge_calls_started_total / {s = $2}
    /^voxbridge_calls_ended_total/ {e += $2}
    /^voxbridge_turns_total / {tu = $2}
    /^voxbridge_websockets_open / {ws = $2}
    /^voxbridge_turn_response_seconds_sum / {rs = $2}
    /^voxbridge_turn_response_seconds_count / {rc = $2}
    /^voxbridge_turn_gateway_seconds_sum / {gs = $2}
    /^voxbridge_turn_gateway_seconds_count / {gc = $2}
    /^voxbridge_turn_response_seconds_bucket/ {split($1, p, "\""); b = b sep p[2] ":" $2; sep = ";"}
    END {printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", a, s, e, tu, ws, rs, rc, gs, gc, b}') || true
  [ -n "$metrics" ] || metrics=$(printf '\t\t\t\t\t\t\t\t\t')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$NOW" "$1" "$status" "$fds" "$cpu" \
    "$(size_of "$store")" "$(size_of "$store-wal")" "$(size_of "$store-shm")" "$metrics" >> "$work/samples.tsv"
}

printf 'index\tstart_ms\tend_ms\trc\n' > "$work/batches.tsv"
declare -A batch_start=()
period_ms=$((PERIOD_S * 1000)); sample_ms=$((SAMPLE_S * 1000)); end_ms=$((DURATION * 1000))
drain_limit_ms=$((end_ms + 3 * period_ms + 180000))
next_batch=0; next_sample=$sample_ms; k=0; last_report=0
reap() {  # records the batches that have finished
  local i p rc
  for i in "${!batch_pids[@]}"; do
    p=${batch_pids[$i]}
    [ -n "$p" ] || continue
    kill -0 "$p" 2>/dev/null && continue
    rc=0; wait "$p" || rc=$?
    now
    printf '%s\t%s\t%s\t%s\n' "$i" "${batch_start[$i]}" "$NOW" "$rc" >> "$work/batches.tsv"
    batch_pids[$i]=""
  done
}
running() { local p; for p in "${batch_pids[@]}"; do [ -n "$p" ] && return 0; done; return 1; }

sample idle
echo "soak: load starts"
while :; do
  now
  if (( NOW >= next_batch && NOW < end_ms )); then
    (run_batch "$k" "$CALLS" "$PERIOD_S" $((3 * PERIOD_S + 120))) &
    batch_pids[$k]=$!; batch_start[$k]=$NOW
    k=$((k + 1)); next_batch=$((next_batch + period_ms))
  fi
  if (( NOW >= next_sample )); then
    if (( NOW <= end_ms )); then sample load; else sample drain; fi
    next_sample=$((next_sample + sample_ms))
  fi
  reap
  if (( NOW - last_report >= 60000 )); then
    last_report=$NOW
    tail -n 1 "$work/samples.tsv" | awk -F'\t' -v k="$k" '{printf "soak: %4.0f s: %d batches started, %s live calls, RSS %.1f MiB, %s FDs, %s threads, store %.2f MiB\n", $1 / 1000, k, $10, $3 / 1024, $5, $4, ($7 + $8 + $9) / 1048576}'
  fi
  if (( NOW >= end_ms )) && ! running; then break; fi
  if (( NOW >= drain_limit_ms )); then
    echo "soak: batches still running $(( (NOW - end_ms) / 1000 )) s after the end: stopping them" >&2
    for p in "${batch_pids[@]}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    sleep 2; reap; break
  fi
  sleep 0.25
done
sleep 1
sample idle
# What the idle server still holds: its connections to the ElevenLabs emulator are warm
# TTS sockets (closed by the service after 180 s without a context) and pooled keep-alive
# HTTP connections (at most 32 an origin), not leaks.
provider_sockets() { ss -tnpH "( dport = :$eport )" 2>/dev/null | grep -c "pid=$server," || true; }
echo "soak: idle after the load: $(find "/proc/$server/fd" -mindepth 1 -maxdepth 1 | wc -l) FDs, $(provider_sockets) of them connections to the ElevenLabs emulator"
if [ "${IDLE_AFTER_S:-0}" -gt 0 ]; then
  sleep "$IDLE_AFTER_S"
  sample idle
  echo "soak: idle ${IDLE_AFTER_S} s later: $(find "/proc/$server/fd" -mindepth 1 -maxdepth 1 | wc -l) FDs, $(provider_sockets) of them connections to the ElevenLabs emulator"
fi
echo "soak: load done after $((NOW / 1000)) s; writing the report"

for f in "$work"/batches/*.log; do printf '== %s\n' "$(basename "$f" .log)"; cat "$f"; done > "$OUT/loadgen.log"
SOAK_CALLS=$CALLS SOAK_SECONDS=$DURATION SOAK_SAMPLE_S=$SAMPLE_S SOAK_PERIOD_S=$PERIOD_S SOAK_LINES=$LINES \
  SOAK_TTFB_MS=$TTFB_MS SOAK_STT_DELAY_MS=$STT_DELAY_MS SOAK_THREADS=$THREADS SOAK_BIN=$BIN SOAK_CLK_TCK=$clk_tck \
  SOAK_STARTED_AT=$(date -u -d "@$((t0 / 1000))" +%Y-%m-%dT%H:%M:%SZ) \
  python3 bench/soak_report.py "$work" "$OUT"
