#!/usr/bin/env bash
# Stops what `make demo` started: the operator and webhook, then the control plane.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build/dev}"
CLUSTER_DIR="${CLUSTER_DIR:-$PWD/.cluster}"
for pidfile in "$CLUSTER_DIR"/demo/*.pid; do
  [[ -f "$pidfile" ]] || continue
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" && echo "stopped $(basename "$pidfile" .pid) (pid $pid)"
  fi
  rm -f "$pidfile"
done
if [[ -x "$BUILD_DIR/e2e/orderguard-cluster" ]]; then
  "$BUILD_DIR/e2e/orderguard-cluster" down --dir "$CLUSTER_DIR"
else
  echo "no cluster tool built; nothing else to stop"
fi
