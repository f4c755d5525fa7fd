#!/usr/bin/env bash
# ctest smoke run of one stream_server mode against stream_client: tiny,
# seconds at most; fails when the client saw a bad frame or nothing at all,
# or when the server did not exit cleanly. With --tls (before the server
# options) both ends use TLS, with a certificate made here that the client
# verifies.
# usage: smoke.sh <stream_server> <stream_client> <mode> [--tls] [server options...]
set -euo pipefail
server=$1 client=$2 mode=$3
shift 3
dir=$(mktemp -d)
pid=""
trap '[[ -n $pid ]] && kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
server_tls=() client_tls=()
if [[ ${1:-} == --tls ]]; then
  shift
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/key.pem" \
    -out "$dir/cert.pem" -days 1 -subj /CN=127.0.0.1 >/dev/null 2>&1 || { echo "smoke: openssl failed"; exit 1; }
  server_tls=(--tls-cert "$dir/cert.pem" --tls-key "$dir/key.pem")
  client_tls=(--tls --tls-ca "$dir/cert.pem")
fi
"$server" --mode "$mode" --port 0 --max-seconds 20 "${server_tls[@]}" "$@" >"$dir/server.json" 2>"$dir/server.err" &
pid=$!
port=""
for _ in $(seq 100); do
  port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$dir/server.err" 2>/dev/null || true)
  [[ -n $port ]] && break
  sleep 0.05
done
[[ -n $port ]] || { echo "smoke: server did not start"; cat "$dir/server.err"; exit 1; }
"$client" --port "$port" --conns 4 --warmup 0.1 --duration 0.3 --json "${client_tls[@]}" >"$dir/client.json"
cat "$dir/client.json"
wait "$pid"
pid=""
cat "$dir/server.json"
grep -q '"frames_bad": 0' "$dir/client.json"
grep -q '"clients_done": true' "$dir/server.json"
if ((${#client_tls[@]})); then
  grep -q '"tls": true' "$dir/client.json"
  grep -q '"tls_failures": 0' "$dir/server.json"
fi
