#!/usr/bin/env bash
# `make demo`: the main job on a local cluster with a real node (etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy, kubelet
# and containerd; the Kubernetes binaries built from pinned Go modules, the
# images built from the repository's Dockerfile by `make images`):
#   1. start the cluster and `helm install` the chart with its defaults (only the
#      pull policy changes: nothing is ever pulled here), so the operator (2
#      replicas), the webhook (3 replicas) and the agent (DaemonSet) run as Pods;
#   2. apply examples/ (the order platform) and show what the operator Pod made;
#   3. refuse a miner Pod: the API server calls the webhook through its Service;
#   4. `orderguard-agent scan` finds a stand-in miner process on this host;
#   5. a miner that got past admission: a Deployment whose image and spec look
#      like a batch worker but whose program burns a CPU and keeps a stratum
#      session to a pool Pod; the agent Pod finds it, evicts it, records an
#      Event and quarantines the Deployment, whose next Pods are refused;
#   6. the tiers serve (examples/local/, the platform scaled to this node): the
#      Redis Cluster forms, the MariaDB shards replicate, an order routed by
#      `orderguard-operator route` is written to its shard's primary and found
#      on its replica, and the app answers through its Service.
# Leaves everything running; `make demo-down` removes it all. Each step prints
# its progress; a failure names the step.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
BUILD_DIR="${BUILD_DIR:-build/dev}"
TOOLS_BIN="${ORDERGUARD_TOOLS_BIN:-$(e2e/tools/build.sh)}"
CLUSTER_DIR="${CLUSTER_DIR:-$ROOT/.cluster}"
IMAGES_DIR="${ORDERGUARD_IMAGES_DIR:-${ORDERGUARD_CACHE:-$HOME/.cache/orderguard}/images}"
DEMO_DIR="$CLUSTER_DIR/demo"
export KUBECONFIG="$CLUSTER_DIR/kubeconfig"
NS=orderguard-system   # the release namespace
RELEASE=og
MINER_IMAGE=localhost/orderguard/batch-worker:1
BOX_IMAGE=localhost/orderguard/testbox:1
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

say "1/6 start a cluster with a real node and helm install the chart"
"$BUILD_DIR/e2e/orderguard-cluster" up --dir "$CLUSTER_DIR" --tools "$TOOLS_BIN" --node \
  --images "$IMAGES_DIR"
mkdir -p "$DEMO_DIR"
kubectl get nodes -o wide
echo "\$ helm upgrade --install $RELEASE charts/orderguard -n $NS --create-namespace --set image.pullPolicy=Never --wait"
start=$SECONDS
helm upgrade --install "$RELEASE" charts/orderguard -n "$NS" --create-namespace \
  --set image.pullPolicy=Never --wait --timeout 5m
echo "(every chart Pod Ready $((SECONDS - start)) s after helm started)"
kubectl -n "$NS" get pods -o wide
kubectl get validatingwebhookconfigurations,minerpolicies -l app.kubernetes.io/instance="$RELEASE"

say "2/6 apply the order platform (examples/): the operator Pod reconciles it"
kubectl apply -f examples/
wait_for 90 kubectl -n shop get deployment orders-zone-c
kubectl get orderguard -A
kubectl -n shop get deployments,statefulsets,hpa,pdb,services,configmaps \
  -l app.kubernetes.io/managed-by=orderguard-operator
echo "(the node is in no zone of the examples, so their Pods stay Pending: nothing is pulled)"

say "3/6 refuse a miner Pod: the API server calls the webhook through its Service"
echo "\$ kubectl -n shop run miner --image=xmrig/xmrig -- -o stratum+tcp://pool.minexmr.com:4444"
if kubectl -n shop run miner --image=xmrig/xmrig -- -o stratum+tcp://pool.minexmr.com:4444; then
  echo "demo: the miner Pod was admitted; the webhook should have refused it" >&2
  false
fi
echo "(refused, as it should be)"

say "4/6 find a miner process on this host with orderguard-agent scan"
# A stand-in miner: a shell named xmrig carrying a pool URL and miner flags in
# its command line, as a dropped miner would (it only sleeps).
fake="$DEMO_DIR/xmrig"
cp /bin/sh "$fake"
"$fake" -c 'sleep 60; :' xmrig -o stratum+tcp://pool.supportxmr.com:3333 --donate-level=1 &
miner_pid=$!
sleep 0.5
echo "\$ orderguard-agent scan   (stand-in miner running as pid $miner_pid)"
rc=0
# The build tree's binaries are trusted (never reported) by their digests.
"$BUILD_DIR/agent/orderguard-agent" scan --interval 1s --no-hidden \
  --trusted-binaries "$BUILD_DIR/orderguard-binaries.sha256" >"$DEMO_DIR/scan.txt" || rc=$?
head -1 "$DEMO_DIR/scan.txt"
sed -n '/^MINERS/,$p' "$DEMO_DIR/scan.txt" | grep -A3 "^  $miner_pid " | head -8
kill "$miner_pid" 2>/dev/null || true
if [[ $rc -ne 1 ]] || ! grep -q "^  $miner_pid " "$DEMO_DIR/scan.txt"; then
  echo "demo: the scan did not report the stand-in miner (exit $rc)" >&2
  false
fi
echo "(found: exit code 1 means miner findings; full report in $DEMO_DIR/scan.txt)"

say "5/6 a miner that got past admission: the agent Pod evicts it and quarantines its Deployment"
kubectl create namespace pool --dry-run=client -o yaml | kubectl apply -f -
# The mining pool lives in the test network: a Pod that accepts stratum
# sessions on port 3333 and keeps them open.
kubectl apply -f - <<EOT
apiVersion: v1
kind: Pod
metadata: {name: stratum, namespace: pool, labels: {app: stratum}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: pool
      image: $BOX_IMAGE
      imagePullPolicy: Never
      command: [/bin/sh, -c, "while true; do nc -l -p 3333 -e /bin/cat; done & nc -ll -p 3334 -e /bin/cat"]
EOT
kubectl -n pool wait --for=condition=Ready pod/stratum --timeout=60s
pool_ip="$(kubectl -n pool get pod stratum -o jsonpath='{.status.podIP}')"
# Its image is a plain name, its arguments name no pool URL: admission has
# nothing to refuse. The program is the project's test miner.
kubectl apply -f - <<EOT
apiVersion: apps/v1
kind: Deployment
metadata: {name: cruncher, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: cruncher}}
  template:
    metadata: {labels: {app: cruncher}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
        - name: worker
          image: $MINER_IMAGE
          imagePullPolicy: Never
          args: [--burn, --connect, "$pool_ip", "3333"]
EOT
kubectl -n shop rollout status deployment/cruncher --timeout=60s
pod="$(kubectl -n shop get pods -l app=cruncher -o jsonpath='{.items[0].metadata.name}')"
pids="$(pgrep -f -- "[-]-connect $pool_ip 3333" | tr '\n' ' ')"
echo "Pod shop/$pod runs the miner as host pids $pids (admitted: nothing in its spec looks like one)"
echo "the agent Pod scans every 30 s (chart default)..."
start=$SECONDS
if wait_for 150 bash -c "! '$TOOLS_BIN/kubectl' -n shop get pod '$pod' -o jsonpath='{.metadata.deletionTimestamp}{.metadata.name}' | grep -qx '$pod'"; then
  echo "Pod shop/$pod evicted $((SECONDS - start)) s later. Events:"
  kubectl -n shop get events.events.k8s.io --field-selector regarding.name="$pod",reason=MinerDetected \
    -o custom-columns=REASON:.reason,ACTION:.action,NOTE:.note | head -3
  # "[-]": the pattern must not match the command line of a shell running it.
  gone=0
  for _ in $(seq 30); do
    pgrep -f -- "[-]-connect $pool_ip 3333" >/dev/null || { gone=1; break; }
    sleep 1
  done
  if ((!gone)); then
    echo "demo: the miner's processes still run on the host" >&2
    false
  fi
  echo "the miner's processes are gone from the host"
  echo "the agent Pod's Quarantine objects:"
  kubectl get quarantines -o wide
  echo "the Deployment's next Pods are refused:"
  wait_for 30 bash -c "'$TOOLS_BIN/kubectl' -n shop get events --field-selector reason=FailedCreate -o custom-columns=MESSAGE:.message | grep -q quarantined-workload"
  kubectl -n shop get events --field-selector reason=FailedCreate -o custom-columns=MESSAGE:.message \
    | grep -m1 quarantined-workload
else
  echo "demo: the agent did not evict shop/$pod; agent log:" >&2
  kubectl -n "$NS" logs -l app.kubernetes.io/component=agent --tail=30 >&2 || true
  false
fi

say "6/6 the tiers serve: a Redis Cluster, replicated MariaDB shards and the app (examples/local/)"
TIER_NS=shop-local
node="$(kubectl get nodes -o jsonpath='{.items[0].metadata.name}')"
kubectl label node "$node" topology.kubernetes.io/zone=local --overwrite
tier_ready() {  # tier_ready <kind/name> [condition]: that condition (default Ready) is True
  [[ "$(kubectl -n "$TIER_NS" get "$1" \
        -o jsonpath="{.status.conditions[?(@.type==\"${2:-Ready}\")].status}")" == True ]]
}
start=$SECONDS
kubectl apply -f examples/local/
wait_for 600 tier_ready cachetier/orders-cache
wait_for 600 tier_ready shardset/orders-db
# Ready covers the database servers; the tables come from the schema Job a moment later.
wait_for 300 tier_ready shardset/orders-db SchemaReady
wait_for 300 tier_ready orderservice/orders
echo "(every tier Ready $((SECONDS - start)) s after kubectl apply)"
kubectl get orderguard -n "$TIER_NS"
echo "Redis Cluster state (redis-cli cluster info on a member):"
kubectl -n "$TIER_NS" exec orders-cache-redis-0 -- redis-cli cluster info \
  | grep -E '^cluster_(state|slots_ok|known_nodes|size):'
user_id=$((RANDOM * 1000 + RANDOM))
today="$(date -u +%F)"
echo "\$ orderguard-operator route --shardset examples/local/order-platform.yaml --key $user_id --time $today"
"$BUILD_DIR/operator/orderguard-operator" route --shardset examples/local/order-platform.yaml \
  --key "$user_id" --time "$today" | tee "$DEMO_DIR/route.txt"
db_index="$(sed -n 's/.*(index \([0-9]*\)).*/\1/p' "$DEMO_DIR/route.txt")"
db_name="$(sed -n 's/.*database \([a-z0-9_]*\) .*/\1/p' "$DEMO_DIR/route.txt")"
table="$(sed -n 's/.*table \([a-z0-9_]*\)$/\1/p' "$DEMO_DIR/route.txt")"
password="$(kubectl -n "$TIER_NS" get secret orders-db-mysql -o jsonpath='{.data.root-password}' | base64 -d)"
sql() {  # sql <pod> <statement>: as root inside a shard Pod
  kubectl -n "$TIER_NS" exec "$1" -c mysql -- env MYSQL_PWD="$password" mariadb -uroot -N -B -e "$2"
}
sql "orders-db-$db_index-0" "INSERT INTO $db_name.$table (order_id, user_id, created_at, body) \
  VALUES ($user_id, '$user_id', NOW(3), '{\"demo\": true}')"
echo "order $user_id written to $db_name.$table on the primary orders-db-$db_index-0"
on_replica() { [[ "$(sql "orders-db-$db_index-replica-0" "SELECT COUNT(*) FROM $db_name.$table WHERE order_id = $user_id")" == 1 ]]; }
wait_for 30 on_replica
echo "found on its replica orders-db-$db_index-replica-0:"
sql "orders-db-$db_index-replica-0" "SELECT order_id, user_id, created_at FROM $db_name.$table WHERE order_id = $user_id"
echo "the app answers through its Service:"
kubectl -n "$TIER_NS" run web-check --image="$BOX_IMAGE" --restart=Never --rm -i --quiet --command -- \
  sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 5 $(kubectl -n "$TIER_NS" get svc orders -o jsonpath='{.spec.clusterIP}') 80 | tail -1"
scripts/cluster_memory.sh --namespace "$TIER_NS" | tail -1

step="done"
say "done: the cluster and the chart keep running"
cat <<EOT
Go on with kubectl and helm (the same binaries the demo uses):
  export KUBECONFIG=$KUBECONFIG
  export PATH=$TOOLS_BIN:\$PATH
  kubectl -n $NS get pods -o wide                 # the operator, webhook and agent Pods
  kubectl get orderguard -A                       # tier resources and MinerPolicies
  kubectl -n shop get deployments,hpa,pdb -o wide  # what the operator made
  kubectl get quarantines -o wide                 # what the agent quarantined (delete one to lift it)
  kubectl -n $NS logs -l app.kubernetes.io/component=agent   # the agent's findings
  helm -n $NS status $RELEASE                     # the chart's resources
Logs: $CLUSTER_DIR/logs/ (control plane and node)
Stop everything: make demo-down
EOT
