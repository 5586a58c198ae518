#!/usr/bin/env bash
# Checks the images `make images` built (scripts/images.sh), in buildah's
# storage under ${ORDERGUARD_CACHE:-~/.cache/orderguard}:
#  - each product image runs as the user the chart's securityContext expects
#    (runAsUser under <component>: in charts/orderguard/values.yaml; an empty image
#    User counts as root), with the binary as its entrypoint and the chart's
#    version as its org.opencontainers.image.version label;
#  - `<binary> --help` works inside the image's root file system (chroot into
#    a `buildah mount` of it, as that user), and the dynamic loader finds every
#    shared library;
#  - the runtime stage added only packages the binary loads a library from
#    (or a dependency of one; ca-certificates is allowed as the TLS trust store):
#    lists them with sizes, and the image sizes;
#  - the test node's images: pause is a static /pause, user 65535, that answers
#    -v; testbox has /bin/sh and the applets the tests use; batch-worker is the
#    static stand-in miner and starts;
#  - `scripts/images.sh import` into a throwaway containerd (if installed)
#    yields exactly the names the chart and the node use.
# Exit 0: all good; 1: a check failed; 77: skipped (not root, no buildah, or
# the images are not built), so CTest reports SKIP.
set -euo pipefail

# shellcheck source=scripts/images_common.sh
source "$(dirname "$0")/images_common.sh"

skip() { echo "SKIP: $*" >&2; exit 77; }
if [[ $(id -u) -ne 0 ]]; then skip "needs root (buildah mount, chroot)"; fi
if ! command -v buildah >/dev/null; then skip "buildah is not installed (scripts/deps.sh)"; fi
og_private_var_lib "$0" "$@"
if [[ ! -f "$og_buildah/storage.conf" ]]; then
  skip "no image storage in $og_buildah: run 'make images' first"
fi
og_setup_storage
for c in "${og_components[@]}"; do
  if ! og_image_exists "$(og_image_name "$c")"; then
    skip "$(og_image_name "$c") is not built: run 'make images' first"
  fi
done

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { echo "ok: $*" >&2; }

containers=()
cleanup() {
  local c
  for c in "${containers[@]}"; do buildah rm "$c" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT

mnt=""
mount_image() {  # mount_image <image>: a working container of it, mounted at $mnt
  local ctr
  ctr="$(buildah from --pull=never "$1")"
  containers+=("$ctr")
  mnt="$(buildah mount "$ctr")"
}

# Packages of a mounted root file system: "name<TAB>installed KiB", sorted.
packages() { dpkg-query --admindir="$1/var/lib/dpkg" -W -f='${Package}\t${Installed-Size}\n' | sort; }
# Packages installed on purpose (apt-mark showmanual), sorted.
manual_packages() { chroot "$1" apt-mark showmanual | sort; }

# Owning package of a file in a mounted root file system (usrmerge: the dpkg
# database may list /lib/... or /usr/lib/..., and the symlink or its target).
owner() {
  local mnt="$1" path="$2" p
  local candidates=("$path" "/usr$path" "${path#/usr}")
  candidates+=("$(chroot "$mnt" readlink -f "$path")")
  for p in "${candidates[@]}"; do
    if chroot "$mnt" dpkg-query -S "$p" 2>/dev/null | head -1 | cut -d: -f1; then return; fi
  done
  echo "?"
}

# The packages of debian:12-slim, to tell what the runtime stage added.
mount_image docker.io/library/debian:12-slim
slim_mnt="$mnt"
packages "$slim_mnt" >"$og_buildah/tmp/check.slim-packages"
manual_packages "$slim_mnt" >"$og_buildah/tmp/check.slim-manual"

# The chart's default runAsUser for a component: the first in its section of
# values.yaml (podSecurityContext or securityContext).
chart_uid() {
  awk -v section="$1:" '
    $0 == section { inside = 1; next }
    inside && /^[^ #]/ { exit }
    inside && $1 == "runAsUser:" { print $2; exit }' "$og_root/charts/orderguard/values.yaml"
}

summary=()
for c in "${og_components[@]}"; do
  name="$(og_image_name "$c")"
  bin="/usr/local/bin/orderguard-$c"
  echo "== $name" >&2
  user="$(buildah inspect --type image --format '{{.OCIv1.Config.User}}' "$name")"
  entrypoint="$(buildah inspect --type image --format '{{.OCIv1.Config.Entrypoint}}' "$name")"
  uid="${user%%:*}"; uid="${uid:-0}"
  gid=0
  if [[ "$user" == *:* ]]; then gid="${user#*:}"; fi
  want_uid="$(chart_uid "$c")"
  if [[ -z "$want_uid" ]]; then
    fail "$c: no runAsUser under $c: in charts/orderguard/values.yaml"
  elif [[ "$uid" == "$want_uid" ]]; then
    ok "$c: image user '${user:-<root>}' matches the chart's runAsUser $want_uid"
  else
    fail "$c: image user '${user:-<root>}', the chart runs it as $want_uid"
  fi
  if [[ "$entrypoint" == "[$bin]" ]]; then
    ok "$c: entrypoint $entrypoint"
  else
    fail "$c: entrypoint $entrypoint, want [$bin]"
  fi

  version="$(buildah inspect --type image \
               --format '{{index .OCIv1.Config.Labels "org.opencontainers.image.version"}}' "$name")"
  if [[ "$version" == "$og_tag" ]]; then
    ok "$c: label org.opencontainers.image.version=$version"
  else
    fail "$c: label org.opencontainers.image.version='$version', want $og_tag (VERSION build-arg)"
  fi

  mount_image "$name"
  if out="$(chroot --userspec="$uid:$gid" "$mnt" "$bin" --help 2>&1)" && [[ -n "$out" ]]; then
    ok "$c: '$bin --help' as $uid:$gid in the image: $(head -1 <<<"$out")"
  else
    fail "$c: '$bin --help' as $uid:$gid in the image failed: $out"
  fi

  # The build stamps the commit it was built from (GIT_COMMIT build-arg); "unknown" means
  # scripts/images.sh did not pass it and `--version` would not tell which code runs.
  if out="$(chroot --userspec="$uid:$gid" "$mnt" "$bin" --version 2>&1)" &&
     grep -Eq 'git commit: [0-9a-f]{40}' <<<"$out"; then
    ok "$c: '$bin --version': $(tr -s ' \t\n' ' ' <<<"$out")"
  else
    fail "$c: '$bin --version' names no commit: $out"
  fi

  # The agent trusts the digests of the three binaries it was built with (agent/exclusions.h):
  # its own must be among them.
  if [[ "$c" == agent ]]; then
    sums="$mnt/usr/local/share/orderguard/binaries.sha256"
    own="$(sha256sum "$mnt$bin" | cut -d' ' -f1)"
    if [[ -f "$sums" && "$(wc -l <"$sums")" == 3 ]] && grep -q "^$own  orderguard-agent$" "$sums"; then
      ok "$c: /usr/local/share/orderguard/binaries.sha256 holds 3 digests, its own included"
    else
      fail "$c: /usr/local/share/orderguard/binaries.sha256 missing or without the agent's digest"
    fi
  fi

  # Shared libraries, as the image's own loader resolves them.
  interp="$(chroot "$mnt" sh -c 'ls /lib64/ld-linux-*.so.* 2>/dev/null | head -1')"
  libs="$(chroot "$mnt" "$interp" --list "$bin" 2>&1)"
  if grep -q "not found" <<<"$libs"; then
    fail "$c: libraries not found: $(grep "not found" <<<"$libs" | tr -s ' \t\n' ' ')"
  else
    ok "$c: every shared library found ($(grep -c '=>' <<<"$libs") loaded)"
  fi
  lib_packages="$(awk '$2 == "=>" { print $3 }' <<<"$libs" | while read -r lib; do owner "$mnt" "$lib"; done | sort -u)"

  # What the runtime stage added on purpose must be loaded by this binary.
  added="$(comm -13 "$og_buildah/tmp/check.slim-packages" <(packages "$mnt"))"
  manual_added="$(comm -13 "$og_buildah/tmp/check.slim-manual" <(manual_packages "$mnt"))"
  for p in $manual_added; do
    if [[ "$p" == ca-certificates ]]; then continue; fi
    if ! grep -qxF "$p" <<<"$lib_packages"; then
      fail "$c: the runtime stage installs $p, but $bin loads no library from it"
    fi
  done
  while read -r p; do
    if [[ -n "$p" && "$p" != "?" ]] && ! grep -q "^$p"$'\t' <(packages "$mnt"); then
      fail "$c: library package $p is not installed"
    fi
  done <<<"$lib_packages"
  added_kib="$(awk -F'\t' '{ s += $2 } END { print s + 0 }' <<<"$added")"
  echo "packages the runtime stage added ($(wc -l <<<"$added"), $((added_kib / 1024)) MiB installed;" \
       "* = installed on purpose):" >&2
  while IFS=$'\t' read -r p kib; do
    mark=" "
    if grep -qxF "$p" <<<"$manual_added"; then mark="*"; fi
    printf '  %s %-32s %6s KiB\n' "$mark" "$p" "$kib" >&2
  done <<<"$added"
  echo "loaded libraries come from: $(tr '\n' ' ' <<<"$lib_packages")" >&2
  summary+=("$name")
done

# The test node's images: FROM scratch, static, and doing what the node tests
# ask of them.
node_image() {  # node_image <name>: mounts it at $mnt, or fails when it is missing
  if ! og_image_exists "$1"; then
    fail "$1 is not built"
    return 1
  fi
  summary+=("$1")
  mount_image "$1"
}
echo "== $og_pause_image" >&2
if node_image "$og_pause_image"; then
  user="$(buildah inspect --type image --format '{{.OCIv1.Config.User}}' "$og_pause_image")"
  files="$(cd "$mnt" && find . -mindepth 1 | sort | tr '\n' ' ')"
  if [[ "$user" == 65535:65535 && "$files" == "./pause " ]] &&
     out="$(chroot --userspec=65535:65535 "$mnt" /pause -v)"; then
    ok "pause: only /pause, user $user, static: $out"
  else
    fail "pause: user '$user', files: $files"
  fi
fi
echo "== $og_testbox_image" >&2
if node_image "$og_testbox_image"; then
  nc_help="$(chroot "$mnt" /bin/nc --help 2>&1 || true)"  # busybox help exits 1
  # shellcheck disable=SC2016  # $a expands in the image's shell
  if out="$(chroot "$mnt" /bin/sh -c 'for a in sleep nc wget cat; do command -v $a; done')" &&
     [[ "$(wc -l <<<"$out")" == 4 && "$nc_help" == *"-l"*"-e PROG"* ]]; then
    ok "testbox: /bin/sh with sleep, nc (-l, -e), wget, cat"
  else
    fail "testbox: /bin/sh or its applets missing: $(tr '\n' ' ' <<<"$out"); nc: $(head -3 <<<"$nc_help")"
  fi
fi
echo "== $og_miner_image" >&2
if node_image "$og_miner_image"; then
  files="$(cd "$mnt" && find . -type f | tr '\n' ' ')"
  out="$(timeout 2 chroot "$mnt" /usr/local/bin/batch-worker 2>&1 || true)"
  if [[ "$files" == "./usr/local/bin/batch-worker " && "$out" == *ready* ]]; then
    ok "batch-worker: only /usr/local/bin/batch-worker, static, starts ('$out')"
  else
    fail "batch-worker: files: $files; output: $out"
  fi
fi

# Import into a throwaway containerd (its own root, state and socket under a
# temporary directory; CRI and the /opt plugin off) with `scripts/images.sh
# import`, and compare `ctr -n k8s.io images ls` with the names the chart uses.
containerd_pid=""
containerd_dir=""
stop_containerd() {
  if [[ -n "$containerd_pid" ]]; then
    kill "$containerd_pid" 2>/dev/null || true
    wait "$containerd_pid" 2>/dev/null || true
    containerd_pid=""
  fi
  if [[ -n "$containerd_dir" ]]; then
    # Snapshot mounts left behind (none expected: ctr unpacks in temporary mounts).
    awk -v d="$containerd_dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r |
      while read -r m; do umount "$m" || true; done
    rm -rf "$containerd_dir"
    containerd_dir=""
  fi
}
trap 'stop_containerd; cleanup' EXIT

import_test() {
  if ! command -v containerd >/dev/null || ! command -v ctr >/dev/null; then
    echo "import test skipped: containerd/ctr not installed" >&2
    return
  fi
  if [[ ! -f "$og_images_dir/images.txt" ]]; then
    fail "no $og_images_dir/images.txt (archives not exported)"
    return
  fi
  containerd_dir="$(mktemp -d -p /tmp og-containerd.XXXXXX)"
  local sock="$containerd_dir/containerd.sock"
  cat >"$containerd_dir/config.toml" <<TOML
version = 2
root = "$containerd_dir/root"
state = "$containerd_dir/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt",
  "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
TOML
  containerd --config "$containerd_dir/config.toml" >"$containerd_dir/containerd.log" 2>&1 &
  containerd_pid=$!
  local up=0
  for _ in $(seq 1 100); do
    if ctr --address "$sock" version >/dev/null 2>&1; then up=1; break; fi
    sleep 0.1
  done
  if ((!up)); then
    fail "throwaway containerd did not start: $(tail -3 "$containerd_dir/containerd.log")"
    return
  fi
  local t0=$EPOCHREALTIME
  if ! "$og_root/scripts/images.sh" import --address "$sock" 2>"$containerd_dir/import.log"; then
    fail "scripts/images.sh import: $(tail -3 "$containerd_dir/import.log")"
    return
  fi
  local listed name line
  listed="$(ctr --address "$sock" -n k8s.io images ls)"
  echo "ctr -n k8s.io images ls (import took $(og_elapsed "$t0") s):" >&2
  while IFS= read -r line; do echo "  $line" >&2; done <<<"$listed"
  for name in "${summary[@]}"; do
    if grep -qxF "$name" <<<"$(awk 'NR > 1 { print $1 }' <<<"$listed")"; then
      ok "containerd has $name"
    else
      fail "containerd (k8s.io) lacks $name after import"
    fi
  done
  stop_containerd
}
import_test

echo "== sizes (uncompressed image; OCI archive)" >&2
for name in "${summary[@]}"; do
  size="$(buildah images --format '{{.Size}}' "$name" | head -1)"
  archive="$(awk -F'\t' -v n="$name" '$1 == n { print $2 }' "$og_images_dir/images.txt" 2>/dev/null || true)"
  asize="-"
  if [[ -n "$archive" && -f "$archive" ]]; then asize="$(du -h "$archive" | cut -f1)"; fi
  printf '  %-52s %10s  %s\n' "$name" "$size" "$asize" >&2
done

if ((failures)); then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all image checks passed" >&2
