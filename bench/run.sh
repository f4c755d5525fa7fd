#!/usr/bin/env bash
# The standard benchmark matrix: handoff, stream and server load, each cell
# several times, baselines in the same run (stream: raw-loop, a plain libevent
# server generating frames on its loop thread, is the upper bound; over TLS,
# raw-loop with OpenSSL on the socket is). Writes
# bench/results/<date>.json,
# regenerates the tables in docs/benchmarks.md and draws the PNG plots.
#
# usage: bench/run.sh [options]
#   --build DIR       build folder with the benchmarks (default: <repo>/build)
#   --folly-build DIR a second build folder, configured with -DSPOOL_BACKEND=folly
#                     (or -DSPOOL_BENCH_FOLLY=ON): adds, in the same run, handoff's
#                     folly-post strategy, stream mode spool from both builds
#                     (spool-libevent from --build, spool-folly from here) and
#                     folly's own modes folly-post and folly-wait (1 producer
#                     only: it is ~100x slower), and the server part's spoold
#                     from both builds (spoold-folly-inline, -workers)
#   --parts LIST      comma-separated: handoff,stream,server,openloop,idle,memory
#                     (default: all; the last four need spoold, or run
#                     memcached alone with --memcached-only)
#   --spoold PATH     the server to measure (default: <build>/server/spoold)
#   --reps N          runs per cell (default 3): medians with min-max
#   --quick           a few small cells, 1 run each, short durations: checks the
#                     script and the tools, not the numbers
#   --tls             add TLS cells: stream (spool, loop and raw-loop modes, 64 B,
#                     1 KiB and 16 KiB, 1 producer, next to the same cells in
#                     plain TCP) and server (binary gets on a TLS-only server
#                     started with -Z); the certificate (EC P-256) is made at
#                     run time
#   --memcached-only  server part without spoold
#   --preload LIB     LD_PRELOAD for every server process (stream_server, spoold,
#                     memcached), e.g. /usr/lib/x86_64-linux-gnu/libjemalloc.so.2:
#                     shows what the allocator costs (see docs/benchmarks.md)
#   --out FILE        results file (default: bench/results/<date>.json, or
#                     <date>-<HHMM>.json when that exists); never overwritten
#   --no-docs         leave docs/benchmarks.md and the plots alone
#   --estimate        print the cells and the estimated duration, run nothing
# Prints its estimated duration first and the actual one at the end: about
# 12 minutes on 2 cores, 14 with --tls, 19 with --folly-build. Needs python3,
# gnuplot (gnuplot-nox), memcached and openssl (scripts/install-deps.sh
# installs them).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
build="$repo/build"
folly_build=""
parts="handoff,stream,server,openloop,idle,memory"
spoold=""
reps=3
quick=0
tls=0
memcached_only=0
out=""
preload=""
docs=1
estimate_only=0
command_line="bench/run.sh $*"
while (($#)); do
  case $1 in
    --build) build=$(cd "$2" && pwd); shift 2 ;;
    --folly-build) folly_build=$(cd "$2" && pwd); shift 2 ;;
    --parts) parts=$2; shift 2 ;;
    --spoold) spoold=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --quick) quick=1; reps=1; shift ;;
    --tls) tls=1; shift ;;
    --memcached-only) memcached_only=1; shift ;;
    --preload) preload=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-docs) docs=0; shift ;;
    --estimate) estimate_only=1; shift ;;
    -h|--help) sed -n '2,41p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
[[ -n $spoold ]] || spoold="$build/server/spoold"
if { has_part server || has_part openloop; } && ((!memcached_only && !estimate_only)) && [[ ! -x $spoold ]]; then
  echo "run.sh: $spoold not found (spoold not built yet?); use --memcached-only, --spoold PATH or --parts handoff,stream" >&2
  exit 1
fi
# The folly build's tools: its handoff and stream_server must have been built
# with folly (the folly strategies and modes), its spoold on its backend.
fbin=""
folly_spoold=""
folly_info=""
if [[ -n $folly_build ]]; then
  fbin="$folly_build/bench"
  folly_spoold="$folly_build/server/spoold"
  for tool in handoff stream_server; do
    usage=$("$fbin/$tool" --help 2>&1 || true)
    [[ $usage == *folly-post* ]] || {
      echo "run.sh: $fbin/$tool missing or built without folly; build it first:" >&2
      echo "  cmake -S $repo -B $folly_build -DCMAKE_BUILD_TYPE=Release -DSPOOL_BACKEND=folly && cmake --build $folly_build -j2" >&2
      exit 1
    }
  done
  if { has_part server || has_part openloop; } && ((!memcached_only && !estimate_only)) && [[ ! -x $folly_spoold ]]; then
    echo "run.sh: $folly_spoold not found (spoold not built in --folly-build?); use --parts handoff,stream" >&2
    exit 1
  fi
  folly_backend=$(sed -n 's/^SPOOL_BACKEND:[A-Z]*=//p' "$folly_build/CMakeCache.txt" 2>/dev/null || true)
  [[ $folly_backend == folly ]] ||
    echo "run.sh: note: $folly_build is a '${folly_backend:-unknown}' backend build; its spool cells are still labelled spool-folly" >&2
  folly_prefix=$(sed -n 's/^SPOOL_FOLLY_PREFIX:[A-Z]*=//p' "$folly_build/CMakeCache.txt" 2>/dev/null || true)
  folly_info="folly $(cat "$folly_prefix/.spool-folly-version" 2>/dev/null || echo '(version unknown)'); --folly-build's spool backend: ${folly_backend:-unknown}"
fi
if { has_part server || has_part openloop; } && ((!estimate_only)) && ! command -v memcached >/dev/null; then
  echo "run.sh: memcached not installed (the server part's baseline); scripts/install-deps.sh installs it" >&2
  exit 1
fi

# ---------------------------------------------------------------- the matrix
# handoff: "producers:loops" configurations; each runs its 5 strategies one
# after another for handoff_duration seconds each.
handoff_duration=1.0; handoff_configs="1:1 2:1 4:1 1:2 2:2 4:2"
# stream: every mode at every size and producer count (loop and raw-loop once
# per size); with --tls, the spool, loop and raw-loop modes again over TLS at
# stream_tls_sizes.
stream_warmup=0.5; stream_duration=2; stream_sizes="64 1024 16384"; stream_producers="1 2"
stream_tls_sizes="64 1024 16384"
# server: "name|mcload options". Small gets at 1/10/50 connections x depth
# 1/16 (binary), one text gets cell, 1 KiB and 64 KiB sets in both protocols;
# with --tls, binary gets at 50 x 16 on a server started with TLS only.
server_warmup=0.5; server_duration=1.5; servers="spoold-inline spoold-workers memcached"
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
tls_scenarios=("get-binary-tls-c50-d16|--protocol binary --tls --conns 50 --depth 16 --keys 10000 --value-size 32")
# openloop: binary gets from 50 connections (at most 16 outstanding each) at
# fixed offered rates, latency from each request's scheduled time, every
# server with -t 2; a server's higher rates are skipped once it falls below
# 90% of what was offered (saturated).
openloop_warmup=0.5; openloop_duration=1.5
openloop_rates="50000 100000 200000 300000 400000 500000 600000 800000 1000000"
# idle: how cost grows with connections. Binary gets from 50 connections x
# depth 16 against each server with 1 and 2 loops, first alone, then with
# idle_count more connections open beside them (each answered once, then
# silent): the time to open them, the server's RSS per idle connection, and
# the active throughput with them open.
idle_count=10000
# memory: a -m 64 cache filled with 1 M sets of 100-byte values (16-byte
# keys), once per server with -t 2: the items it keeps and its RSS growth.
memory_keys=1000000
if ((quick)); then
  handoff_duration=0.2; handoff_configs="1:1 2:2"
  stream_warmup=0.2; stream_duration=0.5; stream_sizes="1024"; stream_producers="1"; stream_tls_sizes="1024"
  server_warmup=0.2; server_duration=0.5
  scenarios=("${scenarios[2]}" "${scenarios[7]}")
  openloop_warmup=0.2; openloop_duration=0.5; openloop_rates="50000 200000"
  idle_count=1000
  memory_keys=100000
fi
# With --folly-build: spool from both builds at every stream cell, folly's
# own modes beside them (folly-wait at 1 producer only), and spoold from both
# builds, each backend's cell right after the other's.
folly_wait_producers=""
if [[ -n $folly_build ]]; then
  folly_wait_producers="1"
  servers="spoold-inline spoold-folly-inline spoold-workers spoold-folly-workers memcached"
fi
((memcached_only)) && servers="memcached"
((tls)) || { stream_tls_sizes=""; tls_scenarios=(); }
words() { echo $#; }

# Seconds a cell takes beyond its timed part (process start, prefill, exit):
# about 0.1-0.15 s per cell and 0.3 s per server start on a loaded 2-core
# VM, padded here by half. The full matrix must stay under 15 minutes.
handoff_cells=$((reps * $(words $handoff_configs)))
# handoff runs its default strategies: 5, and folly-post where --build has
# folly. With --folly-build, folly-post runs from there instead, in a second process.
handoff_strategies=5 handoff_runs=1 handoff_base=()
usage=$("$bin/handoff" --help 2>&1 || true)
[[ $usage == *folly-post* ]] && handoff_strategies=6
if [[ -n $folly_build ]]; then
  handoff_strategies=6 handoff_runs=2 handoff_base=(--strategies spool,mutex,eventfd,locked,wait)
fi
per_producers=3  # spool, post, locked
[[ -n $folly_build ]] && per_producers=5  # and spool-folly, folly-post
stream_cells=$((reps * ($(words $stream_sizes) * (2 + per_producers * $(words $stream_producers) +
  $(words $folly_wait_producers)) + 3 * $(words $stream_tls_sizes))))
server_starts=$((reps * $(words $servers) * 2 * (1 + (${#tls_scenarios[@]} > 0))))
server_cells=$((reps * $(words $servers) * 2 * (${#scenarios[@]} + ${#tls_scenarios[@]})))
openloop_cells=$((reps * $(words $servers) * $(words $openloop_rates)))
has_part handoff || handoff_cells=0
idle_cells=$((reps * $(words $servers) * 2 * 2))
memory_cells=$((reps * $(words $servers)))
has_part openloop || openloop_cells=0
has_part idle || idle_cells=0
has_part memory || memory_cells=0
has_part stream || stream_cells=0
has_part server || { server_starts=0; server_cells=0; }
estimate=$(awk -v h="$handoff_cells" -v hd="$handoff_duration" -v hs="$handoff_strategies" \
  -v hr="$handoff_runs" -v s="$stream_cells" \
  -v sd="$stream_warmup + $stream_duration" -v v="$server_cells" -v vd="$server_warmup + $server_duration" \
  -v st="$server_starts" -v m="$memory_cells" -v k="$memory_keys" -v i="$idle_cells" -v n="$idle_count" -v o="$openloop_cells" -v od="$openloop_warmup + $openloop_duration" 'BEGIN {
    split(sd, a, "+"); split(vd, b, "+"); split(od, c, "+")
    printf "%d", h * (hs * hd + 0.2 * hr) + s * (a[1] + a[2] + 0.25) + v * (b[1] + b[2] + 0.25) + st * 0.5 \
      + o * (c[1] + c[2] + 0.4) + i * (b[1] + b[2] + 0.25 + 0.5 + n / 20000) + m * (1 + k / 150000) }')
minutes() { printf '%d min %02d s' $(($1 / 60)) $(($1 % 60)); }

# Every run keeps its own results file: a second run on the same day gets the
# time of day in its name instead of replacing the first one's.
date_tag=$(date -u +%Y-%m-%d)
if [[ -z $out ]]; then
  out="$repo/bench/results/$date_tag.json"
  [[ -e $out ]] && out="$repo/bench/results/$date_tag-$(date -u +%H%M).json"
fi
if [[ -e $out ]] && ((!estimate_only)); then
  echo "run.sh: $out exists; results files are kept, pass another --out" >&2
  exit 2
fi
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
# json_or_error TEXT WHY: TEXT when it is one JSON object, else {"error": WHY}.
json_or_error() {
  if [[ $1 == \{*\} ]]; then printf '%s' "$1"; else printf '{"error": "%s"}' "$2"; fi
}

log "$handoff_cells handoff, $stream_cells stream, $server_cells server, at most $openloop_cells open-loop, $idle_cells idle-connection and $memory_cells memory cells: about $(minutes "$estimate")"
# The 15-minute budget is the standard matrix's; --folly-build adds its own cells.
[[ -n $folly_build ]] || ((estimate <= 900)) || log "that is over the 15-minute budget of the standard matrix"
((!estimate_only)) || exit 0
started=$SECONDS

if ((tls)); then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/key.pem" \
    -out "$work/cert.pem" -days 1 -subj /CN=127.0.0.1 >/dev/null 2>&1 ||
    { echo "run.sh: openssl could not make a certificate" >&2; exit 1; }
fi

# ---------------------------------------------------------------- handoff
if has_part handoff; then
  for rep in $(seq "$reps"); do
    for pl in $handoff_configs; do
      p=${pl%:*} l=${pl#*:}
      log "handoff P=$p L=$l rep $rep"
      result=$("$bin/handoff" "${handoff_base[@]}" --producers "$p" --loops "$l" --duration "$handoff_duration" --json)
      record handoff "{\"producers\": $p, \"loops\": $l}" "$result"
      if [[ -n $folly_build ]]; then
        log "handoff P=$p L=$l folly-post rep $rep"
        result=$("$fbin/handoff" --strategies folly-post --producers "$p" --loops "$l" \
          --duration "$handoff_duration" --json)
        record handoff "{\"producers\": $p, \"loops\": $l}" "$result"
      fi
    done
  done
fi

# ---------------------------------------------------------------- stream
# run_stream MODE SIZE PRODUCERS TLS(0|1) [BIN [LABEL]]: one server + client
# pair, the server from BIN (default: --build's). LABEL names the cell in the
# report where one mode runs from two builds. A bad frame or a crash is
# recorded (report.py lists it) and the matrix goes on.
run_stream() {
  local mode=$1 size=$2 producers=$3 with_tls=$4 server_bin=${5:-$bin} label=${6:-}
  local port="" server_tls=() client_tls=() label_json=""
  [[ -n $label ]] && label_json=", \"label\": \"$label\""
  if ((with_tls)); then
    server_tls=(--tls-cert "$work/cert.pem" --tls-key "$work/key.pem")
    client_tls=(--tls --tls-ca "$work/cert.pem")
  fi
  # The previous server's files must go first: the shell truncates them in
  # the child, after fork, so a quick poll could read the old port.
  rm -f "$work/server.json" "$work/server.err"
  "${server_env[@]}" "$server_bin/stream_server" --mode "$mode" --port 0 --loops 1 --producers "$producers" --msg-size "$size" \
    --window 1048576 --max-seconds 60 "${server_tls[@]}" >"$work/server.json" 2>"$work/server.err" &
  server_pid=$!
  for _ in $(seq 200); do
    port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$work/server.err" 2>/dev/null || true)
    [[ -n $port ]] && break
    sleep 0.05
  done
  [[ -n $port ]] || { echo "run.sh: stream_server did not start" >&2; cat "$work/server.err" >&2; exit 1; }
  local client server_rc=0
  client=$("$bin/stream_client" --port "$port" --conns 16 --warmup "$stream_warmup" \
    --duration "$stream_duration" --json "${client_tls[@]}") || log "stream_client failed: $client"
  wait "$server_pid" || server_rc=$?
  server_pid=""
  local tls_json=false
  ((with_tls)) && tls_json=true
  record stream "{\"mode\": \"$mode\"$label_json, \"msg_size\": $size, \"producers\": $producers, \"conns\": 16, \"window\": 1048576, \"tls\": $tls_json}" \
    "{\"client\": $(json_or_error "$client" "stream_client printed no result"), \"server\": $(json_or_error \
    "$(cat "$work/server.json")" "stream_server exited with status $server_rc")}"
}
if has_part stream; then
  for rep in $(seq "$reps"); do
    for size in $stream_sizes; do
      # Plain and TLS cells of a size run back to back: their ratio is of
      # the same moment of the machine.
      tls_here=0
      [[ " $stream_tls_sizes " == *" $size "* ]] && tls_here=1
      log "stream raw-loop ${size}B rep $rep"
      run_stream raw-loop "$size" 1 0
      if ((tls_here)); then
        # The TLS upper bound: OpenSSL on the socket, frames made on the loop.
        log "stream raw-loop ${size}B TLS rep $rep"
        run_stream raw-loop "$size" 1 1
      fi
      log "stream loop ${size}B rep $rep"
      run_stream loop "$size" 1 0
      if ((tls_here)); then
        log "stream loop ${size}B TLS rep $rep"
        run_stream loop "$size" 1 1
      fi
      for producers in $stream_producers; do
        for mode in spool post locked; do
          label=""
          [[ -n $folly_build && $mode == spool ]] && label=spool-libevent
          log "stream ${label:-$mode} ${size}B P=$producers rep $rep"
          run_stream "$mode" "$size" "$producers" 0 "$bin" "$label"
          if ((tls_here)) && [[ $mode == spool && $producers == 1 ]]; then
            log "stream ${label:-$mode} ${size}B P=$producers TLS rep $rep"
            run_stream "$mode" "$size" "$producers" 1 "$bin" "$label"
          fi
          if [[ -n $folly_build && $mode == spool ]]; then
            log "stream spool-folly ${size}B P=$producers rep $rep"
            run_stream spool "$size" "$producers" 0 "$fbin" spool-folly
          fi
        done
        if [[ -n $folly_build ]]; then
          log "stream folly-post ${size}B P=$producers rep $rep"
          run_stream folly-post "$size" "$producers" 0 "$fbin"
        fi
        if [[ " $folly_wait_producers " == *" $producers "* ]]; then
          log "stream folly-wait ${size}B P=$producers rep $rep"
          run_stream folly-wait "$size" "$producers" 0 "$fbin"
        fi
      done
    done
  done
fi

# ---------------------------------------------------------------- server
# Below Linux's default ephemeral range (32768-60999), so that no client
# socket of an earlier cell can hold the port the next server binds.
free_port() {
  local port
  for _ in $(seq 50); do
    port=$((20000 + RANDOM % 12000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
  echo "run.sh: no free port" >&2
  exit 1
}
# wait_listening PORT: 0 once the server accepts, 1 if it exited first or
# did not listen within 10 s.
wait_listening() {
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  return 1
}
# start_server NAME THREADS PORT TLS(0|1): spoold-inline, spoold-workers (the
# --folly-build's: spoold-folly-inline, spoold-folly-workers) or memcached,
# with the flags both understand (memcached's). With TLS every listener is
# TLS (-Z). 1 when it did not come up (its stderr in server.err).
spoold_of() { if [[ $1 == spoold-folly-* ]]; then echo "$folly_spoold"; else echo "$spoold"; fi; }
start_server() {
  local name=$1 threads=$2 port=$3 with_tls=$4 megabytes=${5:-1024}
  local common=(-p "$port" -l 127.0.0.1 -U 0 -t "$threads" -m "$megabytes" -c $((idle_count + 4096))) tls_args=()
  ((with_tls)) && tls_args=(-Z -o "ssl_chain_cert=$work/cert.pem,ssl_key=$work/key.pem")
  # As root both need -u (spoold as memcached): both stay root, as before.
  [[ $(id -u) -eq 0 ]] && common+=(-u root)
  case $name in
    memcached)
      "${server_env[@]}" memcached "${common[@]}" "${tls_args[@]}" 2>"$work/server.err" & ;;
    spoold-inline | spoold-folly-inline)
      "${server_env[@]}" "$(spoold_of "$name")" "${common[@]}" --exec=inline "${tls_args[@]}" \
        2>"$work/server.err" & ;;
    spoold-workers | spoold-folly-workers)
      # The pool at its default size (spoold's workerCount: one per -t
      # thread, at most the cores the loops leave free, at least one).
      "${server_env[@]}" "$(spoold_of "$name")" "${common[@]}" --exec=workers \
        "${tls_args[@]}" 2>"$work/server.err" & ;;
  esac
  server_pid=$!
  wait_listening "$port" && return 0
  stop_server
  return 1
}
# stop_server: SIGTERM, then SIGKILL after 5 s (a server that does not stop
# must not hang the matrix).
stop_server() {
  kill "$server_pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$server_pid" 2>/dev/null; then
    log "server pid $server_pid ignored SIGTERM for 5 s: killed"
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
# run_scenarios SERVER THREADS TLS(0|1) SCENARIO...: one server start, then
# each scenario against it. A server that will not start with TLS is noted
# and skipped (a spoold built before its TLS support); without TLS it stops
# the run.
run_scenarios() {
  local server=$1 threads=$2 with_tls=$3 port
  shift 3
  (($#)) || return 0
  port=$(free_port)
  local tries=1
  # A port taken between the check and the bind: try another one.
  while ! start_server "$server" "$threads" "$port" "$with_tls" && ((tries++ < 3)) &&
    grep -q "in use" "$work/server.err"; do
    port=$(free_port)
  done
  if ! kill -0 "$server_pid" 2>/dev/null; then
    local why
    why=$(head -c 300 "$work/server.err" | tr '\n"\\' '   ')
    if ((with_tls)); then
      log "server $server t=$threads did not start with TLS, its TLS cells are skipped: $why"
      for scenario in "$@"; do
        record server "{\"server\": \"$server\", \"threads\": $threads, \"scenario\": \"${scenario%%|*}\"}" \
          "{\"skipped\": \"did not start with -Z: $why\"}"
      done
      return 0
    fi
    echo "run.sh: $server on port $port did not start: $why" >&2
    exit 1
  fi
  for scenario in "$@"; do
    local name=${scenario%%|*} options=${scenario#*|} result
    log "server $server t=$threads $name rep $rep"
    # shellcheck disable=SC2086  # options is a word list
    result=$("$bin/mcload" --port "$port" --threads 2 --warmup "$server_warmup" --duration "$server_duration" \
      --server-pid "$server_pid" --json $options) || log "mcload reported errors: $result"
    record server "{\"server\": \"$server\", \"threads\": $threads, \"scenario\": \"$name\"}" \
      "$(json_or_error "$result" "mcload printed no result")"
  done
  stop_server
}
if has_part server; then
  for rep in $(seq "$reps"); do
    for server in $servers; do
      for threads in 1 2; do
        run_scenarios "$server" "$threads" 0 "${scenarios[@]}"
        run_scenarios "$server" "$threads" 1 "${tls_scenarios[@]}"
      done
    done
  done
fi

# ---------------------------------------------------------------- open loop
# run_openloop SERVER: one server start (-t 2), then each offered rate in
# turn until the server saturates.
run_openloop() {
  local server=$1 port result achieved
  port=$(free_port)
  start_server "$server" 2 "$port" 0 || { echo "run.sh: $server did not start" >&2; cat "$work/server.err" >&2; exit 1; }
  for rate in $openloop_rates; do
    log "openloop $server rate $rate rep $rep"
    result=$("$bin/mcload" --port "$port" --threads 2 --conns 50 --depth 16 --protocol binary --keys 10000 \
      --value-size 32 --rate "$rate" --warmup "$openloop_warmup" --duration "$openloop_duration" \
      --server-pid "$server_pid" --json) || log "mcload reported errors: $result"
    record openloop "{\"server\": \"$server\", \"threads\": 2, \"rate\": $rate}" \
      "$(json_or_error "$result" "mcload printed no result")"
    achieved=$(sed -n 's/.*"ops_per_s": \([0-9.e+]*\).*/\1/p' <<<"$result")
    if [[ -z $achieved ]] || awk -v a="$achieved" -v r="$rate" 'BEGIN { exit !(a < 0.9 * r) }'; then
      log "openloop $server saturated at $rate/s (achieved ${achieved:-nothing})"
      break
    fi
  done
  stop_server
}
# every_server FUNCTION: FUNCTION SERVER for each server, reps times.
every_server() {
  for rep in $(seq "$reps"); do
    for server in $servers; do
      "$1" "$server"
    done
  done
}
if has_part openloop; then
  every_server run_openloop
fi

# ---------------------------------------------------------------- idle connections
# run_idle SERVER THREADS: the active load alone, then (a fresh server) with
# idle_count idle connections beside it.
run_idle() {
  local server=$1 threads=$2 port result idle
  for idle in 0 "$idle_count"; do
    port=$(free_port)
    start_server "$server" "$threads" "$port" 0 || { echo "run.sh: $server did not start" >&2; cat "$work/server.err" >&2; exit 1; }
    log "idle $server t=$threads with $idle idle connections rep $rep"
    result=$("$bin/mcload" --port "$port" --threads 2 --conns 50 --depth 16 --protocol binary --keys 10000 \
      --value-size 32 --idle-conns "$idle" --warmup "$server_warmup" --duration "$server_duration" \
      --server-pid "$server_pid" --json) || log "mcload reported errors: $result"
    record idle "{\"server\": \"$server\", \"threads\": $threads, \"idle\": $idle}" \
      "$(json_or_error "$result" "mcload printed no result")"
    stop_server
  done
}
if has_part idle; then
  # The client holds idle_count + 50 sockets, and each server idle_count +
  # 50 connections of -c idle_count + 4096 (the soft limit only: servers
  # raise theirs to -c within the hard limit).
  ulimit -Sn $((idle_count + 8192)) 2>/dev/null || ulimit -Sn "$(ulimit -Hn)"
  for rep in $(seq "$reps"); do
    for server in $servers; do
      for threads in 1 2; do
        run_idle "$server" "$threads"
      done
    done
  done
fi

# ---------------------------------------------------------------- memory
# run_memory SERVER: fill a -m 64 cache, then its curr_items and RSS growth.
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
curr_items() {
  python3 - "$1" <<'PY'
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
c.sendall(b"stats\r\n")
out = b""
while not out.endswith(b"END\r\n"):
    chunk = c.recv(65536)
    if not chunk:
        break
    out += chunk
print(next(l.split()[2] for l in out.decode().split("\r\n") if l.startswith("STAT curr_items ")))
PY
}
run_memory() {
  local server=$1 port before after items result
  port=$(free_port)
  start_server "$server" 2 "$port" 0 64 || { echo "run.sh: $server did not start" >&2; cat "$work/server.err" >&2; exit 1; }
  log "memory $server -m 64, $memory_keys sets of 100 B rep $rep"
  before=$(rss_kb "$server_pid")
  result=$("$bin/mcload" --port "$port" --conns 1 --keys "$memory_keys" --value-size 100 --warmup 0 \
    --duration 0.1 --json) || log "mcload reported errors: $result"
  after=$(rss_kb "$server_pid")
  items=$(curr_items "$port" || echo null)
  record memory "{\"server\": \"$server\", \"keys\": $memory_keys}" \
    "{\"items\": ${items:-null}, \"rss_growth_kb\": $((after - before))}"
  stop_server
}
if has_part memory; then
  every_server run_memory
fi

# ---------------------------------------------------------------- report
elapsed=$((SECONDS - started))
log "matrix took $(minutes "$elapsed") (estimated $(minutes "$estimate"))"
mkdir -p "$(dirname "$out")"
doc_args=()
((docs)) && doc_args=(--docs "$repo/docs/benchmarks.md" --plots "$repo/docs/img")
python3 "$here/report.py" --raw "$raw" --out "$out" --command "$command_line" --preload "$preload" \
  --folly "$folly_info" --elapsed "$elapsed" --estimated "$estimate" "${doc_args[@]}"
log "results in $out"
