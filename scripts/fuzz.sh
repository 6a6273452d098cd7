#!/bin/sh
# Coverage-guided fuzzing of every parser in the tree: libFuzzer, AddressSanitizer and
# UndefinedBehaviorSanitizer (clang), on the reference backend. One harness per input
# format, tests/fuzz/fuzz_NAME.c, built by tests/fuzz/fuzz.mk into build-fuzz/fuzz_NAME:
#   image        an image file, format sniffed (image_read: PNG, JPEG, WebP)
#   json         a JSON document (src/json.h)
#   safetensors  a .safetensors file (safetensors_open_memory)
#   pth          a PyTorch checkpoint, zip or legacy (pth_open_memory)
#   http         the bytes of one connection to the web service (tests/fuzz/serve_driver.h)
#   multipart    the body of a job submission, POST /api/jobs (serve_upload.c)
#   tfjs         a TF.js model.json beside a fixed weight shard
# usage: scripts/fuzz.sh [NAME...]          (`make fuzz`: all of them)
#   FUZZ_SECONDS=180  how long each harness runs; 0: only replay the corpus
#   FUZZ_TIMEOUT=10   seconds one input may take before it counts as a hang
#   FUZZ_KEEP_GOING=1 go on after a finding (libFuzzer's -fork=1 with -ignore_crashes,
#                     -ignore_ooms, -ignore_timeouts), to collect all a run can find
# Each harness starts from its corpus in build-fuzz/corpus/NAME (kept between runs: what
# it finds goes there) and the committed seeds in tests/fuzz/corpus/NAME, with the
# dictionary tests/fuzz/NAME.dict, and runs under -rss_limit_mb=512 -malloc_limit_mb=256:
# a crash, a leak, an allocation over 256 MB, a process over 512 MB or an input over
# FUZZ_TIMEOUT seconds is a finding. A finding stops that harness and is kept in
# build-fuzz/findings/NAME/ (replay: build-fuzz/fuzz_NAME FILE); the log of each run is
# build-fuzz/logs/NAME.log. A table of executions, coverage and findings ends the output;
# the exit status is 1 if anything was found or did not build.
# Needs clang and its runtime (Debian: clang libclang-rt-14-dev), installed here if missing.
set -u
cd "$(dirname "$0")/.."
out=build-fuzz
secs=${FUZZ_SECONDS:-180}
timeout=${FUZZ_TIMEOUT:-10}
all=$(ls tests/fuzz/fuzz_*.c | sed 's|.*/fuzz_||; s|\.c$||')
names=${*:-$all}

# The largest input each harness makes: room for its seeds and a little more.
max_len() {
  case "$1" in
    json|safetensors) echo 4096 ;;
    pth|http) echo 8192 ;;
    image|multipart) echo 16384 ;;
    tfjs) echo 65536 ;;
    *) echo 4096 ;;
  esac
}

fuzzer_works() {
  printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' >"$out/probe.c"
  clang -fsanitize=fuzzer,address,undefined "$out/probe.c" -o "$out/probe" >/dev/null 2>&1
}

mkdir -p "$out/logs"
if ! command -v clang >/dev/null 2>&1 || ! fuzzer_works; then
  pkgs="clang libclang-rt-14-dev"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo
    else echo "fuzz: clang with libFuzzer is missing; run as root: apt-get install $pkgs" >&2; exit 1
    fi
  fi
  echo "fuzz: installing $pkgs" >&2
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
  fuzzer_works || { echo "fuzz: clang cannot build a libFuzzer target (-fsanitize=fuzzer)" >&2; exit 1; }
fi

for n in $names; do
  [ -f "tests/fuzz/fuzz_$n.c" ] || { echo "fuzz: no harness '$n' (have: $(echo $all))" >&2; exit 2; }
done
targets=$(for n in $names; do printf '%s/fuzz_%s ' "$out" "$n"; done)
echo "fuzz: building $(echo $names) (clang, ASan + UBSan + libFuzzer; log: $out/logs/build.log)"
# shellcheck disable=SC2086
if ! make -f tests/fuzz/fuzz.mk OUT="$out" -j"${JOBS:-2}" $targets >"$out/logs/build.log" 2>&1; then
  grep -E 'error|Error' "$out/logs/build.log" | head -n 30 >&2
  echo "fuzz: the build failed (see $out/logs/build.log)" >&2
  exit 1
fi

# The sanitizers: leaks checked, huge requests refused (the code's own checks then run)
# rather than fatal, every report with its stack; ASan keeps 64 MB of freed memory to catch
# uses after free (its default, 256 MB, fills up over a run and counts against the 512 MB).
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1:quarantine_size_mb=64:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
export OMP_WAIT_POLICY=passive
[ "$secs" -gt 0 ] && run="-max_total_time=$secs" || run="-runs=0"
[ -n "${FUZZ_KEEP_GOING:-}" ] && [ "$secs" -gt 0 ] && run="$run -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1"
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
failed=0
for n in $names; do
  mkdir -p "$out/corpus/$n" "$out/findings/$n"
  dict="" seeds=""
  [ -f "tests/fuzz/$n.dict" ] && dict="-dict=tests/fuzz/$n.dict"
  [ -d "tests/fuzz/corpus/$n" ] && seeds="tests/fuzz/corpus/$n"
  log="$out/logs/$n.log"
  touch "$out/findings/$n/.start"
  echo "fuzz: $n for ${secs}s (log: $log)"
  # shellcheck disable=SC2086
  "$out/fuzz_$n" $run -rss_limit_mb=512 -malloc_limit_mb=256 -timeout="$timeout" -max_len="$(max_len "$n")" \
    $dict -artifact_prefix="$out/findings/$n/" -print_final_stats=1 "$out/corpus/$n" $seeds >"$log" 2>&1
  rc=$?
  last=$(grep -aE '^#[0-9]+.*cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  [ -n "$execs" ] || execs=$(printf "%s\n" "$last" | sed -nE 's/^#([0-9]+).*/\1/p')
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  [ -n "$rate" ] || rate=$(printf "%s\n" "$last" | sed -nE 's/.*exec\/s:? ([0-9]+).*/\1/p')
  cov=$(printf "%s\n" "$last" | sed -nE 's/.* cov: ([0-9]+).*/\1/p')
  ft=$(printf "%s\n" "$last" | sed -nE 's/.* ft: ([0-9]+).*/\1/p')
  corp=$(printf "%s\n" "$last" | sed -nE 's/.* corp: ([0-9]+).*/\1/p')
  found=$(find "$out/findings/$n" -type f -newer "$out/findings/$n/.start" | sort)   # this run's
  result="none"
  if [ $rc -ne 0 ] || [ -n "$found" ]; then
    failed=1
    why=$(grep -aoE 'ERROR: (AddressSanitizer: [a-z-]+|LeakSanitizer|libFuzzer: [a-z-]+)|runtime error: [a-z ]+|^serve_driver: [^;(]+' "$log" | head -n 1)
    why=$(printf '%s' "$why" | sed 's/ *$//')
    [ -n "$why" ] || why="exit $rc"
    if [ "$(echo "$found" | grep -c .)" -le 1 ]; then result="$why${found:+: $found}"
    else result="$(echo "$found" | sed 's|.*/||; s|-.*||' | sort | uniq -c | awk '{printf "%s%s x%s", s, $2, $1; s=", "}') in $out/findings/$n/ (first: $why)"
    fi
    echo "fuzz: $n: FOUND $result" >&2
    grep -aE -A 12 '^==[0-9]+==ERROR|runtime error|^serve_driver:' "$log" | head -n 30 >&2
  fi
  printf '%-12s %10s %8s %6s %7s %7s  %s\n' "$n" "${execs:--}" "${rate:--}" "${cov:--}" "${ft:--}" "${corp:--}" "$result" >>"$summary"
done

echo
printf '%-12s %10s %8s %6s %7s %7s  %s\n' harness execs exec/s cov ft corpus findings
cat "$summary"
[ $failed -eq 0 ] && echo "fuzz: no findings (${secs}s each)" || echo "fuzz: FINDINGS: see above; reproduce with build-fuzz/fuzz_NAME FILE" >&2
exit $failed
