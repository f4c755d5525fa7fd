#!/usr/bin/env bash
# Installs what is missing, builds, and starts the example server on
# 127.0.0.1 (port 7000, or the first argument). Ctrl-C stops it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh"
exec "${SPOOL_BUILD_DIR:-$root/build}/examples/spool_echo_server" "$@"
