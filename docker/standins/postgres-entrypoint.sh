#!/bin/sh
# The official postgres image's first start, for the stand-in: initdb when PGDATA is empty, the
# POSTGRES_USER superuser with POSTGRES_PASSWORD, POSTGRES_DB created, scram-sha-256 from the network.
set -eu
if [ "${1:-}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile="$(mktemp)"; printf '%s' "$POSTGRES_PASSWORD" > "$pwfile"
  initdb -D "$PGDATA" --username="${POSTGRES_USER:-postgres}" --pwfile="$pwfile" --auth-local=trust \
    --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=${PGHOST:-/var/run/postgresql}" \
    -w start >/dev/null
  db="${POSTGRES_DB:-${POSTGRES_USER:-postgres}}"  # the official default: a database named after the user
  [ "$db" = postgres ] || createdb --username="${POSTGRES_USER:-postgres}" "$db"
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
fi
if [ "${1:-}" = postgres ]; then shift; exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"; fi
exec "$@"
