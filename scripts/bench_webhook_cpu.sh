#!/usr/bin/env bash
# CPU time the admission webhook spends per request, for comparing builds side by side in
# one run (the machine's load moves throughput, far less the CPU a request costs).
#
# For each webhook binary given, ROUNDS times, binaries interleaved:
# `orderguard-webhook --standalone` with a generated certificate, a warm-up request, then
#   keep-alive: wrk -t2 -c50 for DURATION s, POST of bench/testdata/deployment3_review.json;
#   new connection per request: wrk -t2 -c20 with `Connection: close` (a TLS handshake each).
# The webhook's user + sys time comes from /proc/<pid>/stat before and after each run.
# Prints one row per binary and round: req/s and µs of CPU per request for both loads.
#
# Usage: scripts/bench_webhook_cpu.sh webhook-binary...
# Env: DURATION (seconds per run, default 10), ROUNDS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-10}"
ROUNDS="${ROUNDS:-2}"
[[ $# -gt 0 ]] || { echo "usage: $0 webhook-binary..." >&2; exit 2; }
for b in "$@"; do [[ -x "$b" ]] || { echo "no $b" >&2; exit 1; }; done

work="$(mktemp -d /tmp/orderguard-whcpu-XXXXXX)"
wh_pid=""
cleanup() {
  [[ -n "$wh_pid" ]] && kill "$wh_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=bench-ca -keyout "$work/ca.key" -out "$work/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
  -keyout "$work/tls.key" -out "$work/tls.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$work/ext"
openssl x509 -req -in "$work/tls.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial \
  -days 2 -extfile "$work/ext" -out "$work/tls.crt" 2>/dev/null

cat >"$work/post.lua" <<EOF2
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$PWD/bench/testdata/deployment3_review.json", "rb"); wrk.body = f:read("*a"); f:close()
EOF2
cp "$work/post.lua" "$work/close.lua"
echo 'wrk.headers["Connection"] = "close"' >>"$work/close.lua"

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# run <script> <connections> -> "req/s µs-per-request"
run() {
  local before after
  before=$(ticks "$wh_pid")
  wrk -t2 -c"$2" -d"${DURATION}s" -s "$1" "https://127.0.0.1:$port/validate" >"$work/wrk.out" 2>&1
  after=$(ticks "$wh_pid")
  grep -q "Non-2xx" "$work/wrk.out" && echo "warning: $(grep Non-2xx "$work/wrk.out")" >&2
  python3 - "$work/wrk.out" "$before" "$after" "$hz" <<'PY'
import re, sys
out = open(sys.argv[1]).read()
requests = int(re.search(r"(\d+) requests in", out).group(1))
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
cpu_us = (int(sys.argv[3]) - int(sys.argv[2])) / int(sys.argv[4]) * 1e6
print(f"{rps:,.0f} {cpu_us / max(requests, 1):.1f}")
PY
}

echo "== machine: $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| round | binary | keep-alive req/s | CPU µs/request | new connection req/s | CPU µs/request | load |"
for round in $(seq 1 "$ROUNDS"); do
  for bin in "$@"; do
    port=$(free_port)
    metrics=$(free_port)
    "$bin" --standalone --tls-cert-file "$work/tls.crt" --tls-key-file "$work/tls.key" \
      --listen "127.0.0.1:$port" --metrics-addr "127.0.0.1:$metrics" --log-level error \
      >"$work/webhook.log" 2>&1 &
    wh_pid=$!
    for _ in $(seq 1 100); do
      curl -s -o /dev/null "http://127.0.0.1:$metrics/readyz" && break
      sleep 0.1
    done
    curl -sk -o /dev/null "https://127.0.0.1:$port/validate" -d @bench/testdata/deployment3_review.json
    read -r ka_rps ka_us < <(run "$work/post.lua" 50)
    read -r nc_rps nc_us < <(run "$work/close.lua" 20)
    echo "| $round | $bin | $ka_rps | $ka_us | $nc_rps | $nc_us | $(cut -d' ' -f1 /proc/loadavg) |"
    kill "$wh_pid"
    wait "$wh_pid" 2>/dev/null || true
    wh_pid=""
  done
done
