#!/usr/bin/env bash
# Builds examples/consumer, a program outside spool's tree, the three ways a
# project uses spool, and checks an echo round trip through each:
#   1. find_package(spool) against an install prefix (cmake --install), moved
#      after installing, so the installed files must not name where they were built;
#   2. pkg-config, with spool.pc from the same moved prefix;
#   3. add_subdirectory(<spool source>).
# On the way it checks that spool's own build flags (warnings, -Werror) reach
# spool's files but not the consumer's, and that a subproject builds no tests.
#   SPOOL_CONSUMER_DIR   scratch folder, emptied first (default build-consumer/)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${SPOOL_CONSUMER_DIR:-$root/build-consumer}
jobs=${SPOOL_JOBS:-$(nproc)}
version=$(sed -n 's/^project(spool VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")
"$root/scripts/install-deps.sh"
rm -rf "$work"
mkdir -p "$work"
fail() { echo "check-consumer: $*" >&2; exit 1; }

# Starts the consumer, reads the port it prints, sends a line, checks the echo.
round_trip() {
  local how=$1 binary=$2 banner reply status=0
  coproc CONSUMER { exec "$binary"; }
  local pid=$CONSUMER_PID
  read -r -t 20 banner <&"${CONSUMER[0]}" || { kill "$pid"; fail "$how: no banner within 20 s"; }
  [[ $banner == "spool $version ("*") listening on 127.0.0.1:"* ]] ||
    { kill "$pid"; fail "$how: unexpected banner '$banner' (want spool $version)"; }
  exec {sock}<>"/dev/tcp/127.0.0.1/${banner##*:}"
  printf 'hello through %s\n' "$how" >&"$sock"
  read -r -t 10 reply <&"$sock" || reply="(nothing within 10 s)"
  exec {sock}>&-
  kill -TERM "$pid"
  wait "$pid" || status=$?
  [[ $reply == "hello through $how" ]] || fail "$how: echoed '$reply'"
  ((status == 0)) || fail "$how: consumer exited with status $status after SIGTERM"
  echo "check-consumer: $how: $banner; round trip ok"
}

# spool itself, the library alone, installed into a prefix that then moves.
cmake -S "$root" -B "$work/spool" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$work/prefix" \
  -DSPOOL_BUILD_TESTS=OFF -DSPOOL_BUILD_BENCH=OFF -DSPOOL_BUILD_EXAMPLES=OFF -DSPOOL_BUILD_SERVER=OFF >/dev/null
cmake --build "$work/spool" -j "$jobs"
cmake --install "$work/spool" >/dev/null
mv "$work/prefix" "$work/moved"
prefix=$work/moved
mapfile -t text_files < <(find "$prefix" -type f \( -name '*.cmake' -o -name '*.pc' -o -name '*.h' \))
((${#text_files[@]} > 10)) || fail "too few installed headers and package files: ${text_files[*]}"
if grep -lE -e '-W(all|error|extra)|-fsanitize' "${text_files[@]}"; then
  fail "spool's build flags are in the installed files above"
fi
if grep -l -e "$root" -e "$work/prefix" "${text_files[@]}"; then
  fail "installed files above name the source, build or install folder"
fi
pc_dir=$(dirname "$(find "$prefix" -name spool.pc)")

cmake -S "$root/examples/consumer" -B "$work/find-package" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/find-package" -j "$jobs"
round_trip find_package "$work/find-package/spool_consumer"

PKG_CONFIG_PATH=$pc_dir cmake -S "$root/examples/consumer" -B "$work/pkg-config" -DSPOOL_CONSUMER_PKGCONFIG=ON >/dev/null
cmake --build "$work/pkg-config" -j "$jobs"
round_trip pkg-config "$work/pkg-config/spool_consumer"

cmake -S "$root/examples/consumer" -B "$work/subdirectory" -DSPOOL_CONSUMER_SOURCE="$root" \
  -DCMAKE_BUILD_TYPE=Release -DSPOOL_WERROR=ON -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
for option in SPOOL_BUILD_TESTS SPOOL_BUILD_BENCH SPOOL_BUILD_EXAMPLES SPOOL_INSTALL; do
  grep -q "^$option:BOOL=OFF$" "$work/subdirectory/CMakeCache.txt" || fail "$option is not OFF in a subproject"
done
commands=$work/subdirectory/compile_commands.json
grep -q -e '-Werror.*common/src/buffer.cpp' "$commands" || fail "spool's own files lost -Werror"
if grep -E -e '-W(all|error).*examples/consumer/main.cpp' "$commands"; then
  fail "spool's build flags reached the consumer's compile line above"
fi
cmake --build "$work/subdirectory" -j "$jobs" --target spool_consumer
round_trip add_subdirectory "$work/subdirectory/spool_consumer"
