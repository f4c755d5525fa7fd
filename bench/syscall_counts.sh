#!/usr/bin/env bash
# System calls per request, spoold against memcached in the same run: what
# the server makes (perf stat on its pid, raw_syscalls and epoll_ctl
# tracepoints) while mcload drives it, divided by the requests mcload
# counted. Two loads, each with -t 1:
#   depth1   binary gets, 50 connections, one request in flight each: every
#            request is its own read, reply and poll.
#   tls      binary gets over TLS, 50 connections x depth 16: epoll_ctl per
#            request shows whether replies arm and disarm write events.
#
# usage: bench/syscall_counts.sh [--build DIR] [--reps N] [--duration S]
# Needs perf (linux-perf), memcached (built with TLS: Debian's is), openssl.
# Prints one line per server, load and rep, then the medians.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
build="$repo/build"
reps=2
duration=5
while (($#)); do
  case $1 in
    --build) build=$(cd "$2" && pwd); shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    -h | --help) sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "syscall_counts.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
spoold="$build/server/spoold"
mcload="$build/bench/mcload"
for tool in "$spoold" "$mcload"; do
  [[ -x $tool ]] || { echo "syscall_counts.sh: $tool not found; build with -DSPOOL_BUILD_BENCH=ON" >&2; exit 1; }
done
command -v perf >/dev/null || { echo "syscall_counts.sh: perf not found (apt-get install linux-perf)" >&2; exit 1; }
work=$(mktemp -d)
server_pid=""
cleanup() {
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/key.pem" \
  -out "$work/cert.pem" -days 1 -subj /CN=127.0.0.1 >/dev/null 2>&1

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start SERVER PORT TLS(0|1)
start() {
  local server=$1 port=$2 tls=$3 args=(-p "$2" -l 127.0.0.1 -U 0 -t 1 -m 256 -c 4096)
  [[ $(id -u) -eq 0 ]] && args+=(-u root)
  ((tls)) && args+=(-Z -o "ssl_chain_cert=$work/cert.pem,ssl_key=$work/key.pem")
  if [[ $server == memcached ]]; then
    memcached "${args[@]}" 2>"$work/server.err" &
  else
    "$spoold" "${args[@]}" --exec=inline 2>"$work/server.err" &
  fi
  server_pid=$!
  for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $port)).close()" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "syscall_counts.sh: $server did not start: $(head -c 300 "$work/server.err")" >&2
  exit 1
}
stop() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

# measure SERVER LOAD: prints "server load calls/request epoll_ctl/request requests"
measure() {
  local server=$1 load=$2 port tls=0 options
  port=$(free_port)
  case $load in
    depth1) options=(--protocol binary --conns 50 --depth 1 --set-ratio 0) ;;
    tls) tls=1; options=(--protocol binary --conns 50 --depth 16 --set-ratio 0 --tls --tls-ca "$work/cert.pem") ;;
  esac
  start "$server" "$port" "$tls"
  # The load runs for warmup + duration; perf counts only the duration.
  "$mcload" --port "$port" --threads 2 --warmup 1 --duration "$duration" --json "${options[@]}" \
    >"$work/load.json" &
  local load_pid=$!
  sleep 1.5  # mcload's prefill and warmup
  perf stat -x, -e raw_syscalls:sys_enter -e syscalls:sys_enter_epoll_ctl -p "$server_pid" \
    -o "$work/perf.csv" -- sleep "$((duration - 1))" 2>/dev/null
  wait "$load_pid"
  stop
  python3 - "$work/perf.csv" "$work/load.json" "$server" "$load" "$duration" <<'EOF'
import json, sys
perf, load, server, name, duration = sys.argv[1:6]
counts = {}
for line in open(perf):
    parts = line.strip().split(",")
    if len(parts) > 2 and parts[0].isdigit():
        counts[parts[2]] = int(parts[0])
result = json.load(open(load))
# perf counted duration - 1 seconds of a run mcload measured for `duration`.
requests = result["ops"] * (int(duration) - 1) / int(duration)
calls = counts.get("raw_syscalls:sys_enter", 0) / requests
epoll = counts.get("syscalls:sys_enter_epoll_ctl", 0) / requests
print(f"{server:10} {name:7} {calls:8.3f} syscalls/request {epoll:8.4f} epoll_ctl/request "
      f"({int(requests)} requests)")
EOF
}

echo "# server     load    system calls per request (server side), epoll_ctl per request"
for rep in $(seq "$reps"); do
  for load in depth1 tls; do
    for server in spoold memcached; do
      measure "$server" "$load" | tee -a "$work/lines"
    done
  done
done
echo "# medians over $reps runs"
python3 - "$work/lines" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    rows.setdefault((f[0], f[1]), []).append((float(f[2]), float(f[4])))
for (server, load), values in sorted(rows.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    calls = statistics.median(v[0] for v in values)
    epoll = statistics.median(v[1] for v in values)
    print(f"{server:10} {load:7} {calls:8.3f} syscalls/request {epoll:8.4f} epoll_ctl/request")
EOF
