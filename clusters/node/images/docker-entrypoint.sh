#!/bin/bash
# archconform: entrypoint of the database images built here for --kind-node-image local
# (postgres:15-alpine, postgres:14 and redis:7-alpine inside the node; Debian's PostgreSQL 15 and
# Redis 7.0). Our own script, written to the environment contract the systems' manifests rely on
# in the upstream images:
#   postgres: POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_USER
#     (default postgres), POSTGRES_DB (default the user), PGDATA, POSTGRES_INITDB_ARGS; a first
#     argument starting with "-" is an option of postgres; started as root, it hands the data
#     folder to the postgres user (uid 70) and drops to it; listens on every address, password
#     (scram-sha-256) for remote connections.
#   redis: a first argument starting with "-" or ending in .conf goes to redis-server; protected
#     mode off (the upstream image builds it so); started as root, it drops to redis (uid 999).
# Anything else is run as given (pg_isready, pg_dump, sh -c ...).
set -euo pipefail

server="${ARCHCONFORM_DATA_IMAGE:-postgres}"

drop_to() {   # user, then the command line: re-run this script as that user
  local user="$1"; shift
  exec setpriv --reuid="$user" --regid="$user" --init-groups "$0" "$@"
}

first="${1:-}"
if [ "$server" = redis ]; then
  if [ "${first:0:1}" = "-" ] || [ "${first%.conf}" != "$first" ]; then
    set -- redis-server "$@"
  fi
  if [ "${1:-}" != redis-server ]; then
    exec "$@"
  fi
  if [ "$(id -u)" = 0 ]; then
    chown -R redis:redis . 2>/dev/null || true
    drop_to redis "$@"
  fi
  shift
  first="${1:-}"
  if [ -n "$first" ] && [ "${first%.conf}" != "$first" ]; then   # a config file stays first
    conf="$1"; shift
    exec redis-server "$conf" --protected-mode no "$@"
  fi
  exec redis-server --protected-mode no "$@"
fi

# postgres
if [ "${first:0:1}" = "-" ]; then
  set -- postgres "$@"
fi
if [ "${1:-}" != postgres ]; then
  exec "$@"
fi
: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' + 2>/dev/null || true
  chmod 700 "$PGDATA"
  drop_to postgres "$@"
fi
mkdir -p "$PGDATA"
chmod 700 "$PGDATA" 2>/dev/null || true

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
    echo "error: the database is not initialised and POSTGRES_PASSWORD is not set" >&2
    echo "       (set it, or POSTGRES_HOST_AUTH_METHOD=trust to allow every connection without one)" >&2
    exit 1
  fi
  user="${POSTGRES_USER:-postgres}"
  db="${POSTGRES_DB:-$user}"
  pwfile="$(mktemp)"
  trap 'rm -f "$pwfile"' EXIT
  printf '%s\n' "${POSTGRES_PASSWORD:-}" > "$pwfile"
  # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of options
  initdb --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host="$auth" \
    --encoding=UTF8 --locale=C.UTF-8 ${POSTGRES_INITDB_ARGS:-} -D "$PGDATA" >/dev/null
  rm -f "$pwfile"
  trap - EXIT
  printf '\nhost all all all %s\n' "$auth" >> "$PGDATA/pg_hba.conf"
  if [ "$db" != postgres ]; then
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" \
      -w -t 60 start >/dev/null
    printf 'CREATE DATABASE :"db";\n' | psql -X -q -v ON_ERROR_STOP=1 -h /var/run/postgresql \
      --username "$user" --dbname postgres --set db="$db" >/dev/null
    pg_ctl -D "$PGDATA" -m fast -w -t 60 stop >/dev/null
  fi
  echo "archconform: PostgreSQL initialised in $PGDATA (user $user, database $db)"
fi
shift
exec postgres -c listen_addresses='*' "$@"
