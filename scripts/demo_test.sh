#!/usr/bin/env bash
# CTest demo_e2e_test: runs `make demo`'s script end to end on a control plane of
# its own (free ports, a temporary cluster directory), so a broken demo fails CI
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

read -r p1 p2 p3 p4 < <(python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
PY
)
status=0
CLUSTER_DIR="$work/cluster" BUILD_DIR="$BUILD_DIR" OPERATOR_METRICS_PORT="$p1" \
  WEBHOOK_METRICS_PORT="$p2" AGENT_METRICS_PORT="$p3" WEBHOOK_PORT="$p4" \
  scripts/demo.sh >"$work/demo.out" 2>&1 || status=$?
if [[ $status -ne 0 ]]; then
  tail -40 "$work/demo.out"
  for log in "$work"/cluster/demo/*.log; do [[ -f "$log" ]] && { echo "--- $log"; tail -15 "$log"; }; done
  echo "demo_test: scripts/demo.sh failed (exit $status)" >&2
  exit 1
fi
expect() {
  grep -qF -- "$1" "$work/demo.out" || { cat "$work/demo.out"; echo "demo_test: missing \"$1\"" >&2; exit 1; }
}
expect 'STATUS: deployed'                                   # helm install of the chart
expect 'orderservice.tiers.orderguard.io/orders'            # examples applied
expect 'deployment.apps/orders-zone-c'                      # ... and reconciled by the operator
expect 'denied the request: rule blocked-image'             # webhook refused the miner Pod
expect '(found: exit code 1 means miner findings'          # agent scan found the stand-in
if grep -q '(skipped: needs root' "$work/demo.out"; then
  echo "demo_test: step 5 skipped (no writable cgroup hierarchy)"
else
  expect 'evicted. Events:'                                 # agent run evicted the Pod
  expect 'rule quarantined-workload'                        # and the webhook refuses its workload
fi
# Still running afterwards, as the demo promises.
curl -sf "http://127.0.0.1:$p1/healthz" >/dev/null || { echo "demo_test: operator not running" >&2; exit 1; }
curl -sf "http://127.0.0.1:$p2/readyz" >/dev/null || { echo "demo_test: webhook not ready" >&2; exit 1; }
echo "demo_test: all five steps did what they show"
