#!/bin/sh
# Atelier against PyTorch on this machine (make bench). Runs each workload of
# bench/bench.c in Atelier (BUILD_DIR/atelier_bench) and in PyTorch (bench/bench_torch.py),
# each in its own process, with the same thread count (nproc), and prints a header line
# (CPU model, threads, sgemm peak) and one table row per workload: times (median of the
# timed iterations), speed-up (PyTorch ms / Atelier ms), peak resident memory, and
# Atelier's GFLOP/s as a fraction of the measured sgemm peak. Takes a few minutes.
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

# workload:timed iterations (2 warm-ups come on top), sized for a few minutes on 2 cores;
# a workload@bf16 runs Atelier's cpu-bf16 backend against PyTorch under bfloat16 autocast;
# BENCH_WORKLOADS="gatys-256:1 dcgan-64:1" runs a subset
workloads="${BENCH_WORKLOADS:-gatys-256:5 gatys-512:3 fast-style-512:5 fast-style-1024:3 adain-512:3 dcgan-64:3 gatys-256@bf16:5 fast-style-512@bf16:5 adain-512@bf16:3}"

if ! "$bench" sgemm --threads "$threads" >>"$results"; then
  echo "bench.sh: the sgemm measurement failed" >&2; exit 1
fi
for wi in $workloads; do
  w=${wi%%:*}; iters=${wi##*:}; base=${w%@bf16}
  be=cpu; tflag=""
  [ "$base" != "$w" ] && { be=cpu-bf16; tflag=--bf16; }
  echo "  $w ..." >&2
  "$bench" "$base" --iters "$iters" --threads "$threads" --backend "$be" --name "$w" >>"$results" || { status=1; echo "{\"name\": \"$w\", \"impl\": \"atelier\", \"failed\": true}" >>"$results"; }
  "$py" "$here/bench/bench_torch.py" "$base" --iters "$iters" --threads "$threads" $tflag >>"$results" || { status=1; echo "{\"name\": \"$w\", \"impl\": \"pytorch\", \"failed\": true}" >>"$results"; }
done

model=$(lscpu | sed -nE 's/^Model name:[[:space:]]*//p' | head -n 1)
"$py" - "$results" "$model" "$threads" "$workloads" <<'EOF'
import json, sys
path, model, threads, workloads = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split()
rows = {}
for line in open(path):
    line = line.strip()
    if line.startswith("{"):
        r = json.loads(line)
        rows[(r["name"], r["impl"])] = r
peak = rows[("sgemm", "atelier")]["gflops"]
print(f"machine: {model}, {threads} threads; sgemm peak (OpenBLAS, 2048^3): {peak:.1f} GFLOP/s")
print()
print("| workload | Atelier ms | PyTorch ms | speed-up | Atelier MB | PyTorch MB | Atelier GFLOP/s | of sgemm peak |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for wi in workloads:
    w = wi.split(":")[0]
    a, t = rows.get((w, "atelier"), {"failed": True}), rows.get((w, "pytorch"), {"failed": True})
    am = "failed" if a.get("failed") else f"{a['ms']:.1f}"
    tm = "failed" if t.get("failed") else f"{t['ms']:.1f}"
    both = not a.get("failed") and not t.get("failed")
    sp = f"{t['ms'] / a['ms']:.2f}x" if both else "-"
    amb = "-" if a.get("failed") else f"{a['peak_rss_mb']:.0f}"
    tmb = "-" if t.get("failed") else f"{t['peak_rss_mb']:.0f}"
    gf = "-" if a.get("failed") else f"{a['gflops']:.1f}"
    frac = "-" if a.get("failed") else f"{100 * a['gflops'] / peak:.0f}%"
    print(f"| {w} | {am} | {tm} | {sp} | {amb} | {tmb} | {gf} | {frac} |")
EOF
exit $status
