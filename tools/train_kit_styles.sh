#!/bin/sh
# Trains the built-in fast style network kit-styles: one width-0.5 network, eleven styles
# (the kit's paintings, named by their files; turner_shipwreck_minotaur_small.jpg is a smaller copy of the same
# Turner and is left out), on the kit's landscape photos, against InceptionV3 with
# stylize's loss and layers but a fifth of its style weight (20, not 100: at 100 the
# network gave up the photo's shapes for flat blobs of the paintings' colours). Resumable: run it again and it continues from the checkpoint
# (the same bytes as an uninterrupted run); STEPS raises the total.
#
#   sh tools/train_kit_styles.sh [BUILD_DIR] [KIT] [RUN_DIR]
#   STEPS=40000 sh tools/train_kit_styles.sh          # continue to 40000 steps
#
# Then: cp RUN_DIR/model.safetensors models/kit-styles.safetensors and rebuild (the file is
# compiled into the program). About 0.8 s a step (batch 4 at 256 px) on this 2-core machine.
set -e
BUILD=${1:-build}
KIT=${2:-../shared/data}
OUT=${3:-runs/kit-styles}
STEPS=${STEPS:-20000}
A="$BUILD/atelier"
S="$KIT/style"
[ -x "$A" ] || { echo "train_kit_styles: $A not built (make build)" >&2; exit 1; }
[ -d "$KIT/train/photos" ] || { echo "train_kit_styles: $KIT/train/photos absent (the data kit)" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"
COMMON="--data $KIT/train/photos --out $OUT --steps $STEPS --sample-every 500 --checkpoint-every 250"
if [ -f "$OUT/checkpoint.safetensors" ]; then
  exec "$A" style-net train $COMMON --resume
fi
exec "$A" style-net train $COMMON --width 0.5 --image-size 256 --style-size 512 --batch 4 --lr 0.001 --style-weight 20 --seed 1 \
  --style "$S/gauguin_te_fare.jpg" \
  --style "$S/manet_flowers_crystal_vase.jpg" \
  --style "$S/mondrian_tableau_1913.jpg" \
  --style "$S/monet_charing_cross_bridge.jpg" \
  --style "$S/monet_san_giorgio_maggiore_at_dusk.jpg" \
  --style "$S/munch_the_scream.jpg" \
  --style "$S/sakai_hoitsu_flowering_cherry.jpg" \
  --style "$S/seurat_grande_jatte.jpg" \
  --style "$S/turner_shipwreck_minotaur.jpg" \
  --style "$S/vangogh_starry_night.jpg" \
  --style "$S/vangogh_starry_night_over_the_rhone.png"
