#!/bin/sh
# CI stand-in for edoburu/pgbouncer's entrypoint (the subset compose uses): write
# pgbouncer.ini and the auth file from the environment, then run pgbouncer as the
# unprivileged postgres user (it refuses to run as root).
set -eu

ini=/etc/pgbouncer/pgbouncer.ini
users=/etc/pgbouncer/userlist.txt

if [ "$(id -u)" = 0 ]; then
  : "${DB_HOST:?set DB_HOST}" "${DB_USER:?set DB_USER}" "${DB_PASSWORD:?set DB_PASSWORD}"
  auth_type="${AUTH_TYPE:-md5}"
  if [ "$auth_type" = md5 ]; then
    secret="md5$(printf '%s%s' "$DB_PASSWORD" "$DB_USER" | md5sum | cut -d' ' -f1)"
  else
    secret="$DB_PASSWORD"  # scram-sha-256: pgbouncer derives the SCRAM keys itself
  fi
  printf '"%s" "%s"\n' "$DB_USER" "$secret" >"$users"
  {
    echo "[databases]"
    echo "${DB_NAME:-*} = host=$DB_HOST port=${DB_PORT:-5432} user=$DB_USER"
    echo
    echo "[pgbouncer]"
    echo "listen_addr = 0.0.0.0"
    echo "listen_port = ${LISTEN_PORT:-5432}"
    echo "unix_socket_dir ="
    echo "auth_type = $auth_type"
    echo "auth_file = $users"
    echo "pool_mode = ${POOL_MODE:-session}"
    echo "max_client_conn = ${MAX_CLIENT_CONN:-100}"
    echo "default_pool_size = ${DEFAULT_POOL_SIZE:-20}"
    echo "ignore_startup_parameters = ${IGNORE_STARTUP_PARAMETERS:-extra_float_digits}"
    echo "admin_users = ${ADMIN_USERS:-}"
    echo "stats_users = ${STATS_USERS:-}"
    echo "logfile ="
    echo "pidfile ="
  } >"$ini"
  chown postgres:postgres "$ini" "$users"
  chmod 600 "$users"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
exec "$@"
