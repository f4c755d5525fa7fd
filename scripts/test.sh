#!/usr/bin/env bash
# Installs what is missing, builds with warnings as errors, and runs the whole
# test suite.
#   arguments          passed to ctest (e.g. -L conformance)
#   SPOOL_BUILD_DIR    build folder (default build/)
#   SPOOL_CMAKE_ARGS   extra configure arguments (e.g. -DSPOOL_SANITIZE=thread)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck disable=SC2086 # SPOOL_CMAKE_ARGS is a list of words
"$root/scripts/build.sh" -DSPOOL_WERROR=ON -DSPOOL_BUILD_TESTS=ON ${SPOOL_CMAKE_ARGS:-}
ctest --test-dir "${SPOOL_BUILD_DIR:-$root/build}" --output-on-failure -j "${SPOOL_JOBS:-$(nproc)}" "$@"
