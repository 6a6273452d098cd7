#!/bin/sh
# The shared job queue across processes (tests/test_cli_pg.c runs this and checks its
# numbers): a private PostgreSQL (scripts/pg-test-server.sh), two `atelier serve --db`
# servers that run no jobs and two `atelier worker`s, all against one database.
#   1. jobs submitted to either server finish; each server answers for the other's jobs,
#      its server-sent events included, and serves the other's results;
#   2. a worker killed (SIGKILL) in the middle of a job: the other one finishes it after the
#      lease runs out;
#   3. PostgreSQL stopped as by a crash and started again while jobs wait and run: they
#      all finish;
#   4. PostgreSQL away for a while: a submission is told within seconds (503, naming the
#      database) instead of waiting for it, job status still answers (from memory), and
#      work goes on when it is back;
#   5. exactly once: one done record per job, none lost.
# Prints "RESULT key value" lines; exit status 77 when PostgreSQL is not installed.
# usage: sh tests/pg/cluster.sh ATELIER_BIN
set -u
bin="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
tmp="$(mktemp -d /tmp/atelier-pg.XXXXXX)"
pids=""
cleanup() {
  for p in $pids; do kill -9 "$p" 2>/dev/null; done
  sh "$root/scripts/pg-test-server.sh" stop "$tmp/pg" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM   # (the EXIT trap then cleans up)
url=$(sh "$root/scripts/pg-test-server.sh" start "$tmp/pg")
rc=$?
[ $rc = 77 ] && exit 77
[ $rc = 0 ] || { echo "cluster: PostgreSQL did not start"; exit 1; }
q() { psql -X -q -t -A -d "$url" -c "$1"; }
LEASE=3
common="--db $url --style-model none --net vgg19 --lease $LEASE"

start_server() {   # NAME: sets port_NAME, pid_NAME
  "$bin" serve $common --port 0 --data-dir "$tmp/$1" --workers 0 --queue 64 --quiet 2>"$tmp/$1.log" &
  eval "pid_$1=$!"; pids="$pids $!"
  for i in $(seq 600); do grep -q "listening on" "$tmp/$1.log" 2>/dev/null && break; sleep 0.1; done
  eval "port_$1=$(sed -nE 's/.*127\.0\.0\.1:([0-9]+).*/\1/p' "$tmp/$1.log")"
}
start_worker() {   # NAME: sets pid_NAME
  "$bin" worker $common --data-dir "$tmp/$1" --workers 1 2>"$tmp/$1.log" &
  eval "pid_$1=$!"; pids="$pids $!"
  for i in $(seq 600); do grep -q "running jobs" "$tmp/$1.log" 2>/dev/null && break; sleep 0.1; done
}
submit() {   # PORT ITERATIONS: prints the id
  curl -s -F content=@"$root/docs/gallery/golden_gate.jpg" -F style_image=@"$root/docs/gallery/vangogh_starry_night.jpg" \
    -F size=64 -F iterations="$2" "http://127.0.0.1:$1/api/jobs" | sed -nE 's/.*"id": "([0-9a-f]{32})".*/\1/p'
}
state() { curl -s "http://127.0.0.1:$1/api/jobs/$2" | sed -nE 's/^\{"id": "[0-9a-f]+", "state": "([a-z]+)".*/\1/p'; }
wait_state() {   # PORT ID STATE SECONDS
  for i in $(seq $(($4 * 10))); do [ "$(state "$1" "$2")" = "$3" ] && return 0; sleep 0.1; done
  return 1
}
count_done() {   # PORT IDS...: how many the server says are done
  port=$1; shift; n=0
  for id in "$@"; do [ "$(state "$port" "$id")" = done ] && n=$((n + 1)); done
  echo $n
}

start_server a; start_server b; start_worker w1; start_worker w2
echo "RESULT servers_up $([ -n "$port_a" ] && [ -n "$port_b" ] && echo 2 || echo 0)"

# 1. both servers take jobs; events and results from the other server
ids=""
for k in 1 2 3; do ids="$ids $(submit "$port_a" 2) $(submit "$port_b" 2)"; done
set -- $ids
echo "RESULT submitted $#"
timeout 120 curl -sN "http://127.0.0.1:$port_b/api/jobs/$1/events" > "$tmp/sse_b" &   # $1 went to a
sse_b=$!
timeout 120 curl -sN "http://127.0.0.1:$port_a/api/jobs/$2/events" > "$tmp/sse_a" &   # $2 went to b
sse_a=$!
for id in $ids; do wait_state "$port_a" "$id" done 120; done
echo "RESULT done_on_a $(count_done "$port_a" $ids)"
echo "RESULT done_on_b $(count_done "$port_b" $ids)"
wait $sse_a $sse_b
echo "RESULT sse_a_done $(grep -c '"state": "done"' "$tmp/sse_a")"
echo "RESULT sse_b_done $(grep -c '"state": "done"' "$tmp/sse_b")"
echo "RESULT sse_b_progress $(grep -c '"state": "running", "path": "optimise", "progress": 0\.[1-9]' "$tmp/sse_b")"
curl -s -o "$tmp/result.png" "http://127.0.0.1:$port_b/api/jobs/$1/result"
echo "RESULT result_png_from_b $(head -c 8 "$tmp/result.png" | od -An -c | tr -d ' \n' | grep -c 'PNG')"
[ "$(sha256sum "$tmp/result.png" | cut -d' ' -f1)" = "$(q "SELECT sha256 FROM atelier_blobs WHERE id = '$1' AND name = 'result.png'")" ]
echo "RESULT result_same_bytes $([ $? = 0 ] && echo 1 || echo 0)"

# 2. SIGKILL of the worker running a job
long=$(submit "$port_a" 12)
owner=""
for i in $(seq 600); do
  owner=$(q "SELECT owner FROM atelier_jobs WHERE id = '$long' AND state = 'running'")
  [ -n "$owner" ] && [ "$(q "SELECT count(*) FROM atelier_blobs WHERE id = '$long' AND name = 'preview.jpg'")" = 1 ] && break
  sleep 0.1
done
victim=$(echo "$owner" | cut -d: -f2)
killed=0
for w in "$pid_w1" "$pid_w2"; do [ "$w" = "$victim" ] && kill -9 "$w" && killed=1; done
echo "RESULT killed_worker $killed"
wait_state "$port_b" "$long" done 300
echo "RESULT killed_job_done $(count_done "$port_b" "$long")"
echo "RESULT killed_job_attempts $(q "SELECT attempts FROM atelier_jobs WHERE id = '$long'")"
[ "$victim" = "$pid_w1" ] && start_worker w1 || start_worker w2   # two workers again

# 3. PostgreSQL restarted (immediate stop: a crash) while jobs wait and run
more=""
for k in 1 2; do more="$more $(submit "$port_a" 4) $(submit "$port_b" 4)"; done
set -- $more
echo "RESULT submitted_before_restart $#"
wait_state "$port_a" "$1" running 120
sh "$root/scripts/pg-test-server.sh" restart "$tmp/pg" >/dev/null || echo "cluster: the restart failed"
for id in $more; do wait_state "$port_b" "$id" done 300; done
echo "RESULT restart_done_on_a $(count_done "$port_a" $more)"
echo "RESULT restart_done_on_b $(count_done "$port_b" $more)"
after=$(submit "$port_b" 1)
wait_state "$port_a" "$after" done 120
echo "RESULT after_restart_done $(count_done "$port_a" "$after")"

# 4. PostgreSQL away: told at once, not held
sh "$root/scripts/pg-test-server.sh" stop "$tmp/pg" >/dev/null
t0=$(date +%s)
code=$(curl -s -o "$tmp/away.json" -w '%{http_code}' --max-time 100 -F content=@"$root/docs/gallery/golden_gate.jpg" \
  -F style_image=@"$root/docs/gallery/vangogh_starry_night.jpg" -F size=64 -F iterations=1 "http://127.0.0.1:$port_a/api/jobs")
echo "RESULT away_submit_seconds $(( $(date +%s) - t0 ))"
echo "cluster: the answer while the database was away: $code $(cat "$tmp/away.json")"
echo "RESULT away_submit_503 $([ "$code" = 503 ] && echo 1 || echo 0)"
echo "RESULT away_says_database $(grep -c 'database is not answering' "$tmp/away.json")"
echo "RESULT away_status_answers $([ "$(state "$port_b" "$after")" = done ] && echo 1 || echo 0)"
sh "$root/scripts/pg-test-server.sh" start "$tmp/pg" >/dev/null || echo "cluster: the start failed"
back=$(submit "$port_a" 1)
wait_state "$port_b" "$back" done 180
echo "RESULT back_done $(count_done "$port_b" "$back")"

# 5. exactly once, nothing lost
echo "RESULT jobs_total $(q "SELECT count(*) FROM atelier_jobs")"
echo "RESULT jobs_done $(q "SELECT count(*) FROM atelier_jobs WHERE state = 'done'")"
echo "RESULT done_records $(q "SELECT count(*) FROM atelier_done_log")"
echo "RESULT done_records_distinct $(q "SELECT count(DISTINCT id) FROM atelier_done_log")"
echo "RESULT blobs_bad $(q "SELECT count(*) FROM atelier_blobs WHERE encode(sha256(data), 'hex') <> sha256")"

# clean stops: SIGTERM, exit status 0
clean=0
for name in a b w1 w2; do
  eval "p=\$pid_$name"
  kill -TERM "$p" 2>/dev/null && wait "$p" && clean=$((clean + 1))
done
echo "RESULT clean_stops $clean"
