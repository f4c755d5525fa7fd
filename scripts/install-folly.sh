#!/usr/bin/env bash
# Builds folly (the second backend's event library) from source and installs it
# into a prefix. Debian 12 does not package folly; the project pins
# v2023.02.20.00, whose unmodified source sits beside the project in
# ../shared/deps/. Nothing of folly is copied into this tree.
#
#   install-folly.sh [SOURCE]   SOURCE: a folly source tarball or folder
#                               (default: ../shared/deps/folly-v2023.02.20.00.tar.gz)
#   SPOOL_FOLLY_PREFIX          install prefix (default /opt/spool-deps/folly-2023.02.20.00)
#   SPOOL_JOBS                  parallel build jobs (default: nproc)
#
# Idempotent: when the prefix already holds this version (its stamp file names
# the same version), it only checks the Debian packages and returns. Prints the prefix on its last line.
# Installs folly's Debian build dependencies first (as root, or through sudo).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=2023.02.20.00
prefix=${SPOOL_FOLLY_PREFIX:-/opt/spool-deps/folly-$version}
source=${1:-$root/../shared/deps/folly-v$version.tar.gz}
stamp=$prefix/.spool-folly-version

# spool's packages and folly's own dependencies, as Debian 12 packages them
# (../shared/deps/README.md): folly's headers need them to build spool too,
# so they are checked (quickly) even when folly is already installed.
"$root/scripts/install-deps.sh" \
  libboost-context-dev libboost-filesystem-dev libboost-program-options-dev \
  libboost-regex-dev libboost-system-dev libboost-thread-dev \
  libdouble-conversion-dev libgflags-dev libgoogle-glog-dev zlib1g-dev \
  libzstd-dev liblz4-dev libsnappy-dev liblzma-dev libunwind-dev libdwarf-dev \
  libaio-dev liburing-dev binutils-dev libbz2-dev libsodium-dev

if [[ -f $stamp && $(cat "$stamp") == "$version" ]]; then
  echo "install-folly: folly $version already in $prefix" >&2
  echo "$prefix"
  exit 0
fi
if [[ ! -e $source ]]; then
  echo "install-folly: no folly source at '$source' (give a tarball or folder)" >&2
  exit 2
fi

work=$(mktemp -d /tmp/spool-folly.XXXXXX)
trap 'rm -rf "$work"' EXIT
if [[ -d $source ]]; then
  src=$source
else
  tar -xzf "$source" -C "$work"
  src=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -n 1)
fi
echo "install-folly: building folly from $src into $prefix (6 to 15 minutes on 2 cores)" >&2
cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTS=OFF \
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DCMAKE_INSTALL_PREFIX="$prefix" >"$work/configure.log" 2>&1 ||
  { tail -n 40 "$work/configure.log" >&2; exit 1; }
cmake --build "$work/build" -j "${SPOOL_JOBS:-$(nproc)}"
cmake --install "$work/build" >/dev/null
echo "$version" >"$stamp"
echo "$prefix"
