#!/usr/bin/env bash
# Admission webhook benchmark, side by side with nginx on the same
# machine in the same run:
#  - orderguard-webhook --standalone (built-in default policy) over TLS;
#  - nginx (2 workers, keepalive, TLS) answering the same path with a static
#    AdmissionReview;
#  - peer-webhook, a validating webhook on controller-runtime's webhook server
#    (bench/peers/, built by bench/peers/build.sh; what it checks and leaves out
#    is in bench/peers/README.md), with the same certificate, path and body.
# Load: POST of a ~3 KB AdmissionReview of a 3-container Deployment over TLS
# keep-alive. Figures: saturation throughput (wrk -t2 -c50 -d10s), p50/p99 at
# fixed 1,000 and 5,000 req/s, and the webhook's RSS after the runs.
# Fixed-rate tool: wrk2, else h2load --rps over HTTP/1.1 (nghttp2-client),
# else wrk with a per-connection delay() in Lua (approximate rate; the achieved
# rate is printed).
# Usage: scripts/bench_webhook.sh [--churn SECONDS] [build dir]
#   (default build dir: cmake --preset release)
# --churn SECONDS: instead of the runs above, a connection-churn run of the webhook
#   alone for SECONDS (600 checks the target: RSS and open files flat over 10
#   minutes): wrk alternating 5 s runs of new TLS connections per request
#   (Connection: close, -c20) and of keep-alive connections (-c50, opened and
#   dropped with each run), while the webhook's RSS and open fds
#   are sampled every 10 s; prints every sample, then first/last/max, and the fds
#   once the load has stopped.
# Env: DURATION (seconds per run, default 10), SKIP_BUILD=1, PEERS_BIN (the
#   directory bench/peers/build.sh printed; default: run it), PEERS=0 (no Go peer).
set -euo pipefail
cd "$(dirname "$0")/.."
CHURN=""
if [[ "${1:-}" == "--churn" ]]; then
  CHURN="${2:?--churn needs a duration in seconds}"
  shift 2
fi
BUILD="${1:-build/release}"
DURATION="${DURATION:-10}"
if [[ -z "${SKIP_BUILD:-}" ]]; then
  if [[ "$BUILD" == build/release ]]; then cmake --preset release >/dev/null; fi
  cmake --build "$BUILD" --target orderguard-webhook >/dev/null
fi
WEBHOOK="$BUILD/webhook/orderguard-webhook"
[[ -x "$WEBHOOK" ]] || { echo "no $WEBHOOK" >&2; exit 1; }
PEER=""
if [[ -z "$CHURN" && "${PEERS:-1}" != 0 ]]; then
  PEER="${PEERS_BIN:-$(bench/peers/build.sh)}/peer-webhook"
  [[ -x "$PEER" ]] || { echo "no $PEER (PEERS=0 runs without it)" >&2; exit 1; }
fi

work="$(mktemp -d /tmp/orderguard-whbench-XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [[ -f "$work/nginx.pid" ]] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- certificates (EC P-256 CA + leaf for 127.0.0.1) ---
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=bench-ca -keyout "$work/ca.key" -out "$work/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
  -keyout "$work/tls.key" -out "$work/tls.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$work/ext"
openssl x509 -req -in "$work/tls.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial \
  -days 2 -extfile "$work/ext" -out "$work/tls.crt" 2>/dev/null

# --- the request: a 3-container Deployment, padded with realistic env to ~3 KB
# (bench/testdata/make_deployment3_review.py; bench/admission_bench.cpp uses the same) ---
cp bench/testdata/deployment3_review.json "$work/review.json"
body_bytes=$(wc -c <"$work/review.json")
cat >"$work/post.lua" <<EOF2
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$work/review.json", "rb"); wrk.body = f:read("*a"); f:close()
EOF2
answer='{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"b8f3c1de-2f0a-4a7e-9d55-0c5a7c1e9a01","allowed":true}}'

# --- servers ---
wh_port=$(free_port); wh_metrics=$(free_port); ng_port=$(free_port)
"$WEBHOOK" --standalone --tls-cert-file "$work/tls.crt" --tls-key-file "$work/tls.key" \
  --listen "127.0.0.1:$wh_port" --metrics-addr "127.0.0.1:$wh_metrics" --log-level error \
  >"$work/webhook.log" 2>&1 &
wh_pid=$!; pids+=("$wh_pid")
if [[ -n "$PEER" ]]; then
  go_port=$(free_port)
  "$PEER" --tls-cert-file "$work/tls.crt" --tls-key-file "$work/tls.key" \
    --listen "127.0.0.1:$go_port" --path /validate >"$work/peer.log" 2>&1 &
  go_pid=$!; pids+=("$go_pid")
fi

rss_mib() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
fds() { ls "/proc/$1/fd" | wc -l; }

if [[ -n "$CHURN" ]]; then
  for _ in $(seq 1 50); do
    curl -sk -o /dev/null "https://127.0.0.1:$wh_port/validate" -d @"$work/review.json" && break
    sleep 0.1
  done
  cp "$work/post.lua" "$work/close.lua"
  echo 'wrk.headers["Connection"] = "close"' >>"$work/close.lua"
  echo "== machine: $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ); load: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "== churn for ${CHURN}s: wrk alternating 5 s of Connection: close (-c20) and 5 s keep-alive (-c50)"
  wh_url="https://127.0.0.1:$wh_port/validate"
  (
    end=$((SECONDS + CHURN)); i=0
    while ((SECONDS < end)); do
      left=$((end - SECONDS)); run=$((left < 5 ? left : 5)); ((run > 0)) || break
      if ((i % 2 == 0)); then
        wrk -t2 -c20 -d"${run}s" -s "$work/close.lua" "$wh_url" >"$work/churn.$i.out" 2>&1 || true
      else
        wrk -t2 -c50 -d"${run}s" -s "$work/post.lua" "$wh_url" >"$work/churn.$i.out" 2>&1 || true
      fi
      i=$((i + 1))
    done
  ) &
  load_pid=$!; pids+=("$load_pid")
  printf '%8s %10s %6s\n' "t (s)" "RSS MiB" "fds"
  samples=()
  start=$SECONDS
  while kill -0 "$load_pid" 2>/dev/null; do
    r=$(rss_mib "$wh_pid"); f=$(fds "$wh_pid")
    samples+=("$r $f")
    printf '%8d %10s %6s\n' $((SECONDS - start)) "$r" "$f"
    for _ in $(seq 1 100); do kill -0 "$load_pid" 2>/dev/null || break; sleep 0.1; done
  done
  wait "$load_pid" || true
  sleep 2
  idle_rss=$(rss_mib "$wh_pid"); idle_fds=$(fds "$wh_pid")
  requests=$(cat "$work"/churn.*.out | awk '/requests in/ {n += $1} END {print n + 0}')
  errors=$(cat "$work"/churn.*.out | awk '/Non-2xx/ {n += $5} END {print n + 0}')
  echo
  printf '%s\n' "${samples[@]}" | python3 -c '
import sys
rows = [tuple(map(float, l.split())) for l in sys.stdin if l.strip()]
rss = [r for r, _ in rows]; fd = [int(f) for _, f in rows]
print(f"RSS MiB: first {rss[0]:.1f}, last {rss[-1]:.1f}, max {max(rss):.1f}   "
      f"open fds: first {fd[0]}, last {fd[-1]}, max {max(fd)}   ({len(rows)} samples)")'
  echo "after the load stopped: RSS ${idle_rss} MiB, open fds ${idle_fds}"
  echo "requests served: ${requests}; non-2xx: ${errors}; load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  grep -h "Socket errors" "$work"/churn.*.out | sort | uniq -c | head -5 || true
  exit 0
fi

mkdir -p "$work/nginx"
cat >"$work/nginx.conf" <<EOF2
worker_processes 2;
pid $work/nginx.pid;
error_log $work/nginx/error.log error;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  keepalive_requests 100000;
  keepalive_timeout 90s;
  client_body_buffer_size 64k;
  server {
    listen 127.0.0.1:$ng_port ssl;
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
for _ in $(seq 1 50); do
  curl -sk -o /dev/null "https://127.0.0.1:$wh_port/validate" -d @"$work/review.json" &&
    curl -sk -o /dev/null "https://127.0.0.1:$ng_port/validate" -d @"$work/review.json" &&
    { [[ -z "$PEER" ]] || curl -sk -o /dev/null "https://127.0.0.1:$go_port/validate" \
        -H 'Content-Type: application/json' -d @"$work/review.json"; } && break
  sleep 0.1
done
echo "== machine: $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ); body ${body_bytes} B; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== webhook says: $(curl -sk "https://127.0.0.1:$wh_port/validate" -d @"$work/review.json")"
[[ -n "$PEER" ]] && echo "== Go peer says: $(curl -sk "https://127.0.0.1:$go_port/validate" \
  -H 'Content-Type: application/json' -d @"$work/review.json")"

# CPU clock ticks (user + system) of the given processes so far.
cpu_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }

saturation() {  # url pid... -> "req/s p50 p99 server-CPU-us-per-request"
  local url=$1; shift
  local t0 rps p50 p99 n us
  t0=$(cpu_ticks "$@")
  wrk -t2 -c50 -d"${DURATION}s" --latency -s "$work/post.lua" "$url" >"$work/wrk.out" 2>&1
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out")
  p50=$(awk '$1=="50%" {print $2}' "$work/wrk.out")
  p99=$(awk '$1=="99%" {print $2}' "$work/wrk.out")
  n=$(awk '/requests in/ {print $1}' "$work/wrk.out")
  us=$(python3 -c "print(f'{($(cpu_ticks "$@") - $t0) * 1e6 / $(getconf CLK_TCK) / max(1, $n):.0f}')")
  grep -q "Non-2xx" "$work/wrk.out" && echo "warning: non-2xx answers: $(grep Non-2xx "$work/wrk.out")" >&2
  echo "$rps $p50 $p99 $us"
}

fixed_rate() {  # url rate -> "achieved p50 p99 tool"
  local url=$1 rate=$2
  if command -v wrk2 >/dev/null; then
    wrk2 -t2 -c50 -d"${DURATION}s" -R"$rate" --latency -s "$work/post.lua" "$url" >"$work/fr.out" 2>&1
    echo "$(awk '/Requests\/sec/ {print $2}' "$work/fr.out") $(awk '$1=="50.000%" {print $2}' "$work/fr.out") $(awk '$1=="99.000%" {print $2}' "$work/fr.out") wrk2"
  elif command -v h2load >/dev/null; then
    # 10 clients, each at rate/10 req/s, over HTTP/1.1 keep-alive.
    local clients=10 total=$((rate * DURATION))
    # h2load prints latency min/max/mean/sd only; percentiles come from its log.
    rm -f "$work/h2.log"
    h2load --h1 -c "$clients" -t 2 -n "$total" --rps $((rate / clients)) \
      -H 'Content-Type: application/json' -d "$work/review.json" --log-file "$work/h2.log" \
      "$url" >"$work/fr.out" 2>&1
    python3 - "$work/h2.log" "$work/fr.out" <<'PY'
import sys, re
lat = sorted(int(l.split()[2]) for l in open(sys.argv[1]) if l.strip())  # microseconds
out = open(sys.argv[2]).read()
m = re.search(r"finished in ([\d.]+)s, ([\d.]+) req/s", out)
ok = re.search(r"(\d+) 2xx", out)
def pct(p): return lat[min(len(lat) - 1, int(len(lat) * p))] / 1000.0
print(f"{m.group(2) if m else '?'} {pct(0.50):.3f}ms {pct(0.99):.3f}ms h2load({ok.group(1) if ok else '?'}x2xx)")
PY
  else
    # wrk cannot pace; each of N connections waits `delay` ms between requests.
    local conns=$((rate / 100)) delay=10
    cp "$work/post.lua" "$work/paced.lua"
    echo "function delay() return $delay end" >>"$work/paced.lua"
    wrk -t2 -c"$conns" -d"${DURATION}s" --latency -s "$work/paced.lua" "$url" >"$work/fr.out" 2>&1
    echo "$(awk '/Requests\/sec/ {print $2}' "$work/fr.out") $(awk '$1=="50%" {print $2}' "$work/fr.out") $(awk '$1=="99%" {print $2}' "$work/fr.out") wrk-paced"
  fi
}

wh_url="https://127.0.0.1:$wh_port/validate"
ng_url="https://127.0.0.1:$ng_port/validate"
rss_start=$(rss_mib "$wh_pid"); fds_start=$(fds "$wh_pid")
read -r wh_rps wh_p50 wh_p99 wh_us < <(saturation "$wh_url" "$wh_pid")
# nginx: the master and its workers.
ng_master=$(cat "$work/nginx.pid")
mapfile -t ng_pids < <(echo "$ng_master"; pgrep -P "$ng_master")
read -r ng_rps ng_p50 ng_p99 ng_us < <(saturation "$ng_url" "${ng_pids[@]}")
if [[ -n "$PEER" ]]; then
  go_url="https://127.0.0.1:$go_port/validate"
  go_rss_start=$(rss_mib "$go_pid")
  read -r go_rps go_p50 go_p99 go_us < <(saturation "$go_url" "$go_pid")
fi
rows=()
for rate in 1000 5000; do
  read -r a b c tool < <(fixed_rate "$wh_url" "$rate")
  rows+=("$(printf '%-34s %12s %10s %10s   %s' "webhook @ $rate req/s" "$a" "$b" "$c" "$tool")")
  read -r a b c tool < <(fixed_rate "$ng_url" "$rate")
  rows+=("$(printf '%-34s %12s %10s %10s   %s' "nginx static @ $rate req/s" "$a" "$b" "$c" "$tool")")
  if [[ -n "$PEER" ]]; then
    read -r a b c tool < <(fixed_rate "$go_url" "$rate")
    rows+=("$(printf '%-34s %12s %10s %10s   %s' "Go peer @ $rate req/s" "$a" "$b" "$c" "$tool")")
  fi
done
rss_end=$(rss_mib "$wh_pid"); fds_end=$(fds "$wh_pid")
[[ -n "$PEER" ]] && go_rss_end=$(rss_mib "$go_pid")

echo
printf '%-34s %12s %10s %10s   %s\n' "run" "req/s" "p50" "p99" "server CPU us/request"
printf '%-34s %12s %10s %10s   %s\n' "webhook saturation (wrk -c50)" "$wh_rps" "$wh_p50" "$wh_p99" "$wh_us"
printf '%-34s %12s %10s %10s   %s\n' "nginx static saturation (wrk -c50)" "$ng_rps" "$ng_p50" "$ng_p99" "$ng_us"
[[ -n "$PEER" ]] && printf '%-34s %12s %10s %10s   %s\n' "Go peer saturation (wrk -c50)" "$go_rps" "$go_p50" "$go_p99" "$go_us"
for r in "${rows[@]}"; do echo "$r"; done
echo
python3 -c "print(f'webhook/nginx saturation: {100*float(\"$wh_rps\")/float(\"$ng_rps\"):.0f} %')"
echo "webhook RSS: ${rss_start} MiB at start, ${rss_end} MiB after the runs; open fds ${fds_start} -> ${fds_end}"
if [[ -n "$PEER" ]]; then
  python3 -c "print(f'Go peer/nginx saturation: {100*float(\"$go_rps\")/float(\"$ng_rps\"):.0f} %')"
  echo "Go peer RSS: ${go_rss_start} MiB at start, ${go_rss_end} MiB after the runs"
fi
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
