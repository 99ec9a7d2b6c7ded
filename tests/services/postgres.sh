#!/usr/bin/env bash
# Start (or stop) a throwaway PostgreSQL cluster for the test suite on 127.0.0.1:${PGPORT:-55432}.
# Usage: tests/services/postgres.sh start|stop   — prints the SQLAlchemy URL on start.
set -euo pipefail
cmd=${1:-start}
port=${PGPORT:-55432}
dir=${NOCD_PG_DIR:-/tmp/nocd-test-pg}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ]; then
  echo "postgres.sh: no PostgreSQL server installed (apt-get install postgresql)" >&2
  exit 3
fi
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
# Tests trade durability for speed; NOCD_PG_DURABLE=1 (the soak, which SIGKILLs the server
# and counts on every acknowledged commit) keeps PostgreSQL's defaults.
fast="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
[ "${NOCD_PG_DURABLE:-0}" = 1 ] && fast=""
case "$cmd" in
  start)
    if [ ! -f "$dir/PG_VERSION" ]; then
      mkdir -p "$dir"
      [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
      as_pg "$bindir/initdb" -D "$dir" -U postgres -A trust --no-sync >/dev/null
    fi
    if ! as_pg "$bindir/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
      as_pg "$bindir/pg_ctl" -D "$dir" -w -t 30 -l "$dir/server.log" \
        -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 $fast -c max_connections=200" \
        start >/dev/null
    fi
    as_pg "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname='nocd_test'" | grep -q 1 ||
      as_pg "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres nocd_test
    echo "postgresql+psycopg://postgres@127.0.0.1:$port/nocd_test"
    ;;
  stop)
    as_pg "$bindir/pg_ctl" -D "$dir" -m fast stop >/dev/null 2>&1 || true
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
