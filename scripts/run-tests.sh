#!/bin/sh
# Run every test binary and header example of a build directory, once on each backend the
# build has (the reference, then the default fast one); print one line per binary and, last,
# the total "N passed, N failed" (a header example counts as one case).
# Exit status 1 if anything failed or a binary crashed before its summary.
# usage: scripts/run-tests.sh BUILD_DIR
#   CLI_ONE_BACKEND=1  the end-to-end command tests (test_cli_*) on the default backend only
#                      (`make sanitize`: they test the commands, and under ASan on the
#                      reference backend they took 10 minutes; its kernels stay covered by
#                      the unit tests, which still run on every backend)
build="${1:-build}"
# (cpu-bf16 trades precision for speed by design: tests/test_cpu_bf16.c checks it on its own)
backends=$("$build/atelier" --version | sed -nE 's/.*\(backends? ([^)]*)\).*/\1/p' | tr -d ',' | sed 's/cpu-bf16//')
[ -n "$backends" ] || backends=ref
# OpenMP threads that wait by sleeping: the CLI tests run a server and its client side by
# side, and spinning threads of one process starve the other's on 2 cores (a test that takes
# 1 s alone took minutes)
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
passed=0; failed=0; skipped=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
last_be=$(echo $backends | awk '{print $NF}')
for be in $backends; do
echo "== backend $be"
export ATELIER_BACKEND=$be
for t in "$build"/test_* "$build"/example_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  if [ "${CLI_ONE_BACKEND:-0}" = 1 ] && [ "$be" != "$last_be" ]; then
    case "$name" in test_cli_*) echo "skip    $name (CLI_ONE_BACKEND: on $last_be only)"; continue ;; esac
  fi
  case "$name" in
    example_*) dir="$build" ;;  # examples may write files: keep them in the build dir
    *) dir=. ;;
  esac
  exe=$(readlink -f "$t")
  start=$(date +%s)
  (cd "$dir" && "$exe") >"$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
  case "$name" in
    example_*)
      if [ $rc -eq 0 ]; then passed=$((passed + 1)); echo "ok      $name (header example)"
      else failed=$((failed + 1)); echo "FAILED  $name (header example, exit $rc)"; cat "$log"; fi ;;
    *)
      if [ -z "$summary" ]; then
        failed=$((failed + 1)); echo "FAILED  $name: exited $rc with no summary (crash?)"; tail -n 30 "$log"
      else
        p=$(echo "$summary" | sed -E 's/^([0-9]+) passed.*/\1/')
        f=$(echo "$summary" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
        s=$(echo "$summary" | sed -nE 's/.*, ([0-9]+) skipped.*/\1/p')
        passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + ${s:-0}))
        if [ "$f" -gt 0 ] || [ $rc -ne 0 ]; then
          [ "$f" -eq 0 ] && failed=$((failed + 1))
          echo "FAILED  $name: $summary (exit $rc)"; grep -E 'FAIL|not ok' "$log" | head -n 40
        else
          echo "ok      $name: $summary (${secs}s)"
          grep -E '^  (skip|browser: )' "$log"
        fi
      fi ;;
  esac
done
done
if [ "$skipped" -gt 0 ]; then echo "$passed passed, $failed failed, $skipped skipped"
else echo "$passed passed, $failed failed"; fi
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
