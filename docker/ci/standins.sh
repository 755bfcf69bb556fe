#!/usr/bin/env bash
# Stand-in base images for CI, built locally because no container registry is reachable.
#
# They replace python:3.11-slim, postgres:15-bookworm, redis:7-bookworm and the pgbouncer
# image ONLY for that reason; on a normal Docker host the Dockerfile and the compose file
# use the published images. Root filesystems come from `debootstrap --variant=minbase
# bookworm` plus Debian's packages and are cached as tarballs under $PA_CONTAINER_CACHE (default
# /var/cache/pa-container-ci), so only the first run on a machine pays for debootstrap.
#
#   docker/ci/standins.sh rootfs   build the cached tarballs (root, no engine needed)
#   docker/ci/standins.sh images   rootfs + import/build the images into $DOCKER_HOST
#
# Images produced (tags are what the tests pass as BASE_IMAGE etc.):
#   pa-ci/python:3.11         Debian's python3.11 (+venv, ca-certificates), like python:3.11-slim
#   pa-ci/python-build:3.11   the same plus this machine's extra CAs (builder stage only)
#   pa-ci/postgres:15         Debian's postgresql-15, entrypoint honouring POSTGRES_* variables
#   pa-ci/redis:7             Debian's redis-server 7
#   pa-ci/pgbouncer:1.18      Debian's pgbouncer (+pg_isready), entrypoint honouring DB_* variables
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
CACHE="${PA_CONTAINER_CACHE:-/var/cache/pa-container-ci}"
SUITE=bookworm
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# CA certificates of a TLS-inspecting proxy, given to the builder stand-in only.
EXTRA_CA_DIR="${PA_EXTRA_CA_DIR:-/usr/local/share/ca-certificates}"
DOCKER="${DOCKER:-docker}"

declare -A PACKAGES=(
  [python]="python3 python3-venv ca-certificates"
  [postgres]="postgresql-15 postgresql-contrib"
  [redis]="redis-server"
  [pgbouncer]="pgbouncer postgresql-client"
)

log() { printf '[standins] %s\n' "$*" >&2; }

# Anything that changes a root filesystem changes this key, so stale tarballs are rebuilt.
recipe_key() {
  printf '%s %s %s\n' "$SUITE" "$MIRROR" "${PACKAGES[$1]}" | sha256sum | cut -c1-12
}

minbase_tar() {
  local tar="$CACHE/minbase-$SUITE.tar" dir
  if [[ ! -s "$tar" ]]; then
    log "debootstrap --variant=minbase $SUITE (first run on this machine only)"
    dir="$(mktemp -d /var/tmp/pa-minbase.XXXXXX)"
    debootstrap --variant=minbase "$SUITE" "$dir" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
      || { tail -20 "$CACHE/debootstrap.log" >&2; rm -rf "$dir"; return 1; }
    tar -C "$dir" -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
    rm -rf "$dir"
  fi
  echo "$tar"
}

# Strip what an image does not need, as the official slim images do.
slim_rootfs() {
  local dir="$1"
  chroot "$dir" apt-get clean
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/debconf/*-old "$dir"/var/log/* \
    "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/info/* \
    "$dir"/usr/sbin/policy-rc.d
  find "$dir/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'locale.alias' \
    -exec rm -rf {} + 2>/dev/null || true
}

rootfs_tar() {
  local name="$1" key tar dir base
  key="$(recipe_key "$name")"
  tar="$CACHE/$name-$key.tar"
  if [[ -s "$tar" ]]; then echo "$tar"; return; fi
  base="$(minbase_tar)"
  log "building root filesystem '$name' (${PACKAGES[$name]})"
  dir="$(mktemp -d /var/tmp/pa-rootfs.XXXXXX)"
  tar -C "$dir" -xf "$base"
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  # No daemons started by maintainer scripts, no default cluster from postgresql-common.
  printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
  chmod +x "$dir/usr/sbin/policy-rc.d"
  mkdir -p "$dir/etc/postgresql-common"
  echo "create_main_cluster = false" >"$dir/etc/postgresql-common/createcluster.conf"
  if ! chroot "$dir" /bin/sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends ${PACKAGES[$name]}" \
      >"$CACHE/$name.log" 2>&1; then
    tail -20 "$CACHE/$name.log" >&2
    rm -rf "$dir"
    return 1
  fi
  slim_rootfs "$dir"
  : >"$dir/etc/resolv.conf"
  rm -f "$CACHE/$name"-*.tar
  tar -C "$dir" -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
  rm -rf "$dir"
  echo "$tar"
}

have_image() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

import_rootfs() {
  local name="$1" tag="$2"
  shift 2
  have_image "$tag" && return
  log "importing $tag"
  "$DOCKER" import "$@" "$(rootfs_tar "$name")" "$tag" >/dev/null
}

build_standin() {
  local tag="$1" context="$2"
  have_image "$tag" && return
  log "building $tag"
  "$DOCKER" build -q -t "$tag" "$context" >/dev/null
}

python_build_image() {
  local tag=pa-ci/python-build:3.11 ctx
  have_image "$tag" && return
  ctx="$(mktemp -d)"
  cp "$HERE/standins/python-build/Dockerfile" "$ctx/"
  mkdir "$ctx/ca"
  # Only extra CAs (the proxy's), never a private key; none on an ordinary machine.
  find "$EXTRA_CA_DIR" -maxdepth 1 -name '*.crt' -exec cp {} "$ctx/ca/" \; 2>/dev/null || true
  build_standin "$tag" "$ctx"
  rm -rf "$ctx"
}

cmd_rootfs() {
  mkdir -p "$CACHE"
  for name in python postgres redis pgbouncer; do rootfs_tar "$name" >/dev/null; done
}

cmd_images() {
  cmd_rootfs
  import_rootfs python pa-ci/python:3.11 \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]'
  import_rootfs postgres pa-ci/rootfs-postgres:15
  import_rootfs redis pa-ci/rootfs-redis:7
  import_rootfs pgbouncer pa-ci/rootfs-pgbouncer:1.18
  python_build_image
  build_standin pa-ci/postgres:15 "$HERE/standins/postgres"
  build_standin pa-ci/redis:7 "$HERE/standins/redis"
  build_standin pa-ci/pgbouncer:1.18 "$HERE/standins/pgbouncer"
}

case "${1:-}" in
  rootfs) cmd_rootfs ;;
  images) cmd_images ;;
  *) echo "usage: $0 rootfs|images" >&2; exit 2 ;;
esac
