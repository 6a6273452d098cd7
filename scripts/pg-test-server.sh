#!/bin/sh
# A private PostgreSQL server for the tests of the shared job queue: a cluster of its own
# in DIR (initdb), listening only on a unix socket in DIR/sock on a port of its own, trust
# authentication for user postgres, a database "atelier". Nothing of the machine's own
# PostgreSQL is used or touched. As root it runs the server as the user postgres (initdb
# refuses root; Debian's postgresql package makes that user).
# usage: scripts/pg-test-server.sh start DIR     prints the connection string (libpq URI)
#        scripts/pg-test-server.sh restart DIR   an immediate stop (as a crash), then start
#        scripts/pg-test-server.sh stop DIR
#        scripts/pg-test-server.sh url DIR
# Exit status 77 when the PostgreSQL server programs are not installed (Debian: postgresql).
set -e
cmd="${1:-}"; dir="${2:-}"
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|restart|stop|url DIR" >&2; exit 2; }
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bin" ] && command -v pg_ctl >/dev/null 2>&1; then bin=$(dirname "$(command -v pg_ctl)"); fi
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ] || [ ! -x "$bin/pg_ctl" ]; then
  echo "pg-test-server: the PostgreSQL server programs are not installed (Debian: apt-get install postgresql)" >&2
  exit 77
fi
as=""
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || { echo "pg-test-server: running as root needs the user postgres (Debian's postgresql makes it)" >&2; exit 1; }
  as="runuser -u postgres --"
fi
url() { echo "postgresql:///atelier?host=$dir/sock&port=$(cat "$dir/port")&user=postgres"; }
pgctl() { $as "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 "$@" >/dev/null; }
opts() { echo "-k $dir/sock -p $(cat "$dir/port") -c listen_addresses= -c max_connections=100"; }
case "$cmd" in
start)
  mkdir -p "$dir/sock"
  if [ -n "$as" ]; then   # postgres must reach DIR: the folder above it (mktemp -d's 0700) opens to traversal
    chown -R postgres "$dir"
    chmod a+x "$(dirname "$dir")"
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    $as "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
    # a port of its own: pid-based, away from 5432
    echo $((20000 + $$ % 20000)) > "$dir/port"
  fi
  pgctl -o "$(opts)" start || { cat "$dir/log" >&2; exit 1; }
  $as "$bin/psql" -X -q -h "$dir/sock" -p "$(cat "$dir/port")" -U postgres -d postgres \
    -c "SELECT 1 FROM pg_database WHERE datname = 'atelier'" -t -A | grep -q 1 ||
    $as "$bin/createdb" -h "$dir/sock" -p "$(cat "$dir/port")" -U postgres atelier
  url ;;
restart)
  pgctl -m immediate stop || true
  pgctl -o "$(opts)" start || { cat "$dir/log" >&2; exit 1; }
  url ;;
stop)
  [ -f "$dir/data/postmaster.pid" ] && pgctl -m fast stop || true ;;
url) url ;;
*) echo "usage: $0 start|restart|stop|url DIR" >&2; exit 2 ;;
esac
