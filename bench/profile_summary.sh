#!/usr/bin/env bash
# Summarizes a `perf record -g` profile of the server into the figures docs/performance.md
# quotes: the kernel/user split, the share of samples under the scheduler and futex waits
# (threads waking each other), the socket system calls, and the top functions by own time.
#
#   bench/profile_summary.sh PERF_DATA
# bench/loadtest_emulated.sh calls it when PROFILE_S is set.
set -euo pipefail
data=${1:?usage: bench/profile_summary.sh PERF_DATA}
report() { perf report -i "$data" --stdio "$@" 2>/dev/null; }
samples=$(report --no-children -g none --sort dso | awk '/^# Samples:/ {print $3; exit}')
echo "samples: $samples"
echo
echo "## share of samples by binary"
report --no-children -g none --sort dso | grep '%' | grep -v '^#' | head -n 8
echo
echo "## share of samples under (including callees)"
children=$(report --children -g none --sort sym)
for sym in __schedule do_futex __libc_recvmsg __libc_sendmsg epoll_wait __libc_pwrite; do
  line=$(grep -E "\] ${sym}\$" <<< "$children" | head -n 1 || true)
  printf '%-16s %s\n' "$sym" "$(awk '{print $1}' <<< "${line:-0.00%}")"
done
echo
echo "## top functions by own time"
report --no-children -g none --sort dso,sym | grep '%' | grep -v '^#' | head -n 30 | cut -c1-160
