#!/usr/bin/env bash
# Installs the Debian 12 packages spool needs to build, test and benchmark,
# and any packages named as arguments (install-folly.sh passes folly's).
# Idempotent: only missing packages are installed. Must run as root (or via sudo).
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libevent-dev libssl-dev openssl libfmt-dev catch2
  clang libclang-rt-14-dev          # libFuzzer and sanitizer runtimes
  memcached libmemcached-tools nutcracker libcache-memcached-fast-perl  # real peers
  gnuplot-nox python3                # benchmark plots and bench/report.py
  libjemalloc2                       # bench/run.sh --preload: the allocator's share of the send path
  file adduser systemd man-db groff-base procps  # package.sh, check-package.sh: CPack's
                                     # shlibdeps, the package's user, systemd-analyze, man page lint, ps
  "$@"
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
