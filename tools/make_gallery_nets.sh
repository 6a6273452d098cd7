#!/bin/sh
# The README's before/after gallery: four photos by four paintings of the data kit with the
# trained network (InceptionV3) and its default settings, at the same size and iteration
# budget as the built-in network's gallery (tools/make_gallery.sh: 192 px, 40 iterations on
# each of its 2 levels = 80; here one level of 80), written beside it as NAME__inception.jpg.
# usage: tools/make_gallery_nets.sh [BUILD_DIR] [OUT_DIR]
set -eu
build=${1:-build}
out=${2:-docs/gallery}
data=../shared/data
if [ ! -d "$data/content" ]; then echo "make_gallery_nets: $data is absent (the data kit)" >&2; exit 1; fi
mkdir -p "$out"
for c in tubingen_neckarfront golden_gate chicago_skyline sailboat; do
  for s in vangogh_starry_night munch_the_scream turner_shipwreck_minotaur seurat_grande_jatte; do
    "$build/atelier" stylize "$data/content/$c.jpg" -s "$data/style/$s.jpg" --net inception_v3 --size 192 --iterations 80 \
      --quality 90 --quiet -o "$out/${c}__${s}__inception.jpg"
    echo "$out/${c}__${s}__inception.jpg"
  done
done
