#!/usr/bin/env bash
# The standard benchmark matrix: handoff, stream and server load, each cell
# several times, baselines in the same run. Writes bench/results/<date>.json,
# regenerates the tables in docs/benchmarks.md and draws the PNG plots.
#
# usage: bench/run.sh [options]
#   --build DIR       build folder with the benchmarks (default: <repo>/build)
#   --parts LIST      comma-separated: handoff,stream,server (default: all three;
#                     server needs <build>/server/spoold, or runs memcached alone
#                     with --memcached-only)
#   --reps N          runs per cell (default 3): medians with min-max
#   --quick           a few small cells, 1 run each, short durations: checks the
#                     script and the tools, not the numbers
#   --tls             add binary TLS gets to the server part
#   --memcached-only  server part without spoold
#   --preload LIB     LD_PRELOAD for every server process (stream_server, spoold,
#                     memcached), e.g. /usr/lib/x86_64-linux-gnu/libjemalloc.so.2:
#                     shows what the allocator costs (see docs/benchmarks.md)
#   --out FILE        results file (default: bench/results/<date>.json)
#   --no-docs         leave docs/benchmarks.md and the plots alone
# Runs in about 13 minutes on 2 cores. Needs python3, gnuplot (gnuplot-nox),
# memcached and openssl (scripts/install-deps.sh installs them).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
build="$repo/build"
parts="handoff,stream,server"
reps=3
quick=0
tls=0
memcached_only=0
out=""
preload=""
docs=1
command_line="bench/run.sh $*"
while (($#)); do
  case $1 in
    --build) build=$(cd "$2" && pwd); shift 2 ;;
    --parts) parts=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --quick) quick=1; reps=1; shift ;;
    --tls) tls=1; shift ;;
    --memcached-only) memcached_only=1; shift ;;
    --preload) preload=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-docs) docs=0; shift ;;
    -h|--help) sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
has_part() { [[ ",$parts," == *",$1,"* ]]; }
if [[ -n $preload ]]; then
  [[ -r $preload ]] || { echo "run.sh: --preload $preload: no such library" >&2; exit 1; }
  server_env=(env "LD_PRELOAD=$preload")
else
  server_env=(env)
fi

bin="$build/bench"
for tool in handoff stream_server stream_client mcload; do
  [[ -x $bin/$tool ]] || {
    echo "run.sh: $bin/$tool not found; build first:" >&2
    echo "  cmake -S $repo -B $build -DCMAKE_BUILD_TYPE=Release && cmake --build $build -j2" >&2
    exit 1
  }
done
spoold="$build/server/spoold"
if has_part server && ((!memcached_only)) && [[ ! -x $spoold ]]; then
  echo "run.sh: $spoold not found (spoold not built yet?); use --memcached-only or --parts handoff,stream" >&2
  exit 1
fi

date_tag=$(date -u +%Y-%m-%d)
[[ -n $out ]] || out="$repo/bench/results/$date_tag.json"
work=$(mktemp -d)
raw="$work/raw.jsonl"
: >"$raw"
server_pid=""
cleanup() {
  trap - EXIT INT TERM
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# record PART CELL_JSON RESULT_JSON: one line of raw results.
record() { printf '{"part": "%s", "cell": %s, "result": %s}\n' "$1" "$2" "$3" >>"$raw"; }
log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# ---------------------------------------------------------------- handoff
if has_part handoff; then
  duration=1.0; configs="1:1 2:1 4:1 1:2 2:2 4:2"
  ((quick)) && { duration=0.2; configs="1:1 2:2"; }
  for rep in $(seq "$reps"); do
    for pl in $configs; do
      p=${pl%:*} l=${pl#*:}
      log "handoff P=$p L=$l rep $rep"
      result=$("$bin/handoff" --producers "$p" --loops "$l" --duration "$duration" --json)
      record handoff "{\"producers\": $p, \"loops\": $l}" "$result"
    done
  done
fi

# ---------------------------------------------------------------- stream
# run_stream MODE SIZE PRODUCERS: one server + client pair.
run_stream() {
  local mode=$1 size=$2 producers=$3 port=""
  # The previous server's files must go first: the shell truncates them in
  # the child, after fork, so a quick poll could read the old port.
  rm -f "$work/server.json" "$work/server.err"
  "${server_env[@]}" "$bin/stream_server" --mode "$mode" --port 0 --loops 1 --producers "$producers" --msg-size "$size" \
    --window 1048576 --max-seconds 60 >"$work/server.json" 2>"$work/server.err" &
  server_pid=$!
  for _ in $(seq 200); do
    port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$work/server.err" 2>/dev/null || true)
    [[ -n $port ]] && break
    sleep 0.05
  done
  [[ -n $port ]] || { echo "run.sh: stream_server did not start" >&2; cat "$work/server.err" >&2; exit 1; }
  local client
  client=$("$bin/stream_client" --port "$port" --conns 16 --warmup "$stream_warmup" \
    --duration "$stream_duration" --json)
  wait "$server_pid"
  server_pid=""
  record stream "{\"mode\": \"$mode\", \"msg_size\": $size, \"producers\": $producers, \"conns\": 16, \"window\": 1048576}" \
    "{\"client\": $client, \"server\": $(cat "$work/server.json")}"
}
if has_part stream; then
  stream_warmup=0.5; stream_duration=2; sizes="64 1024 16384"; producer_counts="1 2"
  ((quick)) && { stream_warmup=0.2; stream_duration=0.5; sizes="1024"; producer_counts="1"; }
  for rep in $(seq "$reps"); do
    for size in $sizes; do
      log "stream loop ${size}B rep $rep"
      run_stream loop "$size" 1
      for producers in $producer_counts; do
        for mode in spool post threadsafe; do
          log "stream $mode ${size}B P=$producers rep $rep"
          run_stream "$mode" "$size" "$producers"
        done
      done
    done
  done
fi

# ---------------------------------------------------------------- server
free_port() {
  local port
  for _ in $(seq 50); do
    port=$((20000 + RANDOM % 30000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
  echo "run.sh: no free port" >&2
  exit 1
}
wait_listening() {
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "run.sh: server on port $1 did not start" >&2
  exit 1
}
# start_server NAME THREADS PORT TLS_PORT: spoold-inline, spoold-workers or memcached.
start_server() {
  local name=$1 threads=$2 port=$3 tls_port=$4 listen="127.0.0.1"
  local tls_args=()
  if ((tls)); then
    listen="notls:127.0.0.1:$port,127.0.0.1:$tls_port"
    tls_args=(-Z -o "ssl_chain_cert=$work/cert.pem,ssl_key=$work/key.pem")
  fi
  case $name in
    memcached)
      local user=(); [[ $(id -u) -eq 0 ]] && user=(-u root)
      "${server_env[@]}" memcached "${user[@]}" -p "$port" -l "$listen" -t "$threads" -m 1024 -c 4096 "${tls_args[@]}" &
      ;;
    spoold-inline)
      "${server_env[@]}" "$spoold" -p "$port" -l "$listen" -t "$threads" -m 1024 -c 4096 --exec=inline "${tls_args[@]}" & ;;
    spoold-workers)
      "${server_env[@]}" "$spoold" -p "$port" -l "$listen" -t "$threads" -m 1024 -c 4096 --exec=workers --workers "$threads" \
        "${tls_args[@]}" & ;;
  esac
  server_pid=$!
  wait_listening "$port"
}
stop_server() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
# Scenarios: "name|mcload options". Small gets at 1/10/50 connections x depth
# 1/16 (binary), one text gets cell, 1 KiB and 64 KiB sets in both protocols.
scenarios=()
for conns in 1 10 50; do
  for depth in 1 16; do
    scenarios+=("get-binary-c${conns}-d${depth}|--protocol binary --conns $conns --depth $depth --keys 10000 --value-size 32")
  done
done
scenarios+=("get-text-c50-d16|--protocol text --conns 50 --depth 16 --keys 10000 --value-size 32")
for proto in binary text; do
  scenarios+=("set1k-$proto-c10-d16|--protocol $proto --conns 10 --depth 16 --set-ratio 1 --keys 10000 --value-size 1024")
  scenarios+=("set64k-$proto-c10-d4|--protocol $proto --conns 10 --depth 4 --set-ratio 1 --keys 100 --value-size 65536")
done
((tls)) && scenarios+=("get-binary-tls-c50-d16|--protocol binary --tls --conns 50 --depth 16 --keys 10000 --value-size 32")
if has_part server; then
  server_warmup=0.5; server_duration=1.5; servers="spoold-inline spoold-workers memcached"
  ((memcached_only)) && servers="memcached"
  if ((quick)); then
    server_warmup=0.2; server_duration=0.5
    scenarios=("${scenarios[2]}" "${scenarios[7]}")
  fi
  if ((tls)); then
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" -days 1 \
      -subj /CN=127.0.0.1 >/dev/null 2>&1
  fi
  for rep in $(seq "$reps"); do
    for server in $servers; do
      for threads in 1 2; do
        port=$(free_port); tls_port=$((port + 1))
        start_server "$server" "$threads" "$port" "$tls_port"
        for scenario in "${scenarios[@]}"; do
          name=${scenario%%|*} options=${scenario#*|}
          target=$port; [[ $name == *tls* ]] && target=$tls_port
          log "server $server t=$threads $name rep $rep"
          # shellcheck disable=SC2086  # options is a word list
          result=$("$bin/mcload" --port "$target" --threads 2 --warmup "$server_warmup" \
            --duration "$server_duration" --server-pid "$server_pid" --json $options)
          record server "{\"server\": \"$server\", \"threads\": $threads, \"scenario\": \"$name\"}" "$result"
        done
        stop_server
      done
    done
  done
fi

# ---------------------------------------------------------------- report
mkdir -p "$(dirname "$out")"
doc_args=()
((docs)) && doc_args=(--docs "$repo/docs/benchmarks.md" --plots "$repo/docs/img")
python3 "$here/report.py" --raw "$raw" --out "$out" --command "$command_line" --preload "$preload" "${doc_args[@]}"
log "results in $out"
