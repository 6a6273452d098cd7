#!/bin/sh
# The built-in AI-art detector: "real_monet" (the kit's 300 Monet paintings) against
# "machine_made" (150 samples of the built-in monet64 GAN and 150 kit photos painted as
# Monet by the fast style network kit-styles, 75 in each of its two Monet styles), a head
# on MobileNetV2. Writes runs/detector/ (gitignored) and models/monet-detector.safetensors.
#
# No trivial cue: the GAN draws 64 px images, so every image of both classes goes the same
# way through `classify train --detail 64`: short side to the network's 224 px and centre
# crop (as all classes are loaded), shrunk to 64 px (area averaging; this also erases the
# JPEG blocks of the kit's files) and enlarged back to 224 px (Lanczos-3). The stylised
# photos are written as JPEG (quality 90, as the kit's files are JPEG) at the kit's 256 px,
# the GAN's samples as PNG at 64 px: the detail step makes the two paths identical.
#
# usage: sh tools/make_detector.sh [BUILD_DIR] [EPOCHS]
set -e
B=${1:-build}
EPOCHS=${2:-100}
A=$B/atelier
K=../shared/data/train
R=runs/detector
[ -d "$K/monet" ] && [ -d "$K/photos" ] || { echo "make_detector: the data kit ($K) is absent" >&2; exit 1; }
mkdir -p $R/machine
if [ ! -f $R/machine/.done ]; then
  $A gan sample monet64 -n 150 --seed 16 --out-dir $R/gan
  for f in $R/gan/sample_*.png; do mv "$f" "$R/machine/gan_$(basename "$f")"; done
  # every 46th photo in name order: 150 photos spread over the kit
  ls $K/photos | sort | awk 'NR % 46 == 1' | head -150 > $R/photos.txt
  i=0
  while read -r p; do
    if [ $((i % 2)) -eq 0 ]; then s=monet_charing_cross_bridge; else s=monet_san_giorgio_maggiore_at_dusk; fi
    $A stylize "$K/photos/$p" --model kit-styles -s $s --quality 90 --quiet -o "$R/machine/st_$(printf %03d $i)_$s.jpg"
    i=$((i + 1))
  done < $R/photos.txt
  touch $R/machine/.done
fi
$A classify train --class real_monet=$K/monet --class machine_made=$R/machine --detail 64 \
  --net mobilenet_v2 --epochs "$EPOCHS" --batch 32 --lr 0.003 --val 0.2 --seed 16 \
  --out $R/monet-detector.safetensors
cp $R/monet-detector.safetensors models/monet-detector.safetensors
echo "make_detector: models/monet-detector.safetensors (held-out results above and in $R/monet-detector.run/log.jsonl)"
