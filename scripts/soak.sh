#!/usr/bin/env bash
# Builds spoold and spoold_soak, then soaks spoold in its four configurations
# (--exec=inline and --exec=workers, plain and TLS) for SECONDS each: verified
# pipelined load together with killed clients, half-open sockets, garbage,
# slow readers, churn past -c and metadumps. See bench/soak/soak_main.cpp.
#   usage: scripts/soak.sh [SECONDS]     (default 60 per configuration)
#   SPOOL_BUILD_DIR    build folder (default build/). An AddressSanitizer build
#                      works too, e.g. SPOOL_BUILD_DIR=build-asan
#                      SPOOL_CMAKE_ARGS=-DSPOOL_SANITIZE=address: any ASan,
#                      LSan or UBSan report in spoold's stderr fails the soak.
#   SPOOL_CMAKE_ARGS   extra configure arguments
#   SPOOL_SOAK_ARGS    extra spoold_soak arguments (e.g. --json, --configs inline)
# Exit status: spoold_soak's, 0 when every check of every configuration passed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
build=${SPOOL_BUILD_DIR:-$root/build}
jobs=${SPOOL_JOBS:-$(nproc)}
"$root/scripts/install-deps.sh"
# The soak is a benchmark target: the folder must build the benchmarks (CI's
# sanitizer folders are configured without them).
# shellcheck disable=SC2086 # SPOOL_CMAKE_ARGS is a list of words
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE="${SPOOL_BUILD_TYPE:-RelWithDebInfo}" -DSPOOL_BUILD_BENCH=ON \
  ${SPOOL_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j "$jobs" --target spoold spoold_soak
if grep -q '^SPOOL_SANITIZE:STRING=address$' "$build/CMakeCache.txt"; then
  # Stop at the first report (spoold then dies, which the soak notices too)
  # and check for leaks when spoold exits on SIGTERM.
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fi
# shellcheck disable=SC2086 # SPOOL_SOAK_ARGS is a list of words
exec "$build/bench/spoold_soak" --spoold "$build/server/spoold" --seconds "$seconds" ${SPOOL_SOAK_ARGS:-}
