#!/bin/bash
# Memory of a running local cluster (`make cluster-up` or `make demo`): RSS of the control
# plane, the node daemons, the containerd shims and every process in the kubepods cgroups (MiB).
total=0
for c in etcd kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet containerd; do
  kb=$(ps -C "$c" -o rss= | awk '{s+=$1} END {print s+0}')
  printf "%-26s %6.1f MiB\n" "$c" "$(echo "$kb/1024" | bc -l)"; total=$((total+kb))
done
kb=$(ps -eo rss=,args= | awk '/containerd-shim/ && !/awk/ {s+=$1} END {print s+0}')
printf "%-26s %6.1f MiB\n" "containerd-shim (all)" "$(echo "$kb/1024" | bc -l)"; total=$((total+kb))
pods=0
for p in $(cat /sys/fs/cgroup/pids/kubepods/cgroup.procs $(find /sys/fs/cgroup/pids/kubepods -name cgroup.procs) 2>/dev/null | sort -u); do
  r=$(awk '/VmRSS/ {print $2}' /proc/$p/status 2>/dev/null); pods=$((pods + ${r:-0}))
done
printf "%-26s %6.1f MiB\n" "pod processes" "$(echo "$pods/1024" | bc -l)"; total=$((total+pods))
printf "%-26s %6.1f MiB\n" "total" "$(echo "$total/1024" | bc -l)"
