#!/usr/bin/env bash
# Builds the product images (operator, webhook, agent) from the repository's
# Dockerfile with buildah, and the images of a test node (a pause image for
# containerd's pod sandbox, a busybox box, a stand-in miner), without any
# container registry:
#  1. the Dockerfile's FROM images (debian:12 and debian:12-slim) are made
#     locally with mmdebstrap from the Debian mirror apt uses on this machine
#     and stored under the names `FROM` resolves to (docker.io/library/...);
#  2. `buildah bud --layers --pull=never` builds each target with the layer
#     cache, and the compile step keeps ccache's objects in a cache mount;
#  3. every image is exported as an OCI archive that `ctr images import` and
#     `buildah push`/`skopeo copy` take.
# Storage, caches and archives live under ${ORDERGUARD_CACHE:-~/.cache/orderguard}
# (see scripts/images_common.sh). Idempotent: what exists is reused; each
# step's time goes to stderr.
#
# Usage:
#   scripts/images.sh [build] [--version V] [--jobs N] [--isolation chroot|oci]
#                     [--refresh-base]
#   scripts/images.sh import --address SOCKET [--namespace NS] [--snapshotter NAME]
#   scripts/images.sh names        # the image names and archives (name<TAB>archive)
#   scripts/images.sh check        # scripts/check_images.sh
#   scripts/images.sh prune        # drop untagged images (the layer cache; ccache stays)
# Needs root (buildah's overlay storage, mmdebstrap, chroot), and the Debian
# packages buildah, mmdebstrap and, for import, containerd (scripts/deps.sh).
set -euo pipefail

# shellcheck source=scripts/images_common.sh
source "$(dirname "$0")/images_common.sh"

usage() { sed -n '/^# Usage:/,/^# Needs root/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# ---------------------------------------------------------------------------
# Debian mirror: the one apt uses here, read from /etc/apt/sources.list and
# /etc/apt/sources.list.d/*.list (one-line format) and *.sources (deb822).
# Prints "URI SUITE" for every enabled `deb` source.
apt_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    awk '$1 == "deb" {
           i = 2
           if ($i ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
           print $i, $(i + 1)
         }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    awk 'function flush(   n, m, a, b, U, S) {
           if (types ~ /(^|[ \t])deb([ \t]|$)/ && enabled != "no") {
             n = split(uris, U, /[ \t]+/); m = split(suites, S, /[ \t]+/)
             for (a = 1; a <= n; a++) for (b = 1; b <= m; b++) if (U[a] != "" && S[b] != "") print U[a], S[b]
           }
           types = uris = suites = enabled = ""
         }
         /^[ \t]*#/ { next }
         /^[ \t]*$/ { flush(); next }
         /^[ \t]/ { next }
         { key = tolower($1); sub(/:$/, "", key); val = $0; sub(/^[^:]*:[ \t]*/, "", val)
           if (key == "types") types = val; else if (key == "uris") uris = val
           else if (key == "suites") suites = val; else if (key == "enabled") enabled = tolower(val) }
         END { flush() }' "$f"
  done
}

# Sets debian_uri and security_uri for suite $1 (e.g. bookworm).
find_mirror() {
  local suite="$1" sources
  sources="$(apt_sources)"
  debian_uri="$(awk -v s="$suite" '$2 == s { print $1; exit }' <<<"$sources")"
  if [[ -z "$debian_uri" ]]; then  # another release here: any Debian archive
    debian_uri="$(awk '$1 ~ /\/debian\/?$/ { print $1; exit }' <<<"$sources")"
  fi
  security_uri="$(awk -v s="$suite-security" '$2 == s { print $1; exit }' <<<"$sources")"
  if [[ -z "$security_uri" ]]; then
    security_uri="$(awk '$2 ~ /-security$/ { print $1; exit }' <<<"$sources")"
  fi
  if [[ -z "$debian_uri" ]]; then
    og_log "no Debian mirror found in /etc/apt/sources.list*; cannot make the base images"
    exit 1
  fi
  if [[ -z "$security_uri" ]]; then security_uri="${debian_uri%/}-security"; fi
}

# ---------------------------------------------------------------------------
# Base images. The Dockerfile's `ARG DEBIAN=debian:12` names debian:12 (build
# stage) and debian:12-slim (runtime stage); buildah resolves both to
# docker.io/library/... in local storage, so with --pull=never nothing is
# pulled. Both are mmdebstrap's minbase variant of bookworm (what the official
# image is: Essential + apt), with the official image's apt settings: no
# downloaded .debs or package caches left in layers, no translations.
# "slim" is minbase plus dpkg path-excludes like the official slim image
# (debuerreotype's slimify list): no docs except copyright files, man pages,
# info pages, locales or lintian overrides. The excludes are written to
# /etc/dpkg/dpkg.cfg.d/99mmdebstrap, so the runtime stage's apt-get install
# honours them too.
suite=bookworm
common_opts=(
  --variant=minbase --format=tar --skip=output/dev
  # merged /usr made by the hook (and usr-is-merged installed), as debootstrap
  # does, rather than by the usrmerge package, which would pull in perl.
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  --dpkgopt=force-unsafe-io
  '--aptopt=DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; }'
  '--aptopt=Dir::Cache::pkgcache ""'
  '--aptopt=Dir::Cache::srcpkgcache ""'
  '--aptopt=Acquire::Languages "none"'
  '--aptopt=APT::AutoRemove::SuggestsImportant "false"'
)
slim_opts=(
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/groff/*'
  --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/linda/*'
  --dpkgopt='path-exclude=/usr/share/lintian/overrides/*'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-exclude=/usr/share/man/*'
)

# make_base <image name> <flavour> <mmdebstrap options...>
# Cache key: suite, flavour and a hash of the options (no date, no mirror): the
# root file system is made once per key and kept in $og_cache/base; the image is
# re-created from it when missing from the buildah storage.
make_base() {
  local name="$1" flavour="$2"; shift 2
  local key tar t0 ctr mnt have
  key="debian-$suite-$flavour-$(printf '%s\n' "$suite" "$@" | sha256sum | cut -c1-12)"
  tar="$og_cache/base/$key.tar"
  have="$(buildah inspect --type image --format '{{index .OCIv1.Config.Labels "org.orderguard.base"}}' \
            "$name" 2>/dev/null || true)"
  if [[ "$have" == "$key" && "$refresh_base" == 0 ]]; then
    og_log "base $name: present ($key)"
    return
  fi
  if [[ ! -f "$tar" || "$refresh_base" == 1 ]]; then
    find_mirror "$suite"
    og_log "base $name: mmdebstrap --variant=minbase $suite from $debian_uri and $security_uri"
    t0=$EPOCHREALTIME
    mkdir -p "$og_cache/base"
    mmdebstrap --quiet "$@" "$suite" "$tar.tmp" \
      "deb $debian_uri $suite main" "deb $debian_uri $suite-updates main" \
      "deb $security_uri $suite-security main" >&2
    mv "$tar.tmp" "$tar"
    og_log "base $name: root file system $tar ($(du -h "$tar" | cut -f1)) in $(og_elapsed "$t0") s"
  fi
  t0=$EPOCHREALTIME
  ctr="$(buildah from --pull=never scratch)"
  mnt="$(buildah mount "$ctr")"
  tar -C "$mnt" --numeric-owner --xattrs --xattrs-include='*' -xpf "$tar"
  buildah umount "$ctr" >/dev/null
  buildah config --os linux --arch "$(go_arch)" \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd '["bash"]' --label "org.orderguard.base=$key" "$ctr"
  buildah commit --quiet --rm "$ctr" "$name" >/dev/null
  og_log "base $name: image committed from $tar in $(og_elapsed "$t0") s"
}

go_arch() {
  case "$(uname -m)" in
    x86_64) echo amd64 ;; aarch64) echo arm64 ;; *) uname -m ;;
  esac
}

# ---------------------------------------------------------------------------
# FROM-scratch images of a test node. Each is rebuilt only when its key (a hash
# of its sources and tools) differs from the org.orderguard.key label.
# make_scratch_image <name> <key> <fill function>; the function gets the
# working container and its mounted root, and sets the image's config.
make_scratch_image() {
  local name="$1" key="$2" fill="$3" have t0 ctr mnt
  have="$(buildah inspect --type image --format '{{index .OCIv1.Config.Labels "org.orderguard.key"}}' \
            "$name" 2>/dev/null || true)"
  if [[ "$have" == "$key" ]]; then
    og_log "node image $name: present"
    return
  fi
  t0=$EPOCHREALTIME
  ctr="$(buildah from --pull=never scratch)"
  mnt="$(buildah mount "$ctr")"
  "$fill" "$ctr" "$mnt"
  buildah umount "$ctr" >/dev/null
  buildah config --os linux --arch "$(go_arch)" --label "org.orderguard.key=$key" "$ctr"
  buildah commit --quiet --rm "$ctr" "$name" >/dev/null
  og_log "node image $name: built in $(og_elapsed "$t0") s"
}

# localhost/orderguard/pause:3.10: e2e/node/pause.c, static; sleeps until
# SIGTERM/SIGINT and reaps children.
fill_pause() {
  cc -static -O2 -Wall -Wextra -Werror -o "$2/pause" "$og_root/e2e/node/pause.c"
  strip "$2/pause"
  buildah config --entrypoint '["/pause"]' --cmd '' --user 65535:65535 "$1"
}

# localhost/orderguard/testbox:1: the Debian busybox-static binary and its applets
# (sh, sleep, nc, wget, ...) as symbolic links in /bin.
fill_testbox() {
  mkdir -p "$2/bin" "$2/tmp"
  chmod 1777 "$2/tmp"
  cp /bin/busybox "$2/bin/busybox"
  chroot "$2" /bin/busybox --install -s /bin
  buildah config --cmd '["/bin/sh"]' "$1"
}

# localhost/orderguard/batch-worker:1: og_fake_miner (burns a CPU, keeps a
# stratum session, carries miner argv), static, as /usr/local/bin/batch-worker.
fill_miner() {
  mkdir -p "$2/usr/local/bin"
  # Static glibc warns about getaddrinfo (the miner only resolves numeric hosts):
  # the compiler's output is shown only when it fails.
  local log="$og_buildah/tmp/batch-worker.log"
  if ! c++ -std=c++20 -O2 -static -pthread -o "$2/usr/local/bin/batch-worker" \
         "$og_root/agent/test/fake_miner_main.cpp" 2>"$log"; then
    cat "$log" >&2
    exit 1
  fi
  rm -f "$log"
  strip "$2/usr/local/bin/batch-worker"
  buildah config --entrypoint '["/usr/local/bin/batch-worker"]' --cmd '' "$1"
}

# localhost/orderguard/order-app:1: busybox (sh, httpd) and e2e/node/order-app/start.sh.
fill_app() {
  fill_testbox "$@"
  mkdir -p "$2/app"
  install -m 0755 "$og_root/e2e/node/order-app/start.sh" "$2/app/start.sh"
  buildah config --entrypoint '["/app/start.sh"]' --cmd '' --port 8080 "$1"
}

# The data tiers' images, from Debian packages: buildah bud of
# e2e/node/<dir>/Containerfile with the layer cache (apt runs once per change).
make_tier_images() {
  local name dir t0
  for name in "$og_redis_image" "$og_mariadb_image"; do
    dir="${name##*/}"; dir="${dir%%:*}"
    t0=$EPOCHREALTIME
    buildah bud --quiet --layers --pull=never --isolation "$1" --network host \
      -f "$og_root/e2e/node/$dir/Containerfile" -t "$name" "$og_root/e2e/node/$dir" >/dev/null
    og_log "tier image $name: $(og_elapsed "$t0") s"
  done
}

make_node_images() {
  local cc_version busybox_version
  cc_version="$(cc --version | head -1)"
  busybox_version="$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || true)"
  if [[ ! -x /bin/busybox || -z "$busybox_version" ]]; then
    og_log "the testbox image needs the Debian package busybox-static (scripts/deps.sh)"
    exit 1
  fi
  make_scratch_image "$og_pause_image" \
    "$( (cat "$og_root/e2e/node/pause.c"; echo "$cc_version") | sha256sum | cut -c1-16)" fill_pause
  make_scratch_image "$og_testbox_image" \
    "$(echo "busybox-static $busybox_version" | sha256sum | cut -c1-16)" fill_testbox
  make_scratch_image "$og_miner_image" \
    "$( (cat "$og_root/agent/test/fake_miner_main.cpp"; echo "$cc_version") | sha256sum | cut -c1-16)" \
    fill_miner
  make_scratch_image "$og_app_image" \
    "$( (echo "busybox-static $busybox_version"; cat "$og_root/e2e/node/order-app/start.sh") |
        sha256sum | cut -c1-16)" fill_app
}

# ---------------------------------------------------------------------------
# export_image <name> <archive>: OCI archive with the full name as its ref
# name; skipped when the archive already holds this image ID.
export_image() {
  local name="$1" archive="$2" id t0
  id="$(buildah inspect --type image --format '{{.FromImageID}}' "$name")"
  if [[ -f "$archive" && -f "$archive.id" && "$(cat "$archive.id")" == "$id" ]]; then
    og_log "export $name: $archive is up to date"
    return
  fi
  t0=$EPOCHREALTIME
  rm -f "$archive" "$archive.id"
  buildah push --quiet "$name" "oci-archive:$archive.tmp:$name" >/dev/null
  mv "$archive.tmp" "$archive"
  echo "$id" >"$archive.id"
  og_log "export $name: $archive ($(du -h "$archive" | cut -f1)) in $(og_elapsed "$t0") s"
}

archive_path() {  # archive_path <image name>: <dir>/<last path element>_<tag>.oci.tar
  local base="${1##*/}"
  echo "$og_images_dir/${base/:/_}.oci.tar"
}

build() {
  local version="$og_tag" jobs=2 isolation="${ORDERGUARD_ISOLATION:-chroot}" args=("$@")
  refresh_base=0
  while (($#)); do
    case "$1" in
      --version) version="$2"; shift 2 ;;
      --jobs) jobs="$2"; shift 2 ;;
      --isolation) isolation="$2"; shift 2 ;;
      --refresh-base) refresh_base=1; shift ;;
      *) usage ;;
    esac
  done
  if [[ $(id -u) -ne 0 ]]; then og_log "needs root (buildah storage, mmdebstrap, chroot)"; exit 1; fi
  og_private_var_lib "$0" build "${args[@]}"
  local tag="$og_tag"
  if [[ "$version" != "$og_tag" ]]; then tag="$version"; fi

  og_setup_storage
  mkdir -p "$og_images_dir"
  # One build per cache at a time.
  exec 8>"$og_buildah/.lock"
  flock 8

  local t_all=$EPOCHREALTIME t0 c name
  og_log "storage $og_buildah (CONTAINERS_STORAGE_CONF=$CONTAINERS_STORAGE_CONF), isolation $isolation"
  make_base docker.io/library/debian:12 minbase "${common_opts[@]}"
  make_base docker.io/library/debian:12-slim slim "${common_opts[@]}" "${slim_opts[@]}"
  make_node_images
  make_tier_images "$isolation"

  # --version of the binaries: the build context has no .git, so the commit is passed in.
  local commit
  commit="$(git -C "$og_root" rev-parse HEAD 2>/dev/null || echo unknown)"
  if [[ "$commit" != unknown ]] && ! git -C "$og_root" diff --quiet HEAD -- 2>/dev/null; then
    commit+="-dirty"
  fi
  local list=()
  for c in "${og_components[@]}"; do
    name="$og_registry/orderguard-$c:$tag"
    t0=$EPOCHREALTIME
    og_log "build $name (target $c, VERSION=$version, GIT_COMMIT=$commit)"
    # --network host: RUN steps (apt-get) use the host's network as they do with
    # chroot isolation; with oci isolation the default would be a CNI bridge,
    # which writes /var/lib/cni and adds iptables rules.
    buildah bud --layers --pull=never --isolation "$isolation" --network host \
      --target "$c" --build-arg "VERSION=$version" --build-arg "JOBS=$jobs" \
      --build-arg "GIT_COMMIT=$commit" \
      -f "$og_root/Dockerfile" -t "$name" "$og_root" >&2
    og_log "build $name: $(og_elapsed "$t0") s"
    list+=("$name")
  done
  list+=("${og_node_images[@]}")

  local manifest="$og_images_dir/images.txt"
  : >"$manifest.tmp"
  for name in "${list[@]}"; do
    export_image "$name" "$(archive_path "$name")"
    printf '%s\t%s\n' "$name" "$(archive_path "$name")" >>"$manifest.tmp"
  done
  mv "$manifest.tmp" "$manifest"

  og_log "done in $(og_elapsed "$t_all") s; images:"
  for name in "${list[@]}"; do
    printf '  %-52s %s\n' "$name" "$(archive_path "$name")" >&2
  done
  og_log "pause image for containerd's sandbox_image: $og_pause_image"
  og_log "import into a node's containerd: scripts/images.sh import --address <containerd socket>"
}

# ---------------------------------------------------------------------------
# Imports every archive of the last build into containerd (namespace k8s.io,
# where the CRI plugin, i.e. the kubelet, looks), unpacked for its snapshotter.
# Each archive names its image with the org.opencontainers.image.ref.name
# annotation, a full reference (ghcr.io/..., localhost/...), which ctr 1.6
# keeps as is (only a bare tag would get an "import-<date>" prefix); --base-name
# with the image's repository makes ctr import nothing else from the archive.
import_images() {
  local address="" namespace=k8s.io snapshotter="" t0 name archive
  while (($#)); do
    case "$1" in
      --address) address="$2"; shift 2 ;;
      --namespace) namespace="$2"; shift 2 ;;
      --snapshotter) snapshotter="$2"; shift 2 ;;
      *) usage ;;
    esac
  done
  if [[ -z "$address" ]]; then usage; fi
  local manifest="$og_images_dir/images.txt"
  if [[ ! -f "$manifest" ]]; then og_log "no $manifest: run scripts/images.sh first"; exit 1; fi
  local extra=()
  if [[ -n "$snapshotter" ]]; then extra+=(--snapshotter "$snapshotter"); fi
  while IFS=$'\t' read -r name archive; do
    t0=$EPOCHREALTIME
    ctr --address "$address" -n "$namespace" images import "${extra[@]}" \
      --base-name "${name%:*}" "$archive" >&2
    # The listing is read whole first: under pipefail, `ctr ... | grep -q` fails whenever grep
    # stops reading before ctr has written everything (SIGPIPE), i.e. at random.
    local listed
    listed="$(ctr --address "$address" -n "$namespace" images ls -q)"
    if ! grep -qxF "$name" <<<"$listed"; then
      og_log "import $archive: $name is not in containerd's $namespace namespace afterwards"
      exit 1
    fi
    og_log "import $name into $address ($namespace): $(og_elapsed "$t0") s"
  done <"$manifest"
}

# Each source change leaves the previous build's untagged layers behind (a few
# tens of MB); prune removes every untagged image, which includes the layer
# cache of the build stage: the next build reinstalls the build dependencies
# but still compiles from ccache.
prune() {
  og_private_var_lib "$0" prune
  og_setup_storage
  local t0=$EPOCHREALTIME
  buildah rmi --prune >/dev/null
  og_log "prune: untagged images removed in $(og_elapsed "$t0") s; storage $(du -sh "$og_buildah/storage" | cut -f1)"
}

names() {
  local manifest="$og_images_dir/images.txt"
  if [[ -f "$manifest" ]]; then
    cat "$manifest"
  else
    local c name
    for c in "${og_components[@]}"; do
      printf '%s\t%s\n' "$(og_image_name "$c")" "$(archive_path "$(og_image_name "$c")")"
    done
    for name in "${og_node_images[@]}"; do
      printf '%s\t%s\n' "$name" "$(archive_path "$name")"
    done
  fi
}

cmd="${1:-build}"
if [[ "$cmd" == -* ]]; then cmd=build; else shift || true; fi
case "$cmd" in
  build) build "$@" ;;
  import) import_images "$@" ;;
  names) names ;;
  prune) prune ;;
  check) exec "$(dirname "$0")/check_images.sh" "$@" ;;
  -h|--help|help) usage ;;
  *) usage ;;
esac
