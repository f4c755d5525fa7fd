#!/usr/bin/env bash
# spoold's share of CI: installs the peers, builds with -Werror, runs the
# server tests in a plain, an ASan+UBSan and a TSan build, then runs each
# libFuzzer target for a bounded time. Meant to be called from .ci/run.
#
#   FUZZ_SECONDS  seconds per fuzz target (default 60)
#   JOBS          parallel build jobs (default 2)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
fuzz_seconds=${FUZZ_SECONDS:-60}
jobs=${JOBS:-2}

bash "$root/scripts/install-deps.sh"

build_and_test() {  # <build dir> <cmake args...>
  local dir=$1
  shift
  cmake -S "$root" -B "$dir" -DSPOOL_WERROR=ON -DSPOOL_BUILD_BENCH=OFF "$@"
  cmake --build "$dir" -j"$jobs"
  ctest --test-dir "$dir" -L server --output-on-failure --timeout 300
}

build_and_test "$root/build"
build_and_test "$root/build-asan" -DSPOOL_SANITIZE=address
build_and_test "$root/build-tsan" -DSPOOL_SANITIZE=thread

# Fuzzing: clang's libFuzzer, ASan+UBSan on. New inputs go to a scratch
# directory; the seed corpus in the repository is only read.
CC=clang CXX=clang++ cmake -S "$root" -B "$root/build-fuzz" -DSPOOL_FUZZ=ON -DSPOOL_SANITIZE=address \
  -DSPOOL_BUILD_TESTS=OFF -DSPOOL_BUILD_BENCH=OFF
cmake --build "$root/build-fuzz" -j"$jobs" --target spoold_fuzz_text spoold_fuzz_meta spoold_fuzz_binary
for target in text meta binary; do
  scratch=$(mktemp -d)
  "$root/build-fuzz/server/fuzz/spoold_fuzz_$target" -max_total_time="$fuzz_seconds" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 "$scratch" "$root/server/fuzz/corpus/$target"
  rm -rf "$scratch"
done
