#!/usr/bin/env bash
# Runs every libFuzzer harness (fuzz/) for SECONDS each, JOBS at a time, with its seed
# corpus and dictionary; prints executions, coverage and crashes per harness, and exits
# non-zero when one crashed (the input is kept: copy it into fuzz/regressions/NAME/ and
# fix the bug; ctest then replays it as Fuzz.NAME).
#
#   scripts/fuzz.sh [SECONDS]          default 60; builds the harnesses first (build-fuzz, clang,
#                                      ASan + UBSan at -O1) unless BUILD names a built tree
#   RUNS=10000000 scripts/fuzz.sh 3600 the long run docs/reliability.md reports
# Environment: BUILD (a tree configured with -DVOXBRIDGE_FUZZ=ON; CI passes its ASan
# tree), JOBS (harnesses at once; default: the number of cores), ONLY (space-separated
# harness names), OUT (where corpora grow and crashes land; default /tmp/voxbridge-fuzz;
# a corpus there is reused by the next run), RUNS (stop each harness after this many
# executions, or at SECONDS, whichever comes first: `RUNS=10000000 scripts/fuzz.sh 3600`
# is the long run docs/reliability.md reports).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
JOBS=${JOBS:-$(nproc)}
OUT=${OUT:-/tmp/voxbridge-fuzz}
HARNESSES=(media_stream control_api twilio_webhook http_request twiml elevenlabs llm_stream audio_file config_files multipart phone)
if [ -n "${ONLY:-}" ]; then read -r -a HARNESSES <<< "$ONLY"; fi

if [ -z "${BUILD:-}" ]; then
  BUILD=build-fuzz
  bash scripts/setup.sh >/dev/null
  export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
  LINKER=-fuse-ld=lld-14
  command -v ld.lld-14 >/dev/null || LINKER=
  CXX=${CLANG:-clang++-14} cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVOXBRIDGE_SANITIZE=ON \
    -DVOXBRIDGE_FUZZ=ON -DVOXBRIDGE_TESTS=OFF -DVOXBRIDGE_BENCH=OFF \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" -DCMAKE_EXE_LINKER_FLAGS="$LINKER" >/dev/null
  echo "fuzz: building the harnesses in $BUILD"
  ninja -C "$BUILD" fuzzers
fi

dict_of() {
  case "$1" in
    http_request | twilio_webhook) echo fuzz/dict/http.dict ;;
    twiml) echo fuzz/dict/xml.dict ;;
    audio_file) echo "" ;;
    *) echo fuzz/dict/json.dict ;;
  esac
}

run_one() {
  local name=$1 corpus="$OUT/corpus/$1" log="$OUT/logs/$1.log" dict
  mkdir -p "$corpus" "$OUT/crashes" "$OUT/logs"
  dict=$(dict_of "$name")
  # The first directory receives what the run finds; the tree's seeds and past crashes
  # are read only.
  set +e
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$BUILD/fuzz/fuzz_$name" "$corpus" "fuzz/corpus/$name" "fuzz/regressions/$name" \
    -max_total_time="$SECONDS_EACH" ${RUNS:+-runs=$RUNS} -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$OUT/crashes/$name-" ${dict:+-dict=$dict} > "$log" 2>&1
  echo $? > "$log.rc"
  set -e
}

echo "fuzz: ${#HARNESSES[@]} harnesses, ${SECONDS_EACH}s each, $JOBS at a time; corpora and logs in $OUT"
running=0
for name in "${HARNESSES[@]}"; do
  run_one "$name" &
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then wait -n; running=$((running - 1)); fi
done
wait

failed=0
printf '%-16s %12s %10s %8s %8s  %s\n' harness executions exec/s cov ft result
for name in "${HARNESSES[@]}"; do
  log="$OUT/logs/$name.log"
  rc=$(cat "$log.rc")
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  result=ok
  if [ "$rc" != 0 ]; then
    result="CRASH (exit $rc): $(grep -m1 -o "$OUT/crashes/$name-[^ ]*" "$log" || echo "see $log")"
    failed=1
  fi
  printf '%-16s %12s %10s %8s %8s  %s\n' "$name" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$result"
done
if [ "$failed" = 1 ]; then
  echo "fuzz: a harness failed. Reproduce: $BUILD/fuzz/fuzz_NAME CRASH_FILE; keep the input in fuzz/regressions/NAME/ once fixed." >&2
  exit 1
fi
