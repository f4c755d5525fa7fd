#!/usr/bin/env bash
# ctest smoke run of one stream_server mode against stream_client: tiny,
# seconds at most; fails when the client saw a bad frame or nothing at all,
# or when the server did not exit cleanly.
# usage: smoke.sh <stream_server> <stream_client> <mode> [server options...]
set -euo pipefail
server=$1 client=$2 mode=$3
shift 3
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
"$server" --mode "$mode" --port 0 --max-seconds 20 "$@" >"$dir/server.json" 2>"$dir/server.err" &
pid=$!
port=""
for _ in $(seq 100); do
  port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$dir/server.err" 2>/dev/null || true)
  [[ -n $port ]] && break
  sleep 0.05
done
[[ -n $port ]] || { echo "smoke: server did not start"; cat "$dir/server.err"; exit 1; }
"$client" --port "$port" --conns 4 --warmup 0.1 --duration 0.3 --json >"$dir/client.json"
cat "$dir/client.json"
wait "$pid"
cat "$dir/server.json"
grep -q '"frames_bad": 0' "$dir/client.json"
grep -q '"clients_done": true' "$dir/server.json"
