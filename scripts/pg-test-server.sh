#!/usr/bin/env bash
# A throw-away PostgreSQL server for the tests: initdb into DIR, listen on
# 127.0.0.1:PORT (and a socket in DIR), trust authentication for the role
# "petrel".  No system service is used.  Run as root it runs the server as
# the "postgres" user (initdb refuses root).
#   scripts/pg-test-server.sh start DIR PORT   - prints the base URL
#   scripts/pg-test-server.sh stop DIR
set -euo pipefail
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$BIN" ] || { echo "pg-test-server: PostgreSQL not installed (scripts/deps.sh test)" >&2; exit 1; }
cmd=${1:?start|stop}; dir=${2:?DIR}
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}
case "$cmd" in
start)
  port=${3:?PORT}
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$dir"
    su postgres -s /bin/sh -c "test -w '$dir'" ||
      { echo "pg-test-server: the postgres user cannot reach $dir (a parent directory is private)" >&2; exit 1; }
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_pg "'$BIN/initdb' -D '$dir/data' -A trust -U petrel -E UTF8 --locale=C.UTF-8 >'$dir/initdb.log' 2>&1"
  fi
  # Tuned for tests and benches on one machine: durable commits
  # (synchronous_commit on, fsync on), a modest cache.
  as_pg "'$BIN/pg_ctl' -D '$dir/data' -l '$dir/log' -w -t 60 \
    -o \"-p $port -k '$dir' -c listen_addresses=127.0.0.1 -c shared_buffers=128MB \
        -c max_connections=200 -c synchronous_commit=on -c fsync=on\" start >/dev/null"
  echo "postgres://petrel@127.0.0.1:$port"
  ;;
stop)
  [ -f "$dir/data/postmaster.pid" ] || exit 0
  as_pg "'$BIN/pg_ctl' -D '$dir/data' -m immediate -w stop >/dev/null 2>&1" || true
  ;;
*) echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
