#!/usr/bin/env bash
# Installs what is missing, builds, and starts spoold, the memcached-compatible
# server, on 127.0.0.1:11211 with memcached's defaults. Arguments go to spoold
# (e.g. --exec=workers --workers 4 -p 11311; spoold -h lists them all).
# Ctrl-C stops it. As root, like memcached, spoold needs a user to become
# (-u); this script passes -u nobody unless the arguments name one.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh"
user=()
if [[ $(id -u) -eq 0 && " $* " != *" -u "* && " $* " != *" --user"* ]]; then
  user=(-u nobody)
fi
exec "${SPOOL_BUILD_DIR:-$root/build}/server/spoold" "${user[@]}" "$@"
