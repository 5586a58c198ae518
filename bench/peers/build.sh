#!/usr/bin/env bash
# Builds the benchmark peers (bench/peers/README.md) from their published Go
# modules, pinned by bench/peers/go.mod and go.sum:
#   peer-webhook   a validating admission webhook on controller-runtime's webhook server
#   peer-operator  a controller-runtime operator for OrderService
# They are benchmarks only: no test and no image depends on them.
#
# Output goes to a cache outside the clone, keyed by a hash of go.mod, go.sum and
# the sources, so a fresh clone on the same machine reuses it:
#   $ORDERGUARD_CACHE/peers/<key>/bin
# The Go module cache is the one e2e/tools/build.sh uses. Prints the bin
# directory on stdout; progress goes to stderr.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cache="${ORDERGUARD_CACHE:-$HOME/.cache/orderguard}"
key="$(cd "$here" && cat go.mod go.sum webhook/*.go operator/*.go | sha256sum | cut -c1-16)_$(go env GOVERSION)"
bin="$cache/peers/$key/bin"
mkdir -p "$bin"
# One build at a time per cache key.
exec 9>"$cache/peers/$key/.lock"
flock 9

export CGO_ENABLED=0
export GOFLAGS="-mod=readonly -buildvcs=false"
export GOMODCACHE="${GOMODCACHE:-$cache/gomod}"
export GOCACHE="${GOCACHE:-$cache/gobuild}"

for name in webhook operator; do
  out="peer-$name"
  [[ -x "$bin/$out" ]] && continue
  echo "building $out (once; cached in $bin)" >&2
  (cd "$here" && go build -p 2 -trimpath -ldflags "-s -w" -o "$bin/$out.tmp" "./$name")
  mv "$bin/$out.tmp" "$bin/$out"
done
echo "$bin"
