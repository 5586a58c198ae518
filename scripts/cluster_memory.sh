#!/bin/bash
# Memory of a running local cluster (`make cluster-up` or `make demo`): RSS of the control
# plane, the node daemons, the containerd shims and every process in the kubepods cgroups (MiB).
#   scripts/cluster_memory.sh                    # the whole cluster
#   scripts/cluster_memory.sh --namespace NS     # the Pods of namespace NS only (needs kubectl
#                                                # and KUBECONFIG, as `make demo` prints them)
set -euo pipefail

rss_kb() {  # rss_kb <pids...>: their summed VmRSS in kB
  local p r sum=0
  for p in "$@"; do
    r=$(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
    sum=$((sum + ${r:-0}))
  done
  echo "$sum"
}
mib() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'; }

if [[ "${1:-}" == --namespace ]]; then
  ns="$2"
  kubectl="${KUBECTL:-$(command -v kubectl || echo "${ORDERGUARD_TOOLS_BIN:-}/kubectl")}"
  total=0
  while read -r name uid; do
    dir=$(find /sys/fs/cgroup/pids/kubepods -maxdepth 3 -type d -name "pod$uid" 2>/dev/null | head -1)
    [[ -n "$dir" ]] || continue
    # shellcheck disable=SC2046 # one pid per word
    kb=$(rss_kb $(find "$dir" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u))
    printf "%-40s %6s MiB\n" "$name" "$(mib "$kb")"
    total=$((total + kb))
  done < <("$kubectl" -n "$ns" get pods -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.uid}{"\n"}{end}')
  printf "%-40s %6s MiB\n" "total of the Pods in namespace $ns" "$(mib "$total")"
  exit 0
fi

total=0
for c in etcd kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet containerd \
         coredns orderguard-local-provisioner; do
  # By the program's path (ps -C would compare the 15-character comm).
  kb=$(ps -eo rss=,args= | awk -v c="$c" '{ n = split($2, a, "/") } a[n] == c {s+=$1} END {print s+0}')
  printf "%-30s %6s MiB\n" "$c" "$(mib "$kb")"; total=$((total + kb))
done
kb=$(ps -eo rss=,args= | awk '/containerd-shim/ && !/awk/ {s+=$1} END {print s+0}')
printf "%-30s %6s MiB\n" "containerd-shim (all)" "$(mib "$kb")"; total=$((total + kb))
# shellcheck disable=SC2046 # one pid per word
pods=$(rss_kb $(find /sys/fs/cgroup/pids/kubepods -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u))
printf "%-30s %6s MiB\n" "pod processes" "$(mib "$pods")"; total=$((total + pods))
printf "%-30s %6s MiB\n" "total" "$(mib "$total")"
