#!/bin/sh
# The web service under load on loopback: starts `atelier serve` on a free port with a
# fresh data folder, then bench/serve_load.c (atelier_serve_load) keeps POLLERS connections
# polling GET /api/jobs/ID for SECONDS while POSTS submissions go in at once; it waits for
# every accepted job and reports requests/s, latencies, 201/429 counts, lost jobs and the
# server's memory. Ends with SIGTERM, which must stop the server cleanly (exit 0).
# usage: scripts/load-test.sh [BUILD_DIR]   (env: POLLERS=300 POSTS=48 SECONDS=15 QUEUE=16
#        WORKERS=1 SIZE=64 ITERATIONS=4 BURST=0; BURST=1 sends the posts all at once;
#        DB=postgresql: the queue in a private PostgreSQL (scripts/pg-test-server.sh) with
#        `serve --db`, instead of SQLite in the data folder)
set -e
build="${1:-build}"
POLLERS="${POLLERS:-300}"; POSTS="${POSTS:-48}"; SECONDS_="${SECONDS:-15}"; QUEUE="${QUEUE:-16}"
WORKERS="${WORKERS:-1}"; SIZE="${SIZE:-64}"; ITERATIONS="${ITERATIONS:-4}"; BURST="${BURST:-0}"; DB="${DB:-sqlite}"
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
# (set -e holds inside the trap too: every step may fail without skipping the next)
trap 'kill "$pid" 2>/dev/null || true; [ "$DB" != postgresql ] || sh "$root/scripts/pg-test-server.sh" stop "$tmp/pg" || true; rm -rf "$tmp"' EXIT
dbflag=""
if [ "$DB" = postgresql ]; then
  url=$(sh "$root/scripts/pg-test-server.sh" start "$tmp/pg") || { echo "load-test: PostgreSQL did not start"; exit 1; }
  dbflag="--db $url"
fi
mkdir "$tmp/styles"
cp "$root/docs/gallery/vangogh_starry_night.jpg" "$tmp/styles/starry.jpg"
"$build/atelier" serve $dbflag --port 0 --data-dir "$tmp/data" --styles "$tmp/styles" --workers "$WORKERS" --queue "$QUEUE" \
  --max-connections $((POLLERS + POSTS + 64)) --quiet 2>"$tmp/log" &
pid=$!
for i in $(seq 600); do grep -q "listening on" "$tmp/log" 2>/dev/null && break; sleep 0.1; done
port=$(sed -nE 's/.*127\.0\.0\.1:([0-9]+).*/\1/p' "$tmp/log")
[ -n "$port" ] || { echo "load-test: the server did not start:"; cat "$tmp/log"; exit 1; }
echo "load-test: server pid $pid on port $port ($DB): $POLLERS pollers for $SECONDS_ s, $POSTS posts (queue $QUEUE, $WORKERS workers, jobs ${SIZE} px x $ITERATIONS iterations)"
rc=0
"$build/atelier_serve_load" --port "$port" --pid "$pid" --pollers "$POLLERS" --seconds "$SECONDS_" --posts "$POSTS" \
  --content "$root/docs/gallery/golden_gate.jpg" --style starry --size "$SIZE" --iterations "$ITERATIONS" --burst "$BURST" || rc=$?
kill -TERM "$pid"
if wait "$pid"; then echo "load-test: SIGTERM: the server stopped cleanly"
else echo "load-test: the server exited with status $? after SIGTERM"; rc=1; fi
pid=""
exit $rc
