#!/bin/sh
# Trains the built-in monet64 generator and makes the README's GAN pictures.
#
#   sh tools/train_monet.sh [BUILD_DIR] [KIT] [OUT_DIR]
#
# Two runs on the kit's 300 Monet paintings at 64x64, the same but for DiffAugment (color,
# cutout; translation made the DCGAN generator's checkerboard worse, see the README). Both
# are evaluated (KID, diversity, memorisation) for the README's table; the one without
# DiffAugment becomes models/monet64.safetensors (rebuild to embed it): at equal KID its
# samples had crisper brushwork. Each run is 5000 steps (about 50 minutes on one core of
# this 2-core machine; the two run side by side).
set -e
BUILD=${1:-build}
KIT=${2:-../shared/data}
OUT=${3:-runs/monet}
A="$BUILD/atelier"
DATA="$KIT/train/monet"
[ -x "$A" ] || { echo "train_monet: $A not built (make build)" >&2; exit 1; }
[ -d "$DATA" ] || { echo "train_monet: $DATA absent (the data kit)" >&2; exit 1; }
mkdir -p "$OUT"
COMMON="--data $DATA --size 64 --ngf 32 --ndf 32 --batch 32 --steps 5000 --ema 0.999 \
  --sample-every 250 --eval-every 500 --checkpoint-every 500 --seed 1"
OMP_NUM_THREADS=1 "$A" gan train $COMMON --out "$OUT/da" --diffaug color,cutout > "$OUT/da.out" 2>&1 &
OMP_NUM_THREADS=1 "$A" gan train $COMMON --out "$OUT/noda" > "$OUT/noda.out" 2>&1 &
wait
for run in da noda; do
  "$A" gan eval "$OUT/$run/generator.safetensors" --data "$DATA" -n 300 --json > "$OUT/$run.eval.json"
done
cp "$OUT/noda/generator.safetensors" models/monet64.safetensors
mkdir -p docs/gan
G=models/monet64.safetensors
"$A" gan sample $G -n 64 --seed 1 --grid docs/gan/monet64_samples.png
"$A" gan interpolate $G --from 3 --to 7 --frames 10 --strip docs/gan/monet64_walk.png
"$A" gan interpolate $G --from 3 --to 7 --frames 48 -o docs/gan/monet64_walk.gif
cp "$OUT/noda/curves.svg" docs/gan/monet64_curves.svg
cp "$OUT/noda/kid.svg" docs/gan/monet64_kid.svg
cp "$OUT/da/samples_005000.png" docs/gan/diffaug_samples.png
cat "$OUT/noda.eval.json" "$OUT/da.eval.json"
