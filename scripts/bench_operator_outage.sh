#!/usr/bin/env bash
# The operator while the API server is down, each figure next to a
# reference measured in the same run:
#  1. CPU per refused TLS connection attempt of the kube/ REST client (a plain TCP
#     check once the server has refused) vs a client that builds a TLS context
#     per attempt (as cpprestsdk, the client before, did): the system trust store
#     and the TLS material loaded into each (bench/connect_bench_main.cpp);
#  2. orderguard-operator with COUNT OrderServices pending while the API server is
#     down for OUTAGE seconds: its CPU (% of a core) next to the same cluster's
#     kube-controller-manager (client-go) in the same outage, requests and reconciles
#     that failed, time to converge once the API server is back
#     (bench/operator_outage_bench_main.cpp), ROUNDS times.
# Usage: scripts/bench_operator_outage.sh <build dir>   (default build/release)
# Env: COUNT (default 50), OUTAGE (seconds, default 20), ROUNDS (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-build/release}"
TOOLS_BIN="${ORDERGUARD_TOOLS_BIN:-$(e2e/tools/build.sh)}"
COUNT="${COUNT:-50}"
OUTAGE="${OUTAGE:-20}"
ROUNDS="${ROUNDS:-3}"

echo "== machine: $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== 1. CPU per refused TLS connection attempt"
"$BUILD/bench/kube_connect_bench" --attempts 300 --rounds 3
for round in $(seq 1 "$ROUNDS"); do
  echo "== 2. operator during an API server outage, round $round"
  "$BUILD/bench/operator_outage_bench" --tools "$TOOLS_BIN" \
    --operator "$BUILD/operator/orderguard-operator" --count "$COUNT" --outage "$OUTAGE"
done
