#!/usr/bin/env bash
# Builds voxbridge and runs the whole test suite: installs what is missing (Debian
# packages), builds the release tree and runs every test, then builds with
# AddressSanitizer + UndefinedBehaviorSanitizer (with leak checks) and runs the unit and
# end-to-end tests again, and finally runs the concurrency tests under ThreadSanitizer.
# Exit status is non-zero if anything fails.
#
#   scripts/test.sh            everything (what CI runs)
#   SKIP_SANITIZERS=1 scripts/test.sh   release build only (quick local loop)
#   SKIP_TSAN=1 scripts/test.sh         release + ASan/UBSan
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}
# Tests run in parallel: most end-to-end tests wait on real-time audio, not the CPU.
# Every test uses its own ports (0 = any free one) and its own temporary files.
TEST_JOBS=${TEST_JOBS:-4}
# ccache: hash paths relative to the checkout, so a fresh clone elsewhere reuses the cache.
export CCACHE_BASEDIR="$PWD"
started=$(date +%s)

step() { printf '\n== %s (%ss)\n' "$*" "$(( $(date +%s) - started ))"; }
total=0
# Runs ctest with the given arguments and adds its test count to $total.
run_ctest() {
  local log
  log=$(mktemp)
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local n
  n=$(sed -n 's/.*tests passed, 0 tests failed out of \([0-9]*\).*/\1/p' "$log" | tail -1)
  rm -f "$log"
  [ "$rc" -eq 0 ] || exit "$rc"
  total=$(( total + ${n:-0} ))
}

step "installing Debian packages"
bash scripts/setup.sh

step "installing the test clients (npm: ws, wscat, jsdom)"
# The documented clients of the control API run against the real server (Examples.*).
npm ci --prefix tests/examples --no-audit --no-fund --loglevel=error

step "configuring and building (release)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build -j"$JOBS"

step "running tests (release)"
run_ctest ctest --test-dir build --output-on-failure --timeout 300 -j"$TEST_JOBS"

if [ "${SKIP_SANITIZERS:-0}" != "1" ]; then
  step "configuring and building with ASan + UBSan"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DVOXBRIDGE_SANITIZE=ON -DVOXBRIDGE_BENCH=OFF \
        -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" >/dev/null
  ninja -C build-asan -j"$JOBS"
  step "running tests under ASan + UBSan"
  # Leak detection is on; tests/lsan.supp only mutes the system speech libraries.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_ctest ctest --test-dir build-asan --output-on-failure --timeout 600 -j"$(( TEST_JOBS > 2 ? 2 : TEST_JOBS ))"
fi

if [ "${SKIP_SANITIZERS:-0}" != "1" ] && [ "${SKIP_TSAN:-0}" != "1" ]; then
  step "configuring and building with ThreadSanitizer"
  cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DVOXBRIDGE_TSAN=ON -DVOXBRIDGE_BENCH=OFF \
        -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" >/dev/null
  ninja -C build-tsan -j"$JOBS" unit_tests e2e_tests voxbridge
  step "running the concurrency tests under ThreadSanitizer"
  # The e2e servers run the TSan binary too; a race report makes a server exit non-zero,
  # which fails the test that started it.
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    run_ctest ctest --test-dir build-tsan --output-on-failure --timeout 600 -j2 \
      -R 'SessionTest|Conversation.TwentyConcurrent|Conversation.BargeIn|Lifecycle|BadInput|ElevenLabsTts|ElevenLabsStt|HttpClient|TtsCache|StreamLeg|PhoneNetwork|ClientSocket|CallStore|Generate\.|TurnChannel|TurnHub|WebhookAgent|Metrics'
fi

step "all tests passed"
echo "total: ${total} passed, 0 failed"
