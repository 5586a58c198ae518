# shellcheck shell=bash disable=SC2034
# Shared by scripts/images.sh and scripts/check_images.sh (sourced, not run):
# where buildah keeps its storage, and the names of the images.
#
# Everything lives under ${ORDERGUARD_CACHE:-$HOME/.cache/orderguard}, outside
# the clone, so a fresh clone on the same machine reuses the base images, the
# layer cache and the ccache objects:
#   buildah/storage.conf   containers-storage configuration (CONTAINERS_STORAGE_CONF)
#   buildah/storage        image and layer store (graphroot)
#   buildah/run            its state directory (runroot)
#   buildah/tmp            TMPDIR of buildah: the build's cache mounts
#                          (buildah-cache/orderguard-ccache) and temporary files
#   base/                  root file systems made by mmdebstrap, one per key
#   images/                one OCI archive per image, <last path element>_<tag>.oci.tar
#                          (pause_3.10.oci.tar, orderguard-operator_0.1.0.oci.tar, ...;
#                          e2e/node_images.h imports every *.tar there), and
#                          images.txt listing name and archive
# Nothing is written to /var/lib/containers or /var/tmp (see og_private_var_lib).

og_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
og_cache="${ORDERGUARD_CACHE:-$HOME/.cache/orderguard}"
og_buildah="$og_cache/buildah"
og_images_dir="$og_cache/images"

# Image names: the chart's defaults (charts/orderguard/values.yaml image.registry,
# and image.tag or else Chart.yaml appVersion), so the chart installed with
# `image.pullPolicy: Never` finds them in the node's containerd.
og_chart_value() {  # og_chart_value <file> <section or ""> <key>
  awk -v section="$2" -v key="$3" '
    section == "" && $1 == key ":" { v = $2; found = 1; exit }
    section != "" && $0 ~ "^" section ":" { inside = 1; next }
    inside && /^[^ #]/ { inside = 0 }
    inside && $1 == key ":" { v = $2; found = 1; exit }
    END { gsub(/"/, "", v); if (found) print v }' "$1"
}
og_registry="$(og_chart_value "$og_root/charts/orderguard/values.yaml" image registry)"
og_tag="$(og_chart_value "$og_root/charts/orderguard/values.yaml" image tag)"
if [[ -z "$og_tag" ]]; then
  og_tag="$(og_chart_value "$og_root/charts/orderguard/Chart.yaml" "" appVersion)"
fi
if [[ -z "$og_registry" || -z "$og_tag" ]]; then
  echo "images: cannot read image.registry / appVersion from charts/orderguard" >&2
  exit 1
fi
og_components=(operator webhook agent)
og_image_name() { echo "$og_registry/orderguard-$1:$og_tag"; }  # og_image_name <component>
# The images of a test node (e2e/node_images.h), each FROM scratch: the pod
# sandbox for containerd's sandbox_image, a busybox box for test Pods, and the
# project's stand-in miner (agent/test/fake_miner_main.cpp) under a benign name.
og_pause_image="localhost/orderguard/pause:3.10"
og_testbox_image="localhost/orderguard/testbox:1"
og_miner_image="localhost/orderguard/batch-worker:1"
# The data and app tiers' test images: Debian's Redis and MariaDB (built FROM
# the local debian:12-slim by e2e/node/<name>/Containerfile) and a busybox
# HTTP server standing in for the order service.
og_redis_image="localhost/orderguard/redis:7.0"
og_mariadb_image="localhost/orderguard/mariadb:10.11"
og_app_image="localhost/orderguard/order-app:1"
og_node_images=("$og_pause_image" "$og_testbox_image" "$og_miner_image" "$og_app_image"
                "$og_redis_image" "$og_mariadb_image")

# buildah with the storage above (every buildah call of these scripts goes
# through the environment set here).
og_setup_storage() {
  mkdir -p "$og_buildah/storage" "$og_buildah/run" "$og_buildah/tmp"
  local conf="$og_buildah/storage.conf"
  local want
  want="$(printf '[storage]\ndriver = "%s"\ngraphroot = "%s"\nrunroot = "%s"\n' \
    "${ORDERGUARD_STORAGE_DRIVER:-overlay}" "$og_buildah/storage" "$og_buildah/run")"
  if [[ ! -f "$conf" || "$(cat "$conf")" != "$want" ]]; then
    printf '%s\n' "$want" >"$conf"
  fi
  export CONTAINERS_STORAGE_CONF="$conf"
  # buildah keeps RUN --mount=type=cache directories under $TMPDIR/buildah-cache.
  export TMPDIR="$og_buildah/tmp"
}

# og_private_var_lib "$0" "$@" (first thing a script does): runs the script
# again in a private mount namespace where /var/lib is read-only. buildah 1.28
# running as root writes its blob-info cache to /var/lib/containers/cache
# whatever the storage configuration says (there is no option for it); when it
# cannot create that directory it keeps the cache in memory, which is all a
# build without registries needs. Mounts made inside (buildah mount, the build's
# overlays) are invisible outside and go away with the namespace.
og_private_var_lib() {
  if [[ "${ORDERGUARD_PRIVATE_MOUNTS:-}" != 1 ]]; then
    export ORDERGUARD_PRIVATE_MOUNTS=1
    exec unshare --mount --propagation private -- "$@"
  fi
  if ! findmnt -n -o OPTIONS --target /var/lib | grep -qE '(^|,)ro(,|$)'; then
    mount --bind /var/lib /var/lib
    mount -o remount,bind,ro /var/lib
  fi
}

og_image_exists() { buildah inspect --type image "$1" >/dev/null 2>&1; }

og_log() { echo "images: $*" >&2; }

# og_elapsed <start $EPOCHREALTIME>: seconds since then, one decimal.
og_elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
