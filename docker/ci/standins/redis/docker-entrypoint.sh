#!/bin/sh
# CI stand-in for the official redis image's entrypoint: drop to the redis user and, like
# the official image, turn protected mode off (the container's network is the boundary;
# the compose file sets a password).
set -eu

if [ "${1#-}" != "$1" ]; then set -- redis-server "$@"; fi
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
  chown -R redis:redis /data
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi
if [ "$1" = redis-server ]; then
  shift
  set -- redis-server --protected-mode no "$@"
fi
exec "$@"
