#!/bin/sh
# Atelier's `stylize` against the same algorithm in PyTorch (tools/stylize_torch.py), with the
# same weights (the built-in network, exported as safetensors) and the same inputs, after N
# L-BFGS iterations at SIZE px. Prints both final losses; fails if they differ by over 5%.
#
# usage: tools/compare_stylize.sh [BUILD_DIR] [CONTENT] [STYLE] [SIZE] [ITERATIONS]
set -eu
build=${1:-build}
data=../shared/data
content=${2:-$data/content/tubingen_neckarfront.jpg}
style=${3:-$data/style/vangogh_starry_night.jpg}
size=${4:-256}
iters=${5:-50}
py=$(sh tools/find_torch_python.sh)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin=$build/atelier
w="--content-weight 1 --style-weight 10 --tv-weight 1"
layers="--content-layers relu4_2 --style-layers relu1_1,relu2_1,relu3_1,relu4_1,relu5_1"
"$bin" stylize --export-network "$tmp/vgg.safetensors"
# the inputs at the working size, as 8-bit PNGs: no resizing on either side afterwards
"$bin" stylize "$content" -s "$content" -o "$tmp/c.png" --size "$size" --iterations 0 --color rgb --quiet
"$bin" stylize "$style" -s "$style" -o "$tmp/s.png" --size "$size" --iterations 0 --color rgb --quiet
start=$(date +%s.%N)
"$bin" stylize "$tmp/c.png" -s "$tmp/s.png" -o "$tmp/out.png" --weights "$tmp/vgg.safetensors" --size "$size" \
    --iterations "$iters" $w $layers --log "$tmp/log.jsonl" --quiet
mid=$(date +%s.%N)
"$py" tools/stylize_torch.py --weights "$tmp/vgg.safetensors" --content "$tmp/c.png" --style "$tmp/s.png" \
    --iterations "$iters" $w $layers > "$tmp/torch.json"
end=$(date +%s.%N)
"$py" - "$tmp/log.jsonl" "$tmp/torch.json" "$start" "$mid" "$end" <<'PY'
import json, sys
log = [json.loads(l) for l in open(sys.argv[1])]
ours = [l for l in log if l.get("final")][0]["loss"]
first = log[0]["loss"]
torch = json.load(open(sys.argv[2]))
t0, t1, t2 = map(float, sys.argv[3:6])
diff = abs(ours - torch["final_loss"]) / torch["final_loss"]
print(f"first loss: atelier {first:.6g}  pytorch {torch['first_loss']:.6g}")
print(f"final loss: atelier {ours:.6g}  pytorch {torch['final_loss']:.6g}  difference {100 * diff:.2f}%")
print(f"time: atelier {t1 - t0:.1f} s  pytorch {t2 - t1:.1f} s")
sys.exit(0 if diff <= 0.05 else 1)
PY
