#!/usr/bin/env bash
# Builds spoold's libFuzzer targets with clang (ASan+UBSan on) and runs each
# for a bounded time from the seed corpus in server/fuzz/corpus/<target>.
# New inputs go to a scratch directory and crash files (-artifact_prefix) to a
# temporary folder, printed when a target fails; the repository is only read.
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
scratch=""
cleanup() { if [[ -n "$scratch" ]]; then rm -rf "$scratch"; fi; }
trap cleanup EXIT
for target in text meta binary; do
  scratch=$(mktemp -d -t "spoold-fuzz-$target-corpus.XXXXXX")
  artifacts=$(mktemp -d -t "spoold-fuzz-$target-artifacts.XXXXXX")
  echo "--- fuzzing $target for ${seconds}s (crash files go to $artifacts/)"
  status=0
  # Run from the artifact folder too, so that nothing the fuzzer writes by
  # default lands in the caller's directory.
  (cd "$artifacts" && "$build/server/fuzz/spoold_fuzz_$target" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" \
    "$scratch" "$root/server/fuzz/corpus/$target") || status=$?
  if [[ $status -ne 0 ]]; then
    echo "--- spoold_fuzz_$target failed (exit $status); crash files kept in $artifacts/:" >&2
    ls -l "$artifacts" >&2
    exit "$status"
  fi
  rmdir "$artifacts" 2>/dev/null || echo "--- $target left files in $artifacts/" >&2
  rm -rf "$scratch"
  scratch=""
done
