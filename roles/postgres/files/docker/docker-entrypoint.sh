#!/bin/sh
# Stand-in for the official image's entrypoint, for what this collection uses:
# PGDATA, POSTGRES_PASSWORD (stored as given, so a SCRAM verifier stays one),
# and "postgres -c ..." as the command. pg_hba.conf and the settings come from
# the configuration the command names, not from the data directory.
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
bindir=$(ls -d /usr/lib/postgresql/*/bin | tail -n 1)
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "POSTGRES_PASSWORD is required to initialise the database" >&2
    exit 1
  fi
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  "$bindir/initdb" --username=postgres --pwfile="$pwfile" --auth-local=peer \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 -D "$PGDATA"
  rm -f "$pwfile"
fi
[ "${1:-}" = postgres ] && shift
exec "$bindir/postgres" -D "$PGDATA" "$@"
