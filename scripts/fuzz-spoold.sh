#!/usr/bin/env bash
# Builds spoold's libFuzzer targets with clang (ASan+UBSan on) and runs each
# for a bounded time from the seed corpus in server/fuzz/corpus/<target>.
# New inputs go to a scratch directory; the repository is only read.
#   FUZZ_SECONDS     seconds per target (default 60)
#   SPOOL_FUZZ_DIR   build folder (default build-fuzz/)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${FUZZ_SECONDS:-60}
build=${SPOOL_FUZZ_DIR:-$root/build-fuzz}
"$root/scripts/install-deps.sh"
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DSPOOL_FUZZ=ON -DSPOOL_SANITIZE=address \
  -DSPOOL_BUILD_TESTS=OFF -DSPOOL_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "${SPOOL_JOBS:-$(nproc)}" --target spoold_fuzz_text spoold_fuzz_meta spoold_fuzz_binary
for target in text meta binary; do
  scratch=$(mktemp -d)
  echo "--- fuzzing $target for ${seconds}s"
  "$build/server/fuzz/spoold_fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 "$scratch" "$root/server/fuzz/corpus/$target"
  rm -rf "$scratch"
done
