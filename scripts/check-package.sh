#!/usr/bin/env bash
# Builds spoold's Debian package (scripts/package.sh) and checks it on this
# machine, as root, the way an administrator meets it:
#   - its control fields: Debian's runtime packages as dependencies, the conffile;
#   - dpkg -i creates the system user spoold and installs the unit, which
#     passes systemd-analyze verify and keeps the sandbox;
#   - the command line the unit runs (its ExecStart, as its User=) serves:
#     memccp stores a file and memccat reads it back, from a spoold that
#     runs as spoold and reports the package's version;
#   - spoold(1) renders without a groff warning;
#   - dpkg -r keeps only /etc/spoold.conf; dpkg -P leaves no file and no user;
#   - libspool-dev installed, a project finds spool under /usr (find_package,
#     pkg-config) and builds; dpkg -P removes it.
# The check's spoold listens on 127.0.0.1 port 0 (appended to the unit's
# flags; the last -p wins), so a memcached on 11211 is no obstacle.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
fail() { echo "check-package: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || fail "run as root: it installs and removes a package"
for p in spoold libspool-dev; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -qv "not-installed"; then
    fail "$p is installed already; dpkg -P $p first"
  fi
done

packages=$("$root/scripts/package.sh")
deb=$(grep '/spoold_[^/]*\.deb$' <<<"$packages") || fail "package.sh named no spoold package: $packages"
version=$(dpkg-deb -f "$deb" Version)
echo "check-package: $deb (version $version)"
depends=$(dpkg-deb -f "$deb" Depends)
for needed in adduser libc6 libevent-core-2.1-7 libfmt9 libssl3 libstdc++6; do
  [[ ", $depends," == *", $needed "* || ", $depends," == *", $needed,"* ]] || fail "Depends lacks $needed: $depends"
done
# Core does TLS itself: nothing links libevent_openssl any more.
[[ $depends != *libevent-openssl* ]] || fail "Depends names libevent-openssl, which nothing links: $depends"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/spoold.conf || fail "/etc/spoold.conf is not a conffile"
contents=$(dpkg-deb -c "$deb")
for path in ./usr/bin/spoold ./usr/libexec/spoold/spoold-wrapper ./lib/systemd/system/spoold.service \
    ./etc/spoold.conf ./usr/share/man/man1/spoold.1.gz; do
  grep -q " $path\$" <<<"$contents" || fail "the package lacks $path"
done
man_warnings=$(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/share/man/man1/spoold.1.gz | zcat |
  groff -man -Tutf8 -ww -z 2>&1)
[[ -z $man_warnings ]] || fail "spoold(1) renders with warnings: $man_warnings"

pid=""
scratch=$(mktemp -d -t spool-package-check.XXXXXX)
cleanup() {
  if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; fi
  rm -rf "$scratch"
  local p
  for p in spoold libspool-dev; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -qv "not-installed"; then dpkg -P "$p" >/dev/null; fi
  done
}
trap cleanup EXIT

dpkg -i "$deb"
unit=/lib/systemd/system/spoold.service
verify=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify: $verify"
if grep -i spoold <<<"$verify"; then fail "systemd-analyze verify complains about spoold (above)"; fi
for setting in User=spoold PrivateTmp=true ProtectSystem=strict NoNewPrivileges=true PrivateDevices=true \
    CapabilityBoundingSet=; do
  grep -qx "$setting" "$unit" || fail "the unit lacks $setting"
done
IFS=: read -r _ _ uid _ _ home shell < <(getent passwd spoold) || fail "no user spoold"
((uid < 1000)) && [[ $home == /nonexistent && $shell == /usr/sbin/nologin ]] ||
  fail "spoold is not an unprivileged system user (uid $uid, home $home, shell $shell)"

# The unit's command line, as the unit's user, with -p 0 -v appended: spoold
# then prints the port it got.
user=$(sed -n 's/^User=//p' "$unit")
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
# shellcheck disable=SC2086 # ExecStart is a list of words
coproc SPOOLD { exec setpriv --reuid="$user" --regid="$user" --init-groups -- $exec_start -p 0 -v 2>&1; }
pid=$SPOOLD_PID
banner=""
for ((i = 0; i < 20; i++)); do
  read -r -t 20 line <&"${SPOOLD[0]}" || fail "spoold printed no 'listening on' line within 20 s"
  if [[ $line == *" listening on "* ]]; then banner=$line; break; fi
done
[[ $banner == "spoold 1.6.18-spoold-$version listening on 127.0.0.1:"* ]] || fail "unexpected banner: '$banner'"
port=${banner##*:}
[[ $(ps -o user= -p "$pid") == spoold ]] || fail "spoold runs as $(ps -o user= -p "$pid"), not spoold"
head -c 3000 /dev/urandom | base64 -w 0 >"$scratch/spool-package-check"
(cd "$scratch" && memccp --servers="127.0.0.1:$port" spool-package-check)
memccat --servers="127.0.0.1:$port" spool-package-check >"$scratch/read-back"
# memccat ends what it prints with a newline.
{ cat "$scratch/spool-package-check"; echo; } | cmp - "$scratch/read-back" || fail "memccat read back something else"
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=""
((status == 0)) || fail "spoold exited with status $status after SIGTERM"
echo "check-package: the unit's command line, as $user, served a memccp/memccat round trip on port $port"

dpkg -r spoold
[[ ! -e /usr/bin/spoold && ! -e $unit && -f /etc/spoold.conf ]] ||
  fail "dpkg -r should remove the program and unit and keep /etc/spoold.conf"
dpkg -P spoold
[[ $(dpkg-query -W -f='${Status}' spoold 2>/dev/null || true) == "" ||
   $(dpkg-query -W -f='${Status}' spoold) == *not-installed ]] || fail "dpkg -P left spoold known to dpkg"
while read -r _ _ _ _ _ path _; do
  path=${path#.}
  [[ $path == / || $path == */ ]] && continue
  [[ ! -e $path ]] || fail "dpkg -P left $path"
done <<<"$contents"
[[ ! -e /etc/systemd/system/multi-user.target.wants/spoold.service ]] || fail "dpkg -P left the unit enabled"
! getent passwd spoold >/dev/null || fail "dpkg -P left the user spoold"
! getent group spoold >/dev/null || fail "dpkg -P left the group spoold"
echo "check-package: dpkg -r kept only the conffile; dpkg -P removed every file, the user and the group"

# The library's package: a project finds it under /usr without being told where.
dev_deb=$(grep '/libspool-dev_[^/]*\.deb$' <<<"$packages") || fail "package.sh named no libspool-dev package"
dpkg -i "$dev_deb"
[[ $(pkg-config --modversion spool) == "$version" ]] || fail "pkg-config does not see spool $version"
cmake -S "$root/examples/consumer" -B "$scratch/consumer" >/dev/null
cmake --build "$scratch/consumer" -j "${SPOOL_JOBS:-$(nproc)}" >/dev/null
[[ -x $scratch/consumer/spool_consumer ]] || fail "the consumer did not build against libspool-dev"
dpkg -P libspool-dev
[[ ! -e /usr/include/spool/transport.h ]] || fail "dpkg -P libspool-dev left the headers"
echo "check-package: a project built against libspool-dev with find_package(spool), without a prefix"
