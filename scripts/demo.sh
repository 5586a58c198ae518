#!/usr/bin/env bash
# `make demo`: the main job on a local control plane (etcd + kube-apiserver +
# kube-controller-manager built from pinned Go modules):
#   1. start the control plane and `helm install` the chart (CRDs, ServiceAccounts,
#      RBAC, ValidatingWebhookConfiguration, default MinerPolicy);
#   2. run the operator, authenticated as the chart's ServiceAccount, and apply
#      examples/ (the order platform over 3 zones);
#   3. run the webhook (self-managed certificates, chart ServiceAccount), point the
#      chart's webhook configuration at it, and show a miner Pod being refused;
#   4. run a fake miner process on this host and let `orderguard-agent scan` find it;
#   5. put a fake miner in a real cgroup named like a Pod's container and let the
#      agent (`orderguard-agent run`, chart ServiceAccount) evict that Pod and
#      quarantine its workload.
# The components run as local processes (there is no kubelet to run the chart's
# Pods) with only the RBAC the chart grants. Leaves the control plane, operator,
# webhook and agent running; `make demo-down` stops everything. Each step prints
# its progress; a failure names the step.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
BUILD_DIR="${BUILD_DIR:-build/dev}"
TOOLS_BIN="${ORDERGUARD_TOOLS_BIN:-$(e2e/tools/build.sh)}"
CLUSTER_DIR="${CLUSTER_DIR:-$ROOT/.cluster}"
# Local ports of the three components (the demo test picks free ones).
OPERATOR_METRICS_PORT="${OPERATOR_METRICS_PORT:-18080}"
WEBHOOK_METRICS_PORT="${WEBHOOK_METRICS_PORT:-18081}"
AGENT_METRICS_PORT="${AGENT_METRICS_PORT:-18082}"
WEBHOOK_PORT="${WEBHOOK_PORT:-18443}"
DEMO_DIR="$CLUSTER_DIR/demo"
export KUBECONFIG="$CLUSTER_DIR/kubeconfig"
NS=orderguard-system   # the release namespace
RELEASE=og
kubectl() { "$TOOLS_BIN/kubectl" "$@"; }
helm() { "$TOOLS_BIN/helm" "$@"; }

step=""
trap 'echo; echo "demo: step \"$step\" failed (exit $?). Logs: $CLUSTER_DIR/logs/ and $DEMO_DIR/" >&2' ERR
say() { step="$1"; printf '\n\033[1m==> %s\033[0m\n' "$1"; }
wait_for() {  # wait_for <seconds> <command...>: poll until the command succeeds
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || { echo "timed out waiting for: $*" >&2; return 1; }
    sleep 1
  done
}
start_bg() {  # start_bg <name> <command...>: run in the background, pid in $DEMO_DIR/<name>.pid
  local name="$1"; shift
  if [[ -f "$DEMO_DIR/$name.pid" ]] && kill -0 "$(cat "$DEMO_DIR/$name.pid")" 2>/dev/null; then
    echo "$name already running (pid $(cat "$DEMO_DIR/$name.pid"))"
    return
  fi
  setsid "$@" >"$DEMO_DIR/$name.log" 2>&1 < /dev/null &
  echo $! >"$DEMO_DIR/$name.pid"
  echo "$name started (pid $!, log $DEMO_DIR/$name.log)"
}

service_account_kubeconfig() {  # <sa>: a kubeconfig authenticated as the chart's ServiceAccount
  local sa="$1" out="$DEMO_DIR/$1.kubeconfig" token server ca
  token="$(kubectl -n "$NS" create token "$sa" --duration=24h)"
  server="$(kubectl config view --raw -o jsonpath='{.clusters[0].cluster.server}')"
  ca="$(kubectl config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')"
  (umask 077; cat >"$out" <<EOT
apiVersion: v1
kind: Config
clusters: [{name: demo, cluster: {server: "$server", certificate-authority-data: "$ca"}}]
users: [{name: $sa, user: {token: "$token"}}]
contexts: [{name: $sa, context: {cluster: demo, user: $sa, namespace: $NS}}]
current-context: $sa
EOT
  )
  echo "$out"
}

say "1/5 start the local control plane and helm install the chart"
"$BUILD_DIR/e2e/orderguard-cluster" up --dir "$CLUSTER_DIR" --tools "$TOOLS_BIN"
mkdir -p "$DEMO_DIR"
kubectl version
# failurePolicy Ignore while no webhook answers yet (step 3 switches it to Fail);
# no --wait: without kubelets the chart's Deployments and DaemonSet never become ready.
echo "\$ helm upgrade --install $RELEASE charts/orderguard -n $NS --create-namespace"
helm upgrade --install "$RELEASE" charts/orderguard -n "$NS" --create-namespace \
  --set webhook.failurePolicy=Ignore
kubectl wait --for=condition=Established --timeout=60s crd --all
kubectl -n "$NS" get serviceaccounts,roles,rolebindings -l app.kubernetes.io/instance="$RELEASE"
kubectl get clusterroles,validatingwebhookconfigurations,minerpolicies -l app.kubernetes.io/instance="$RELEASE"
# The three components run here as processes, each with a token of its chart
# ServiceAccount: they get exactly the chart's RBAC, nothing more.
for sa in operator webhook agent; do service_account_kubeconfig "$RELEASE-$sa" >/dev/null; done
echo "kubeconfigs for $RELEASE-operator, $RELEASE-webhook, $RELEASE-agent written to $DEMO_DIR/"

say "2/5 run the operator (as $RELEASE-operator) and apply the order platform (examples/)"
start_bg operator "$BUILD_DIR/operator/orderguard-operator" \
  --kubeconfig "$DEMO_DIR/$RELEASE-operator.kubeconfig" --metrics-addr 127.0.0.1:$OPERATOR_METRICS_PORT \
  --leader-elect --leader-election-namespace "$NS"
# Nodes in three zones, as a real cluster would have (no kubelets run here).
for z in a b c; do
  kubectl apply -f - <<EOT
apiVersion: v1
kind: Node
metadata:
  name: node-$z
  labels: {topology.kubernetes.io/zone: zone-$z, kubernetes.io/hostname: node-$z}
EOT
  kubectl patch node "node-$z" --subresource=status --type=merge \
    -p '{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Demo","message":"demo node","lastHeartbeatTime":null}]}}' >/dev/null
done
kubectl apply -f examples/
wait_for 60 kubectl -n shop get deployment -l app.kubernetes.io/managed-by=orderguard-operator -o name
sleep 2
kubectl get orderguard -A
kubectl -n shop get deployments,hpa,pdb,services,configmaps -l app.kubernetes.io/managed-by=orderguard-operator
echo "(no kubelet runs here, so Pods stay Pending and Ready stays False)"

say "3/5 run the admission webhook (as $RELEASE-webhook) and refuse a miner Pod"
# Self-managed certificates, as the chart runs it: the webhook creates its CA and
# serving certificate in the Secret and writes the CA into the chart's
# ValidatingWebhookConfiguration. 127.0.0.1 is added to the names because the
# API server reaches this local process by URL instead of through the Service.
start_bg webhook "$BUILD_DIR/webhook/orderguard-webhook" \
  --kubeconfig "$DEMO_DIR/$RELEASE-webhook.kubeconfig" \
  --listen 127.0.0.1:$WEBHOOK_PORT --metrics-addr 127.0.0.1:$WEBHOOK_METRICS_PORT --leader-elect --namespace "$NS" \
  --cert-mode self-managed --service-name "$RELEASE-webhook" --secret-name "$RELEASE-webhook-tls" \
  --webhook-config-name "$RELEASE-miners" --extra-san 127.0.0.1
wait_for 60 curl -sf http://127.0.0.1:$WEBHOOK_METRICS_PORT/readyz
wait_for 30 bash -c "[[ -n \"\$('$TOOLS_BIN/kubectl' get validatingwebhookconfiguration $RELEASE-miners -o jsonpath='{.webhooks[0].clientConfig.caBundle}')\" ]]"
echo "certificate Secret $NS/$RELEASE-webhook-tls created; caBundle of $RELEASE-miners set"
# The Service has no endpoints here: send the API server to the local process,
# and refuse when it cannot answer (failurePolicy Fail, the chart's default).
kubectl patch validatingwebhookconfiguration "$RELEASE-miners" --type=json -p "[
  {\"op\":\"remove\",\"path\":\"/webhooks/0/clientConfig/service\"},
  {\"op\":\"add\",\"path\":\"/webhooks/0/clientConfig/url\",\"value\":\"https://127.0.0.1:$WEBHOOK_PORT/validate\"},
  {\"op\":\"replace\",\"path\":\"/webhooks/0/failurePolicy\",\"value\":\"Fail\"},
  {\"op\":\"remove\",\"path\":\"/webhooks/1/clientConfig/service\"},
  {\"op\":\"add\",\"path\":\"/webhooks/1/clientConfig/url\",\"value\":\"https://127.0.0.1:$WEBHOOK_PORT/validate\"}]"
echo "\$ kubectl -n shop run miner --image=xmrig/xmrig -- -o stratum+tcp://pool.minexmr.com:4444"
if kubectl -n shop run miner --image=xmrig/xmrig -- -o stratum+tcp://pool.minexmr.com:4444; then
  echo "demo: the miner Pod was admitted; the webhook should have refused it" >&2
  false
fi
echo "(refused, as it should be)"

say "4/5 find a miner process on this host with orderguard-agent scan"
# A stand-in miner: a shell named xmrig carrying a pool URL and miner flags in
# its command line, as a dropped miner would (it only sleeps).
fake="$DEMO_DIR/xmrig"
cp /bin/sh "$fake"
"$fake" -c 'sleep 60; :' xmrig -o stratum+tcp://pool.supportxmr.com:3333 --donate-level=1 &
miner_pid=$!
sleep 0.5
echo "\$ orderguard-agent scan   (stand-in miner running as pid $miner_pid)"
rc=0
"$BUILD_DIR/agent/orderguard-agent" scan --interval 1 --no-hidden >"$DEMO_DIR/scan.txt" || rc=$?
head -1 "$DEMO_DIR/scan.txt"
sed -n '/PROCESSES WITH FINDINGS/,$p' "$DEMO_DIR/scan.txt" | head -30
kill "$miner_pid" 2>/dev/null || true
if [[ $rc -ne 1 ]] || ! grep -q "^  $miner_pid " "$DEMO_DIR/scan.txt"; then
  echo "demo: the scan did not report the stand-in miner (exit $rc)" >&2
  false
fi
echo "(found: exit code 1 means miner findings; full report in $DEMO_DIR/scan.txt)"

say "5/5 a miner inside a Pod: the agent (as $RELEASE-agent) evicts it and quarantines its workload"
# A real cgroup for the stand-in container: cgroup v2 (systemd driver naming) when
# /sys/fs/cgroup is the unified hierarchy, else the v1 pids controller (cgroupfs naming).
cg_base=""
if [[ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" == cgroup2fs && -w /sys/fs/cgroup ]]; then
  cg_base=/sys/fs/cgroup/orderguard-demo.slice
elif grep -q " /sys/fs/cgroup/pids cgroup " /proc/mounts && [[ -w /sys/fs/cgroup/pids ]]; then
  cg_base=/sys/fs/cgroup/pids/kubepods
fi
if [[ -z "$cg_base" ]]; then
  echo "(skipped: needs root and a writable cgroup hierarchy under /sys/fs/cgroup)"
else
  kubectl -n shop create deployment cruncher --image=busybox:1.36 --dry-run=client -o yaml \
    -- sleep 3600 | kubectl apply -f -
  wait_for 60 bash -c "[[ -n \"\$('$TOOLS_BIN/kubectl' -n shop get pods -l app=cruncher -o name)\" ]]"
  pod="$(kubectl -n shop get pods -l app=cruncher -o jsonpath='{.items[0].metadata.name}')"
  uid="$(kubectl -n shop get pod "$pod" -o jsonpath='{.metadata.uid}')"
  cid="$(printf '%064x' "$RANDOM$RANDOM$RANDOM")"
  # What the scheduler and kubelet would do: bind the Pod to node-a, report it running.
  kubectl create -f - >/dev/null <<EOT
apiVersion: v1
kind: Binding
metadata: {name: $pod, namespace: shop}
target: {apiVersion: v1, kind: Node, name: node-a}
EOT
  kubectl -n shop patch pod "$pod" --subresource=status --type=merge -p "{\"status\":{\"phase\":\"Running\",
    \"containerStatuses\":[{\"name\":\"busybox\",\"image\":\"docker.io/library/busybox:1.36\",
    \"imageID\":\"docker.io/library/busybox@sha256:$(printf '%064d' 0)\",
    \"containerID\":\"containerd://$cid\",\"ready\":true,\"restartCount\":0,
    \"state\":{\"running\":{}}}]}}" >/dev/null
  # The container's cgroup, named as the kubelet and containerd name it.
  if [[ "$cg_base" == *.slice ]]; then
    scope="$cg_base/kubepods-besteffort-pod${uid//-/_}.slice/cri-containerd-$cid.scope"
  else
    scope="$cg_base/besteffort/pod$uid/$cid"
  fi
  mkdir -p "$scope"
  "$fake" -c 'sleep 120; :' xmrig -o stratum+tcp://pool.supportxmr.com:3333 &
  pod_miner=$!
  echo "$pod_miner" >"$scope/cgroup.procs"
  echo "stand-in miner pid $pod_miner runs in the cgroup of Pod shop/$pod"
  start_bg agent "$BUILD_DIR/agent/orderguard-agent" run \
    --kubeconfig "$DEMO_DIR/$RELEASE-agent.kubeconfig" --quarantine-policy orderguard-default \
    --node-name node-a --interval 2 --hidden-chunk 2048 --metrics-addr 127.0.0.1:$AGENT_METRICS_PORT
  if wait_for 60 bash -c "! '$TOOLS_BIN/kubectl' -n shop get pod '$pod' -o jsonpath='{.metadata.deletionTimestamp}{.metadata.name}' | grep -qx '$pod'"; then
    echo "Pod shop/$pod evicted. Events:"
    kubectl -n shop get events.events.k8s.io --field-selector regarding.name="$pod" \
      -o custom-columns=REASON:.reason,NOTE:.note | head -3
    echo "Quarantine entries of MinerPolicy orderguard-default:"
    kubectl get minerpolicy orderguard-default -o jsonpath='{range .spec.quarantine[*]}{.scope} {.namespace}/{.workload.kind}/{.workload.name}: {.reason}{"\n"}{end}'
    echo "\$ kubectl -n shop scale deployment cruncher --replicas=2   # new Pods of a quarantined workload"
    kubectl -n shop scale deployment cruncher --replicas=2 >/dev/null
    sleep 3
    kubectl -n shop get events --field-selector reason=FailedCreate -o custom-columns=MESSAGE:.message \
      | grep -m1 quarantined-workload || true
  else
    echo "demo: the agent did not evict shop/$pod; see $DEMO_DIR/agent.log" >&2
    kill "$pod_miner" 2>/dev/null || true
    false
  fi
  kill "$pod_miner" 2>/dev/null || true
  wait "$pod_miner" 2>/dev/null || true
  d="$scope"
  while [[ "$d" == "$cg_base"* ]]; do rmdir "$d" 2>/dev/null || break; d="$(dirname "$d")"; done
fi

step="done"
say "done: the control plane, operator, webhook and agent keep running"
cat <<EOT
Go on with kubectl and helm (the same binaries the demo uses):
  export KUBECONFIG=$KUBECONFIG
  export PATH=$TOOLS_BIN:\$PATH
  kubectl get orderguard -A                       # tier resources and MinerPolicies
  kubectl -n shop get deployments,hpa,pdb -o wide  # what the operator made
  kubectl get minerpolicy orderguard-default -o yaml   # quarantine entries
  helm -n $NS status $RELEASE                     # the chart's resources
  curl -s http://127.0.0.1:$OPERATOR_METRICS_PORT/metrics | grep controller_runtime_reconcile_total
  curl -s http://127.0.0.1:$WEBHOOK_METRICS_PORT/metrics | grep orderguard_webhook_requests_total
  curl -s http://127.0.0.1:$AGENT_METRICS_PORT/metrics | grep orderguard_agent_evictions_total
Logs: $DEMO_DIR/{operator,webhook,agent}.log and $CLUSTER_DIR/logs/
Stop everything: make demo-down
EOT
