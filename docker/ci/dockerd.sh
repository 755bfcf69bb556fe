#!/usr/bin/env bash
# A private Docker engine for the container tests: its own data-root, exec-root, socket,
# bridge and address range, so it neither needs nor disturbs a system Docker.
#
#   docker/ci/dockerd.sh start   start dockerd; prints DOCKER_HOST=unix://... on stdout
#   docker/ci/dockerd.sh stop    stop it, remove its bridges and firewall rules, restore
#                                ip_forward, delete its state (unless PA_DOCKERD_KEEP=1)
#
# The engine runs with --iptables=false: this script adds the only rules it needs (NAT
# and FORWARD accepts for 10.212.0.0/14, tagged with a comment) and deletes exactly those.
# Published ports still work through docker-proxy. Must run as root.
set -euo pipefail

STATE="${PA_DOCKERD_DIR:-/var/tmp/pa-dockerd}"
EXEC_ROOT="${PA_DOCKERD_EXEC_ROOT:-/run/pa-dockerd}"
SOCK="$STATE/docker.sock"
BRIDGE="${PA_DOCKERD_BRIDGE:-pa-ci0}"
BRIDGE_CIDR=10.213.0.1/24     # the default bridge network
POOL=10.214.0.0/16            # compose networks
RANGE=10.212.0.0/14           # both of the above
TAG=pa-ci-dockerd

log() { printf '[dockerd] %s\n' "$*" >&2; }

rules() {  # table chain rule... (one per line)
  echo "nat POSTROUTING -s $RANGE ! -d $RANGE -m comment --comment $TAG -j MASQUERADE"
  echo "filter FORWARD -s $RANGE -m comment --comment $TAG -j ACCEPT"
  echo "filter FORWARD -d $RANGE -m comment --comment $TAG -j ACCEPT"
}

add_network() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$BRIDGE_CIDR" dev "$BRIDGE"
  fi
  ip link set "$BRIDGE" up
  sysctl -n net.ipv4.ip_forward >"$STATE/ip_forward.orig"
  sysctl -qw net.ipv4.ip_forward=1
  local table chain rule
  while read -r table chain rule; do
    # shellcheck disable=SC2086  # the rule is a list of words
    iptables -t "$table" -C "$chain" $rule 2>/dev/null \
      || iptables -t "$table" -I "$chain" 1 $rule
  done < <(rules)
}

remove_network() {
  local table chain rule dev
  while read -r table chain rule; do
    # shellcheck disable=SC2086
    while iptables -t "$table" -D "$chain" $rule 2>/dev/null; do :; done
  done < <(rules)
  # Bridges of compose networks left behind when the engine stopped.
  for dev in $(ip -o -4 addr show | awk '$4 ~ /^10\.214\./ {print $2}' | sort -u); do
    ip link del "$dev" 2>/dev/null || true
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  if [[ -s "$STATE/ip_forward.orig" ]]; then
    sysctl -qw net.ipv4.ip_forward="$(cat "$STATE/ip_forward.orig")"
  fi
}

start() {
  [[ "$(id -u)" == 0 ]] || { log "must run as root"; exit 1; }
  command -v dockerd >/dev/null || { log "dockerd not found (apt-get install docker.io)"; exit 1; }
  if [[ -S "$SOCK" ]] && docker_ok; then
    log "already running"
    echo "DOCKER_HOST=unix://$SOCK"
    return
  fi
  mkdir -p "$STATE/data" "$EXEC_ROOT"
  add_network
  setsid dockerd --data-root "$STATE/data" --exec-root "$EXEC_ROOT" --pidfile "$STATE/dockerd.pid" \
    --host "unix://$SOCK" --bridge "$BRIDGE" --iptables=false --ip-masq=false \
    --default-address-pool "base=$POOL,size=24" --log-level warn \
    >"$STATE/dockerd.log" 2>&1 &
  for _ in $(seq 1 120); do
    if docker_ok; then
      echo "DOCKER_HOST=unix://$SOCK"
      return
    fi
    if ! kill -0 $! 2>/dev/null; then break; fi
    sleep 0.25
  done
  log "dockerd did not become ready; last lines of $STATE/dockerd.log:"
  tail -20 "$STATE/dockerd.log" >&2
  stop >/dev/null 2>&1 || true
  exit 1
}

docker_ok() {
  DOCKER_HOST="unix://$SOCK" "${DOCKER:-docker}" version >/dev/null 2>&1
}

stop() {
  local pid
  if [[ -s "$STATE/dockerd.pid" ]]; then
    pid="$(cat "$STATE/dockerd.pid")"
    if kill -TERM "$pid" 2>/dev/null; then
      for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  # Overlay mounts of containers the engine could not clean up.
  { grep -oE "($STATE|$EXEC_ROOT)/[^ ]*" /proc/mounts || true; } | sort -ru | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  remove_network
  rm -rf "$EXEC_ROOT"
  if [[ "${PA_DOCKERD_KEEP:-0}" != 1 ]]; then rm -rf "$STATE"; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
