#!/usr/bin/env bash
# Memory of the admission webhook with many idle TLS connections, and after they close.
#
# For each webhook binary given (default: the release build's), one after the other on
# the same machine: `orderguard-webhook --standalone` with a generated certificate, then a
# client (Python's ssl module) that
#   1. opens CONNECTIONS TLS connections (default 1,500), sends one AdmissionReview
#      (bench/testdata/deployment3_review.json) on each and reads the answer, keeping
#      every connection open: the keep-alive state the API server leaves its
#      connections in between admissions;
#   2. waits SETTLE seconds (default 3) and reads the webhook's RSS and open files;
#   3. closes every connection, waits SETTLE seconds and reads them again;
#   4. does 1-3 a second time (memory that does not come back the first time should not
#      grow the second).
# Then, on a fresh webhook process, the peak RSS (VmHWM) while two of the largest
# AdmissionReviews are decided at once (one per I/O thread; three times, as the peak
# depends on how much the two overlap): the same Deployment with
# 250,000 annotations, 3.4 MB, about the most an API server sends (an UPDATE carries
# object and oldObject, each at most etcd's 1.5 MiB).
# Prints one table row per binary: RSS idle before any connection, with the
# connections open, after they closed (both rounds), and the RSS the connections cost
# per connection ((open - before) / CONNECTIONS). Then the same for the reference,
# nginx (2 workers, TLS, keep-alive) answering the same path with a static
# AdmissionReview, its RSS summed over master and workers.
#
# Usage: scripts/bench_webhook_idle.sh [webhook binary...]
# Env: CONNECTIONS (default 1500), SETTLE (seconds, default 3), ROUNDS (default 2),
#   NGINX=0 to skip the reference.
set -euo pipefail
cd "$(dirname "$0")/.."
CONNECTIONS="${CONNECTIONS:-1500}"
SETTLE="${SETTLE:-3}"
ROUNDS="${ROUNDS:-2}"
NGINX="${NGINX:-1}"
binaries=("$@")
if [[ ${#binaries[@]} -eq 0 ]]; then
  cmake --preset release >/dev/null
  cmake --build build/release --target orderguard-webhook >/dev/null
  binaries=(build/release/webhook/orderguard-webhook)
fi
for b in "${binaries[@]}"; do [[ -x "$b" ]] || { echo "no $b" >&2; exit 1; }; done
# The client holds CONNECTIONS sockets, the webhook as many.
ulimit -n "$((CONNECTIONS + 256))" 2>/dev/null || true

work="$(mktemp -d /tmp/orderguard-whidle-XXXXXX)"
wh_pid=""
cleanup() {
  [[ -n "$wh_pid" ]] && kill "$wh_pid" 2>/dev/null || true
  [[ -f "$work/nginx.pid" ]] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
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

cat >"$work/client.py" <<'PY'
import os, socket, ssl, sys, time

import json, threading

mode, pids, port, n, settle, rounds, ca, body_file = sys.argv[1:9]
pids = pids.split(",")  # the server's processes: RSS and open files are summed
n, settle, rounds = int(n), float(settle), int(rounds)
body = open(body_file, "rb").read()
if mode == "large":
    review = json.loads(body)
    review["request"]["object"]["metadata"]["annotations"] = {
        f"k{i}": "v" for i in range(250_000)}
    body = json.dumps(review, separators=(",", ":")).encode()
request = (b"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
ctx = ssl.create_default_context(cafile=ca)

def rss_mib():
    kib = 0
    for pid in pids:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                kib += int(line.split()[1])
    return kib / 1024

def peak_mib():
    for line in open(f"/proc/{pids[0]}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

def fds():
    return sum(len(os.listdir(f"/proc/{pid}/fd")) for pid in pids)

def answer(s):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit("connection closed before the answer")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        rest += s.recv(65536)
    if status != 200 or b'"allowed":true' not in rest:
        raise SystemExit(f"unexpected answer {status}: {rest[:200]!r}")

def one():
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(port))),
                        server_hostname="127.0.0.1")
    s.sendall(request)
    answer(s)
    return s

if mode == "large":
    before = rss_mib()
    for _ in range(3):  # the peak depends on how much the two overlap: the highest of three
        threads = [threading.Thread(target=lambda: one().close()) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    print(f"{len(body) / 1e6:.1f} {before:.1f} {peak_mib():.1f}")
    raise SystemExit(0)

one().close()  # warm-up: the first request loads the policy, the TLS context, ...
time.sleep(settle)
row = [rss_mib(), fds()]
for _ in range(rounds):
    conns = [one() for _ in range(n)]
    time.sleep(settle)
    row += [rss_mib(), fds()]
    for s in conns:
        s.close()
    time.sleep(settle)
    row += [rss_mib(), fds()]
print(" ".join(f"{v:.1f}" if isinstance(v, float) else str(v) for v in row))
PY

echo "== machine: $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== ${CONNECTIONS} idle keep-alive TLS connections (one AdmissionReview each), ${ROUNDS} rounds, ${SETTLE}s settle"
header="| binary | RSS idle MiB (fds) |"
for r in $(seq 1 "$ROUNDS"); do
  header+=" $r: ${CONNECTIONS} open | $r: closed |"
done
header+=" KiB per connection |"
echo "$header"
# measure <name> <pids> <port>: one table row.
measure() {
  local v line per
  read -r -a v < <(python3 "$work/client.py" idle "$2" "$3" "$CONNECTIONS" "$SETTLE" "$ROUNDS" \
    "$work/ca.crt" bench/testdata/deployment3_review.json)
  line="| $1 | ${v[0]} (${v[1]}) |"
  for ((i = 2; i < ${#v[@]}; i += 2)); do line+=" ${v[i]} (${v[i + 1]}) |"; done
  per=$(python3 -c "print(f'{(${v[2]} - ${v[0]}) * 1024 / ${CONNECTIONS}:.1f}')")
  echo "$line $per |"
}
start_webhook() {
  port=$(free_port)
  metrics=$(free_port)
  "$1" --standalone --tls-cert-file "$work/tls.crt" --tls-key-file "$work/tls.key" \
    --listen "127.0.0.1:$port" --metrics-addr "127.0.0.1:$metrics" --log-level error \
    >"$work/webhook.log" 2>&1 &
  wh_pid=$!
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$metrics/readyz" && break
    sleep 0.1
  done
}
stop_webhook() {
  kill "$wh_pid"
  wait "$wh_pid" 2>/dev/null || true
  wh_pid=""
}
for bin in "${binaries[@]}"; do
  start_webhook "$bin"
  measure "$bin" "$wh_pid" "$port"
  stop_webhook
done
if [[ "$NGINX" != 0 ]]; then
  port=$(free_port)
  answer='{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"b8f3c1de-2f0a-4a7e-9d55-0c5a7c1e9a01","allowed":true}}'
  mkdir -p "$work/nginx"
  cat >"$work/nginx.conf" <<EOF2
worker_processes 2;
pid $work/nginx.pid;
error_log $work/nginx/error.log error;
events { worker_connections $((CONNECTIONS + 64)); }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  keepalive_requests 100000;
  keepalive_timeout 90s;
  server {
    listen 127.0.0.1:$port ssl;
    ssl_certificate $work/tls.crt;
    ssl_certificate_key $work/tls.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location = /validate {
      default_type application/json;
      return 200 '$answer';
    }
  }
}
EOF2
  nginx -c "$work/nginx.conf" -p "$work/nginx" -g 'daemon on;' 2>"$work/nginx/start.log" ||
    { cat "$work/nginx/start.log" >&2; exit 1; }
  for _ in $(seq 1 50); do [[ -s "$work/nginx.pid" ]] && break; sleep 0.1; done
  master=$(cat "$work/nginx.pid")
  workers=$(pgrep -P "$master" | paste -sd, -)
  measure "nginx $(nginx -v 2>&1 | sed 's|.*/||') (reference)" "$master,$workers" "$port"
fi
echo
echo "| binary | two large AdmissionReviews at once: MB each | RSS before, MiB | peak RSS, MiB |"
for bin in "${binaries[@]}"; do
  start_webhook "$bin"
  read -r mb before peak < <(python3 "$work/client.py" large "$wh_pid" "$port" 0 0 0 \
    "$work/ca.crt" bench/testdata/deployment3_review.json)
  echo "| $bin | $mb | $before | $peak |"
  stop_webhook
done
echo "== load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
