#!/usr/bin/env bash
# Benchmarks of the kube/ runtime, each printed next to a reference measured in
# the same run on the same machine:
#  1. initial informer sync of 10,000 ConfigMaps vs `kubectl get configmaps -A -o json`
#     (wall time and peak RSS, 3 runs each, interleaved);
#  2. decode throughput of a 1,000-pod LIST (and the watch-stream path) vs
#     Python's C-accelerated json module on the same bytes;
#  3. the operator with 1,000 OrderServices (3 zones each): time to converge,
#     peak RSS, writes per OrderService, writes on a forced resync and on a
#     restart, vs `kubectl apply --server-side` of the same children; then the
#     same driver on the controller-runtime peer (bench/peers/operator, built by
#     bench/peers/build.sh) with the same flags, on a fresh control plane.
# Usage: scripts/bench.sh <build dir> [sections...]   (make bench builds the release
# preset; sections default to "1 2 3", e.g. `scripts/bench.sh build/release 3`).
# Section 3 runs the operator with its defaults; OPERATOR_QPS / OPERATOR_BURST set
# its --kube-api-qps / --kube-api-burst (e.g. OPERATOR_QPS=200 OPERATOR_BURST=300),
# for the peer as well. PEERS=0 leaves the peer out; PEERS_BIN is the directory
# bench/peers/build.sh printed (default: run it).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-build/release}"
TOOLS_BIN="${ORDERGUARD_TOOLS_BIN:-$(e2e/tools/build.sh)}"
RUNS="${RUNS:-3}"
COUNT="${COUNT:-10000}"
OPERATOR_COUNT="${OPERATOR_COUNT:-1000}"
shift || true
SECTIONS="${*:-1 2 3}"
run_section() { [[ " $SECTIONS " == *" $1 "* ]]; }
work="$(mktemp -d /tmp/orderguard-bench-XXXXXX)"
cleanup() {
  "$BUILD/e2e/orderguard-cluster" down --dir "$work/cluster" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== machine: $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ)"
if run_section 1; then
echo "== 1. informer initial sync of $COUNT ConfigMaps"
"$BUILD/e2e/orderguard-cluster" up --dir "$work/cluster" --tools "$TOOLS_BIN" \
  --no-controller-manager >/dev/null
kc="$work/cluster/kubeconfig"
"$BUILD/bench/kube_informer_bench" --kubeconfig "$kc" seed --count "$COUNT" --threads 8
measure() {  # prints "<seconds> <peak RSS KiB>"
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >"$work/out" 2>"$work/err" ||
    { cat "$work/err" >&2; return 1; }
  cat "$work/time"
}
printf '%-44s %10s %14s\n' "command" "wall s" "peak RSS MiB"
for i in $(seq 1 "$RUNS"); do
  read -r s kb < <(measure "$BUILD/bench/kube_informer_bench" --kubeconfig "$kc" sync)
  printf '%-44s %10s %14.1f   (%s)\n' "orderguard informer sync (run $i)" "$s" "$(echo "$kb/1024" | bc -l)" "$(cat "$work/out")"
  read -r s kb < <(measure "$TOOLS_BIN/kubectl" --kubeconfig "$kc" get configmaps -A -o json)
  printf '%-44s %10s %14.1f   (%s items)\n' "kubectl get configmaps -A -o json (run $i)" "$s" "$(echo "$kb/1024" | bc -l)" "$(grep -c '"kind": "ConfigMap"' "$work/out")"
done
"$BUILD/e2e/orderguard-cluster" down --dir "$work/cluster" >/dev/null
fi

if run_section 2; then
echo
echo "== 2. decode throughput"
"$BUILD/bench/kube_decode_bench" --benchmark_min_time=2 2>/dev/null | grep -E "Benchmark|BM_|---"
"$BUILD/bench/kube_decode_bench" --write-sample="$work/pods.json"
python3 - "$work/pods.json" <<'PY'
import json, sys, time
data = open(sys.argv[1], "rb").read()
best = None
for _ in range(5):
    t = time.perf_counter(); n = 0
    while time.perf_counter() - t < 1.0:
        json.loads(data); n += 1
    rate = len(data) * n / (time.perf_counter() - t) / 1e6
    best = rate if best is None else max(best, rate)
print(f"reference: python3 json.loads of the same {len(data)/1e6:.2f} MB LIST: {best:.0f} MB/s (best of 5)")
PY
fi

if run_section 3; then
echo
echo "== 3. operator: $OPERATOR_COUNT OrderServices"
operator_args=()
[[ -n "${OPERATOR_QPS:-}" ]] && operator_args+=("--operator-arg=--kube-api-qps=$OPERATOR_QPS")
[[ -n "${OPERATOR_BURST:-}" ]] && operator_args+=("--operator-arg=--kube-api-burst=$OPERATOR_BURST")
operators=("orderguard-operator=$BUILD/operator/orderguard-operator")
if [[ "${PEERS:-1}" != 0 ]]; then
  operators+=("peer-operator=${PEERS_BIN:-$(bench/peers/build.sh)}/peer-operator")
fi
for entry in "${operators[@]}"; do
  echo "-- ${entry%%=*}; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  "$BUILD/bench/operator_bench" --tools "$TOOLS_BIN" --operator "${entry#*=}" \
    --operator-name "${entry%%=*}" --count "$OPERATOR_COUNT" \
    --resync-period "${OPERATOR_RESYNC:-60}" ${operator_args[@]+"${operator_args[@]}"}
  echo "-- ${entry%%=*}; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
done
fi
