#!/usr/bin/env bash
# Configures and builds spool in build/ (or $SPOOL_BUILD_DIR), installing any
# missing Debian package first. Extra arguments go to CMake's configure step.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
build=${SPOOL_BUILD_DIR:-$root/build}
jobs=${SPOOL_JOBS:-$(nproc)}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=${SPOOL_BUILD_TYPE:-RelWithDebInfo} "$@" >/dev/null
cmake --build "$build" -j "$jobs"
