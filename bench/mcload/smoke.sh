#!/usr/bin/env bash
# ctest smoke run of mcload against Debian's memcached: each protocol once,
# TLS once, tiny; then a run that must fail (values of the wrong size), to
# prove that responses are really checked. Exit 77 (skipped) without memcached.
# usage: smoke.sh <mcload>
set -uo pipefail
mcload=$1
memcached=$(command -v memcached) || { echo "smoke: memcached not installed"; exit 77; }
dir=$(mktemp -d)
pid=""
trap '[[ -n $pid ]] && kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/key.pem" -out "$dir/cert.pem" -days 1 \
  -subj /CN=127.0.0.1 >/dev/null 2>&1 || { echo "smoke: openssl failed"; exit 1; }
user=(); [[ $(id -u) -eq 0 ]] && user=(-u root)
for _ in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 20000)) tls_port=$((port + 1))
  # -Z makes every listener TLS except those marked notls.
  "$memcached" "${user[@]}" -l "notls:127.0.0.1:$port,127.0.0.1:$tls_port" -t 1 -m 64 -Z \
    -o ssl_chain_cert="$dir/cert.pem",ssl_key="$dir/key.pem" &
  pid=$!
  for _ in $(seq 50); do
    (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break 2
    sleep 0.05
  done
  kill "$pid" 2>/dev/null; pid=""
done
[[ -n $pid ]] || { echo "smoke: memcached did not start"; exit 1; }
run() { "$mcload" --conns 2 --depth 4 --warmup 0.05 --duration 0.2 --keys 100 --json "$@"; }
run --port "$port" --protocol binary --set-ratio 0.2 --server-pid "$pid" || exit 1
run --port "$port" --protocol text --set-ratio 0.2 || exit 1
run --port "$port" --protocol meta --set-ratio 0.2 || exit 1
run --port "$tls_port" --protocol binary --tls --tls-ca "$dir/cert.pem" --value-size 4096 || exit 1
if run --port "$port" --protocol text --no-prefill --value-size 33 2>/dev/null; then
  echo "smoke: mcload accepted values of the wrong size"
  exit 1
fi
echo "smoke: ok"
