#!/usr/bin/env bash
# CTest demo_e2e_test: runs `make demo`'s script end to end on a cluster of its
# own (a temporary cluster directory; the machine's one node slot), so a broken demo fails CI
# instead of the first user. The script already fails on every step that does not
# do what it shows (miner Pod admitted, miner not found, Pod not evicted); this
# also checks the lines a user relies on, then stops everything.
# Usage: scripts/demo_test.sh <build dir>
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="$(cd "$1" && pwd)"
work="$(mktemp -d /tmp/orderguard-demo-test-XXXXXX)"
cleanup() {
  CLUSTER_DIR="$work/cluster" BUILD_DIR="$BUILD_DIR" scripts/demo-down.sh >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

status=0
CLUSTER_DIR="$work/cluster" BUILD_DIR="$BUILD_DIR" scripts/demo.sh >"$work/demo.out" 2>&1 || status=$?
if [[ $status -ne 0 ]]; then
  tail -60 "$work/demo.out"
  for log in "$work"/cluster/logs/*.log; do [[ -f "$log" ]] && { echo "--- $log"; tail -15 "$log"; }; done
  echo "demo_test: scripts/demo.sh failed (exit $status)" >&2
  exit 1
fi
expect() {
  grep -qF -- "$1" "$work/demo.out" || { cat "$work/demo.out"; echo "demo_test: missing \"$1\"" >&2; exit 1; }
}
expect 'orderguard-node   Ready'                            # the real node
expect 'STATUS: deployed'                                   # helm install of the chart
expect 'orderservice.tiers.orderguard.io/orders'            # examples applied
expect 'deployment.apps/orders-zone-c'                      # ... and reconciled by the operator Pod
expect 'denied the request: rule blocked-image'             # webhook Pods refused the miner Pod
expect '(found: exit code 1 means miner findings'          # agent scan found the stand-in
expect 'evicted'                                            # the agent Pod evicted the miner Pod
expect "the miner's processes are gone from the host"
expect 'deployment.shop.cruncher'                           # the agent Pod's Quarantine object
expect 'rule quarantined-workload'                          # and the webhook refuses its workload
expect 'cluster_state:ok'                                   # the Redis Cluster formed
expect 'cluster_slots_ok:16384'
expect 'found on its replica'                               # the routed order replicated
expect 'zone=local pod=orders-local-'                       # the app answered through its Service
# Still running afterwards, as the demo promises: every chart Pod Ready.
tools="${ORDERGUARD_TOOLS_BIN:-$(e2e/tools/build.sh)}"
not_ready="$("$tools/kubectl" --kubeconfig "$work/cluster/kubeconfig" -n orderguard-system get pods \
  -o jsonpath='{range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' \
  | grep -v ' True$' || true)"
if [[ -n "$not_ready" ]]; then
  echo "demo_test: chart Pods not Ready after the demo: $not_ready" >&2
  exit 1
fi
echo "demo_test: all six steps did what they show"
