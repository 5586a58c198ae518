#!/usr/bin/env bash
# Installs what orderguard needs to build and test, idempotently:
#  1. Debian packages that are missing (nothing is reinstalled);
#  2. the real Kubernetes binaries, built once from Go modules into a cache
#     outside the clone (e2e/tools/build.sh); --no-tools skips them (and Go),
#     e.g. for `make images`.
# Usage: scripts/deps.sh [--no-tools]
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost-dev libssl-dev zlib1g-dev openssl libyaml-cpp-dev prometheus-cpp-dev
  nlohmann-json3-dev libre2-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev
  libmimalloc-dev
  clang-format curl wrk hyperfine nginx-light nghttp2-client valgrind procps time bc python3
  # The real test node: container runtime, CNI plugins, host networking tools,
  # and busybox for the test image (e2e/node.h).
  containerd runc containernetworking-plugins iptables iproute2 busybox-static
  # Images (scripts/images.sh): buildah, base images without a registry;
  # shellcheck for the scripts.
  buildah mmdebstrap util-linux shellcheck
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "deps: installing Debian packages: ${missing[*]}" >&2
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
else
  echo "deps: Debian packages present" >&2
fi

if [[ "${1:-}" == "--no-tools" ]]; then
  exit 0
fi

if ! command -v go >/dev/null; then
  echo "deps: the Go toolchain is needed to build the test control plane (kube-apiserver, etcd," \
       "kubectl, helm); install Go 1.24 or newer" >&2
  exit 1
fi

"$(dirname "$0")/../e2e/tools/build.sh" >/dev/null
echo "deps: Kubernetes binaries ready in $("$(dirname "$0")/../e2e/tools/build.sh")" >&2
