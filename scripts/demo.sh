#!/usr/bin/env bash
# `make demo`: start a local control plane (etcd + kube-apiserver +
# kube-controller-manager built from pinned Go modules) and take a short tour.
# Leaves it running; `make demo-down` stops it. Each step prints its progress and
# a failure names the step.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build/dev}"
TOOLS_BIN="${ORDERGUARD_TOOLS_BIN:-$(e2e/tools/build.sh)}"
CLUSTER_DIR="$PWD/.cluster"
export KUBECONFIG="$CLUSTER_DIR/kubeconfig"
kubectl() { "$TOOLS_BIN/kubectl" "$@"; }

step=""
trap 'echo; echo "demo: step \"$step\" failed (exit $?). Logs: $CLUSTER_DIR/logs/" >&2' ERR
say() { step="$1"; printf '\n\033[1m==> %s\033[0m\n' "$1"; }

say "start the local control plane"
"$BUILD_DIR/e2e/orderguard-cluster" up --dir "$CLUSTER_DIR" --tools "$TOOLS_BIN"

say "the API server answers"
kubectl version
kubectl get --raw /readyz && echo

say "run a Deployment; kube-controller-manager creates its ReplicaSet and Pods"
kubectl create namespace demo --dry-run=client -o yaml | kubectl apply -f -
kubectl -n demo create deployment web --image=nginx:1.27 --replicas=2 --dry-run=client -o yaml |
  kubectl apply -f -
for _ in $(seq 1 60); do
  [[ "$(kubectl -n demo get pods -l app=web -o name | wc -l)" -ge 2 ]] && break
  sleep 1
done
kubectl -n demo get deployments,replicasets,pods -o wide
echo "(no kubelet runs here, so the Pods stay Pending; the operator, webhook and agent"
echo " issues extend this demo with orderguard's own resources)"

say "done: the control plane keeps running"
cat <<EOT
  export KUBECONFIG=$KUBECONFIG
  $TOOLS_BIN/kubectl get all -A
  make demo-down     # stop it
EOT
