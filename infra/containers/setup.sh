#!/usr/bin/env bash
# Prepares this machine to run compose.yaml without Docker and without an image registry:
#  1. installs rootful podman + podman-compose (+ runc, netavark/aardvark-dns, iptables, catatonit, debootstrap)
#     where missing;
#  2. writes the documented /etc/containers/containers.conf fix (runc, cgroupfs, file events,
#     raised ulimits) plus the netavark network backend (CNI's dnsname cannot serve `internal`
#     networks, which compose.yaml uses for the backends);
#  3. builds local stand-in base images tagged with EXACTLY the names compose.yaml and the
#     Dockerfile use (read from those files by image-names.py): a debootstrap'd Debian bookworm
#     minbase; node (this machine's Node.js copied in); postgres, redis, rabbitmq, clamav (Debian
#     packages; clamd on the project's test signatures); minio (s3rver) and mailpit (SMTP sink + UI);
#     and, for infra/compose-override.offline.yaml, a local OpenID provider standing in for ID.me.
# Images that exist and whose definition did not change are kept (a content hash label decides);
# `--force` (or NSELF_FORCE_STANDINS=1) rebuilds them all. Needs root (rootful podman).
#
# Usage: bash infra/containers/setup.sh [--force]
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here="$repo/infra/containers"
state=${NSELF_CONTAINERS_STATE:-/var/tmp/nself-containers}
mirror=${NSELF_DEBIAN_MIRROR:-http://deb.debian.org/debian}
force=${NSELF_FORCE_STANDINS:-0}
[ "${1:-}" = --force ] && force=1
BASE_IMAGE=localhost/nself-standin/debian:bookworm-minbase

log() { echo "[containers] $*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "rootful podman is needed: run as root (sudo bash $0)"
mkdir -p "$state"

# --- 1. packages -------------------------------------------------------------------------------
install_packages() {
  # iptables: netavark 1.4 programs the bridge networks' NAT and forwarding rules with it (without it
  # every container start fails with "netavark: No such file or directory").
  local wanted=(podman podman-compose runc netavark aardvark-dns catatonit debootstrap uidmap iptables)
  local missing=() pkg
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} = 0 ] && return 0
  command -v apt-get >/dev/null || die "apt-get not found; install ${missing[*]} yourself"
  log "installing ${missing[*]} (apt)"
  export DEBIAN_FRONTEND=noninteractive
  local apt=(apt-get -y -q -o DPkg::Lock::Timeout=600 install --no-install-recommends)
  if ! "${apt[@]}" "${missing[@]}" >"$state/apt.log" 2>&1; then
    apt-get -q -o DPkg::Lock::Timeout=600 update >>"$state/apt.log" 2>&1 || true
    "${apt[@]}" "${missing[@]}" >>"$state/apt.log" 2>&1 || die "apt-get install failed, see $state/apt.log"
  fi
}

# --- 2. containers.conf ------------------------------------------------------------------------
configure_podman() {
  local conf=/etc/containers/containers.conf
  local wanted
  wanted=$(cat <<'CONF'
# Written by nself infra/containers/setup.sh (see MACHINE-NOTES "Containers"): rootful podman on a
# machine without systemd. Healthchecks are run by infra/containers/stack.mjs (no systemd timers).
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[network]
# netavark + aardvark-dns: name resolution also on `internal: true` networks (CNI dnsname refuses them)
network_backend = "netavark"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
)
  mkdir -p /etc/containers
  if [ -f "$conf" ] && [ "$(cat "$conf")" = "$wanted" ]; then return 0; fi
  if [ -f "$conf" ] && ! grep -q 'nself infra/containers/setup.sh' "$conf"; then
    cp "$conf" "$conf.before-nself"
    log "saved the previous $conf as $conf.before-nself"
  fi
  printf '%s\n' "$wanted" >"$conf"
  log "wrote $conf"
  if [ "$(podman info --format '{{.Host.NetworkBackend}}' 2>/dev/null)" != netavark ]; then
    die "podman still reports a network backend other than netavark; run 'podman system reset' once"
  fi
}

# --- 3. stand-in images ------------------------------------------------------------------------
image_exists() { podman image exists "$1"; }
image_label() { podman image inspect --format "{{ index .Labels \"$2\" }}" "$1" 2>/dev/null || true; }
image_id() { podman image inspect --format '{{.Id}}' "$1"; }

hash_inputs() { # files/dirs... → one sha256 over names and contents
  local path
  for path in "$@"; do
    if [ -d "$path" ]; then
      (cd "$path" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
    else
      printf '%s\n' "$path"
    fi
  done | sha256sum | cut -c1-16
}

build_minbase() {
  local hash
  hash=$(hash_inputs "$here/standins/debian" "$mirror")
  if [ "$force" != 1 ] && image_exists "$BASE_IMAGE" && [ "$(image_label "$BASE_IMAGE" org.nself.standin.hash)" = "$hash" ]; then
    return 0
  fi
  local rootfs="$state/rootfs"
  rm -rf "$rootfs"
  log "debootstrap --variant=minbase bookworm (about 40 s)"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$state/debootstrap.log" 2>&1 ||
    die "debootstrap failed, see $state/debootstrap.log"
  install -m 0644 "$here/standins/debian/sources.list" "$rootfs/etc/apt/sources.list"
  install -m 0644 "$here/standins/debian/dpkg-slim.cfg" "$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim"
  install -m 0644 "$here/standins/debian/apt-slim.conf" "$rootfs/etc/apt/apt.conf.d/docker-clean"
  install -m 0755 "$here/standins/debian/policy-rc.d" "$rootfs/usr/sbin/policy-rc.d"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/log/*.log
  log "importing the rootfs as $BASE_IMAGE"
  podman rmi -f "$BASE_IMAGE" >/dev/null 2>&1 || true
  tar --numeric-owner -C "$rootfs" -c . | podman import \
    --change 'CMD ["bash"]' --change 'LABEL org.nself.standin=debian' --change "LABEL org.nself.standin.hash=$hash" \
    - "$BASE_IMAGE" >/dev/null 2>"$state/import.log"
  rm -rf "$rootfs"
}

# build_standin <role> <image> <context dir> <base image> [build-arg...]
build_standin() {
  local role=$1 image=$2 ctx=$3 base=$4
  shift 4
  local hash
  hash=$(hash_inputs "$ctx" "$(image_id "$base")" "$@")
  if [ "$force" != 1 ] && image_exists "$image" && [ "$(image_label "$image" org.nself.standin.hash)" = "$hash" ]; then
    log "$role: $image is up to date"
    return 0
  fi
  local args=() arg
  for arg in "$@"; do args+=(--build-arg "$arg"); done
  log "$role: building $image"
  local started=$SECONDS
  # --network=host: image builds fetch Debian packages and npm modules; on machines whose resolver
  # only answers the host's network namespace, bridged build containers cannot resolve names.
  podman build --pull=never --layers --quiet --network=host "${args[@]}" \
    --label "org.nself.standin=$role" --label "org.nself.standin.hash=$hash" \
    -t "$image" -f "$ctx/Containerfile" "$ctx" >"$state/build-$role.log" 2>&1 ||
    { tail -n 30 "$state/build-$role.log" >&2; die "building the $role stand-in failed, see $state/build-$role.log"; }
  image_exists "$image" || die "building the $role stand-in did not produce $image, see $state/build-$role.log"
  log "$role: built in $((SECONDS - started)) s ($(podman run --rm --entrypoint cat "$image" /usr/local/share/standin-version 2>/dev/null || echo '?'))"
}

standin_context() { # <role> → a fresh build context with the role's definition
  local ctx="$state/ctx/$1"
  rm -rf "$ctx"
  mkdir -p "$ctx"
  cp -a "$here/standins/$1/." "$ctx/"
  echo "$ctx"
}

build_all() {
  declare -A images=()
  local role image
  while read -r role image; do images[$role]=$image; done < <(python3 "$here/image-names.py" "$repo/compose.yaml" "$repo/Dockerfile" "$repo/infra/compose-override.offline.yaml")

  build_minbase

  # node: this machine's Node.js, npm and corepack, and (when the host uses one) its extra CA bundle
  local ctx node_bin npm_root node_version tag_version
  ctx=$(standin_context node)
  node_bin=$(readlink -f "$(command -v node)") || die "node not found"
  npm_root=$(npm root -g 2>/dev/null)
  node_version=$("$node_bin" -p 'process.versions.node')
  tag_version=$(sed -E 's|.*:([0-9.]+).*|\1|' <<<"${images[node]}")
  [ "$node_version" = "$tag_version" ] ||
    log "warning: this machine's Node.js is $node_version but the Dockerfile's base is ${images[node]}; the stand-in carries $node_version"
  mkdir -p "$ctx/host"
  cp "$node_bin" "$ctx/host/node"
  cp -a "$npm_root/npm" "$ctx/host/npm"
  cp -a "$npm_root/corepack" "$ctx/host/corepack"
  local ca=${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}
  if [ -f "$ca" ]; then cp "$ca" "$ctx/host/ca-certificates.crt"; else : >"$ctx/host/ca-certificates.crt"; fi
  sed -i "s|@NODE_VERSION@|$node_version|" "$ctx/Containerfile"
  build_standin node "${images[node]}" "$ctx" "$BASE_IMAGE" "BASE_IMAGE=$BASE_IMAGE"

  for role in postgres redis rabbitmq; do
    build_standin "$role" "${images[$role]}" "$(standin_context "$role")" "$BASE_IMAGE" "BASE_IMAGE=$BASE_IMAGE"
  done

  ctx=$(standin_context clamav)
  cp -a "$repo/infra/clamav/signatures" "$ctx/signatures"
  build_standin clamav "${images[clamav]}" "$ctx" "$BASE_IMAGE" "BASE_IMAGE=$BASE_IMAGE"

  for role in minio mailpit idme-oidc; do
    build_standin "$role" "${images[$role]}" "$(standin_context "$role")" "${images[node]}" "NODE_IMAGE=${images[node]}"
  done
  rm -rf "$state/ctx"

  log "stand-in images:"
  for role in node postgres redis rabbitmq clamav minio mailpit idme-oidc; do
    printf '  %-9s %-58s %s\n' "$role" "${images[$role]}" \
      "$(podman image inspect --format '{{.Size}}' "${images[$role]}" | awk '{printf "%.0f MB", $1/1e6}')" >&2
  done
}

started=$SECONDS
install_packages
configure_podman
build_all
log "setup done in $((SECONDS - started)) s"
