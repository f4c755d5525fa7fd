#!/usr/bin/env bash
# Builds spoold's Debian package, spoold_<version>_<arch>.deb, and the
# library's, libspool-dev_<version>_<arch>.deb, with CPack: a Release build
# without tests, benchmarks or examples, for the /usr prefix.
#   usage: scripts/package.sh [--install]
#   --install          then installs spoold's package with dpkg -i (as root)
#   SPOOL_PKG_DIR      build folder (default build-pkg/); packages go to its packages/
#   SPOOL_CMAKE_ARGS   extra configure arguments (e.g. -DSPOOL_BACKEND=folly)
# Prints the packages' paths on stdout, one a line; everything else goes to stderr.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SPOOL_PKG_DIR:-$root/build-pkg}
install=false
case "${1:-}" in
  --install) install=true ;;
  "") ;;
  *) echo "usage: $0 [--install]" >&2; exit 2 ;;
esac
"$root/scripts/install-deps.sh"
# shellcheck disable=SC2086 # SPOOL_CMAKE_ARGS is a list of words
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DSPOOL_BUILD_TESTS=OFF -DSPOOL_BUILD_BENCH=OFF -DSPOOL_BUILD_EXAMPLES=OFF -DSPOOL_BUILD_SERVER=ON \
  -DSPOOL_INSTALL=ON ${SPOOL_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j "${SPOOL_JOBS:-$(nproc)}" >&2  # stdout is for the paths
rm -rf "$build/packages"
cpack --config "$build/CPackConfig.cmake" -B "$build/packages" >"$build/cpack.log" 2>&1 ||
  { cat "$build/cpack.log" >&2; exit 1; }
version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$build/CPackConfig.cmake")
arch=$(dpkg --print-architecture)
spoold_deb=$build/packages/spoold_${version}_$arch.deb
dev_deb=$build/packages/libspool-dev_${version}_$arch.deb
for deb in "$spoold_deb" "$dev_deb"; do
  [[ -f $deb ]] || { echo "package.sh: CPack made no $deb" >&2; cat "$build/cpack.log" >&2; exit 1; }
done
if $install; then
  dpkg -i "$spoold_deb" >&2
fi
echo "$spoold_deb"
echo "$dev_deb"
