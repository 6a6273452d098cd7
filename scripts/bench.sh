#!/bin/sh
# Atelier against PyTorch on this machine (make bench). Runs each workload of
# bench/bench.c in Atelier (BUILD_DIR/atelier_bench) and in PyTorch (bench/bench_torch.py),
# each in its own process, with the same thread count (nproc), and prints a header line
# (CPU model, threads, sgemm peak, rounds) and one table row per workload. Takes a few
# minutes (5-7 on 2 free cores with the defaults; the time grows with BENCH_ROUNDS).
#
# The two programs are interleaved so that both see the same load on a busy machine: for
# each workload, BENCH_ROUNDS rounds (default 3) of one Atelier process and then one
# PyTorch process, each timing the workload's few iterations after its 2 warm-ups. Per
# workload the table gives:
#   Atelier ms, PyTorch ms  the median of all timed iterations of all rounds
#   speed-up                the median of the per-round ratios (PyTorch ms / Atelier ms,
#                           each side's ms the median of its process in that round)
#   spread                  the lowest and the highest per-round ratio; a wide one says the
#                           load changed within a round (rerun, or raise BENCH_ROUNDS)
#   Atelier MB, PyTorch MB  peak resident memory, the largest over the rounds
#   Atelier GFLOP/s         from Atelier's median ms, and as a fraction of the sgemm peak
# A round in which one side failed gives no ratio; the other rounds still count, and the
# script exits 1.
#
# Environment:
#   BENCH_ROUNDS=N       rounds per workload (default 3)
#   BENCH_WORKLOADS=...  "workload:iters ..." runs these instead of the default list;
#                        iters are the timed iterations of each process (of each round),
#                        e.g. BENCH_WORKLOADS="gatys-256:2 dcgan-64:2" BENCH_ROUNDS=2
# Installs Debian's python3-torch (and the OpenMP OpenBLAS it runs best with) if no
# python3 can import torch.
# usage: scripts/bench.sh BUILD_DIR
set -u
build="${1:-build}"
here=$(cd "$(dirname "$0")/.." && pwd)
bench="$build/atelier_bench"
if [ ! -x "$bench" ]; then
  echo "bench.sh: $bench not found; build first (make build)" >&2
  exit 1
fi

py=$(sh "$here/tools/find_torch_python.sh" 2>/dev/null)
if [ -z "$py" ]; then
  echo "bench.sh: installing python3-torch (PyTorch, for the comparison) with apt-get"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends python3-torch libopenblas0-openmp >/dev/null
  py=$(sh "$here/tools/find_torch_python.sh") || {
    echo "bench.sh: still no python3 with torch; install python3-torch and retry" >&2; exit 1; }
fi

threads=$(nproc)
results=$(mktemp)
trap 'rm -f "$results"' EXIT
status=0

# workload:timed iterations of each process (2 warm-ups come on top; BENCH_ROUNDS processes
# a side), sized for a few minutes on 2 cores; a workload@bf16 runs Atelier's cpu-bf16
# backend against PyTorch under bfloat16 autocast; BENCH_WORKLOADS="gatys-256:1 dcgan-64:1"
# runs a subset
workloads="${BENCH_WORKLOADS:-gatys-256:2 gatys-512:1 gatys-inception-512:2 gatys-mobilenet-512:2 fast-style-512:2 fast-style-1024:1 stylenet-512:3 stylenet-1024:2 stylenet-train-256:2 video-360:3 adain-512:1 dcgan-64:1 gatys-256@bf16:2 fast-style-512@bf16:2 adain-512@bf16:1}"
rounds="${BENCH_ROUNDS:-3}"
case "$rounds" in
  ''|*[!0-9]*|0) echo "bench.sh: BENCH_ROUNDS must be a positive integer, not '$rounds'" >&2; exit 2 ;;
esac

# run_side ROUND NAME IMPL COMMAND...: runs one process and appends its JSON line, tagged
# with the round, to $results; or a failed line, so that each round has a line a side
run_side() {
  r=$1; n=$2; impl=$3; shift 3
  if out=$("$@") && out=$(printf '%s\n' "$out" | grep '^{' | tail -n 1) && [ -n "$out" ]; then
    printf '{"round": %s, %s\n' "$r" "${out#?}" >>"$results"
  else
    status=1
    printf '{"round": %s, "name": "%s", "impl": "%s", "failed": true}\n' "$r" "$n" "$impl" >>"$results"
  fi
}

if ! "$bench" sgemm --threads "$threads" >>"$results"; then
  echo "bench.sh: the sgemm measurement failed" >&2; exit 1
fi
for wi in $workloads; do
  w=${wi%%:*}; iters=${wi##*:}; base=${w%@bf16}
  [ "$iters" = "$wi" ] && iters=2
  be=cpu; tflag=""
  [ "$base" != "$w" ] && { be=cpu-bf16; tflag=--bf16; }
  r=1
  while [ "$r" -le "$rounds" ]; do
    echo "  $w round $r/$rounds ..." >&2
    run_side "$r" "$w" atelier "$bench" "$base" --iters "$iters" --threads "$threads" --backend "$be" --name "$w"
    run_side "$r" "$w" pytorch "$py" "$here/bench/bench_torch.py" "$base" --iters "$iters" --threads "$threads" $tflag
    r=$((r + 1))
  done
done

model=$(lscpu | sed -nE 's/^Model name:[[:space:]]*//p' | head -n 1)
"$py" - "$results" "$model" "$threads" "$workloads" "$rounds" <<'EOF'
import json, statistics, sys
path, model, threads, workloads, rounds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(), sys.argv[5]
runs = {}  # (name, impl) -> {round: JSON line}
sgemm = None
for line in open(path):
    line = line.strip()
    if line.startswith("{"):
        r = json.loads(line)
        if r["name"] == "sgemm":
            sgemm = r
        else:
            runs.setdefault((r["name"], r["impl"]), {})[r.get("round", 0)] = r
peak = sgemm["gflops"]
print(f"machine: {model}, {threads} threads; sgemm peak (OpenBLAS, 2048^3): {peak:.1f} GFLOP/s; "
      f"{rounds} round{'s' if rounds != '1' else ''} a workload, Atelier and PyTorch interleaved")
print()
print("| workload | Atelier ms | PyTorch ms | speed-up | spread | Atelier MB | PyTorch MB | Atelier GFLOP/s | of sgemm peak |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")


def side(w, impl):
    """the rounds that ran; over them the median of all timed iterations and the peak MB"""
    ok = {k: r for k, r in runs.get((w, impl), {}).items() if not r.get("failed")}
    if not ok:
        return ok, None, None
    times = [t for r in ok.values() for t in r.get("times_ms", [r["ms"]])]
    return ok, statistics.median(times), max(r["peak_rss_mb"] for r in ok.values())


for wi in workloads:
    w = wi.split(":")[0]
    a, ams, amb = side(w, "atelier")
    t, tms, tmb = side(w, "pytorch")
    ratios = [t[k]["ms"] / a[k]["ms"] for k in sorted(a) if k in t]
    gflop = next(iter(a.values()))["gflop"] if a else 0
    cells = [w,
             "failed" if ams is None else f"{ams:.1f}",
             "failed" if tms is None else f"{tms:.1f}",
             f"{statistics.median(ratios):.2f}x" if ratios else "-",
             f"{min(ratios):.2f}-{max(ratios):.2f}x" if ratios else "-",
             "-" if amb is None else f"{amb:.0f}",
             "-" if tmb is None else f"{tmb:.0f}",
             "-" if ams is None or not gflop else f"{gflop / (ams / 1e3):.1f}",
             "-" if ams is None or not gflop else f"{100 * gflop / (ams / 1e3) / peak:.0f}%"]
    print("| " + " | ".join(cells) + " |")
EOF
exit $status
