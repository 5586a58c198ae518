#!/usr/bin/env bash
# Builds the real Kubernetes binaries the e2e tests and `make cluster-up` use
# (etcd, kube-apiserver, kube-controller-manager, kubectl, helm, and for the
# real node kubelet, kube-proxy, kube-scheduler and the cluster DNS, CoreDNS) from their
# published Go modules, pinned by the go.mod files beside this script.
#
# Output goes to a cache outside the clone, keyed by version, so a fresh clone
# on the same machine reuses it:  $ORDERGUARD_CACHE/tools/<key>/bin
# Prints that bin directory on stdout; progress goes to stderr.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
KUBE_VERSION=v1.34.4
ETCD_VERSION=v3.6.13
HELM_VERSION=v3.19.0
cache="${ORDERGUARD_CACHE:-$HOME/.cache/orderguard}"
key="kube-${KUBE_VERSION}_etcd-${ETCD_VERSION}_helm-${HELM_VERSION}_$(go env GOVERSION)"
bin="$cache/tools/$key/bin"
mkdir -p "$bin"
# One build at a time per cache: concurrent `make` runs wait here instead of
# writing the same output files.
exec 9>"$cache/tools/$key/.lock"
flock 9

export CGO_ENABLED=0
export GOFLAGS="-mod=readonly -buildvcs=false"
export GOMODCACHE="${GOMODCACHE:-$cache/gomod}"
export GOCACHE="${GOCACHE:-$cache/gobuild}"

# build <module dir> <output name> <package> <ldflags>: once per cache key;
# the go.mod and go.sum of <module dir> are part of the binary's stamp, so a
# module added after the key's other binaries were built is built on its own.
build() {
  local dir="$1" out="$2" pkg="$3" ldflags="$4" stamp
  stamp="$(cat "$here/$dir/go.mod" "$here/$dir/go.sum" | sha256sum | cut -c1-16)"
  if [[ -x "$bin/$out" && ( ! -f "$bin/$out.stamp" || "$(cat "$bin/$out.stamp")" == "$stamp" ) ]]; then
    return 0
  fi
  echo "building $out from $pkg (once; cached in $bin)" >&2
  (cd "$here/$dir" && go build -p 2 -ldflags "$ldflags" -o "$bin/$out.tmp" "$pkg")
  mv "$bin/$out.tmp" "$bin/$out"
  echo "$stamp" >"$bin/$out.stamp"
}

minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
kube_ldflags=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
  kube_ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done

build etcd etcd . "-s -w"
build kube kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "-s -w $kube_ldflags"
build kube kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "-s -w $kube_ldflags"
build kube kubectl k8s.io/kubernetes/cmd/kubectl "-s -w $kube_ldflags"
build kube kubelet k8s.io/kubernetes/cmd/kubelet "-s -w $kube_ldflags"
build kube kube-proxy k8s.io/kubernetes/cmd/kube-proxy "-s -w $kube_ldflags"
build kube kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler "-s -w $kube_ldflags"
build coredns coredns . "-s -w"
build helm helm helm.sh/helm/v3/cmd/helm "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
echo "$bin"
