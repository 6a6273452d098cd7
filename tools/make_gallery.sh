#!/bin/sh
# The README's gallery: four photos by four paintings of the data kit with the built-in
# network and default settings (at 192 px and 40 iterations per level, to stay quick on
# a 2-core machine), plus --preserve-colors, --style-blend and --multires examples.
# usage: tools/make_gallery.sh [BUILD_DIR] [OUT_DIR]
set -eu
build=${1:-build}
out=${2:-docs/gallery}
data=../shared/data
if [ ! -d "$data/content" ]; then echo "make_gallery: $data is absent (the data kit)" >&2; exit 1; fi
mkdir -p "$out"
run() { name=$1; shift; "$build/atelier" stylize "$@" --size 192 --iterations 40 --quality 90 --quiet -o "$out/$name.jpg"; echo "$out/$name.jpg"; }
for c in tubingen_neckarfront golden_gate chicago_skyline sailboat; do
  "$build/atelier" stylize "$data/content/$c.jpg" -s "$data/content/$c.jpg" --size 192 --iterations 0 --color rgb --quiet -o "$out/$c.jpg"
  for s in vangogh_starry_night munch_the_scream turner_shipwreck_minotaur seurat_grande_jatte; do
    [ -f "$out/${s}.jpg" ] || "$build/atelier" stylize "$data/style/$s.jpg" -s "$data/style/$s.jpg" --size 192 --iterations 0 --color rgb --quiet -o "$out/$s.jpg"
    run "${c}__${s}" "$data/content/$c.jpg" -s "$data/style/$s.jpg"
  done
done
run preserve__tubingen_neckarfront__vangogh_starry_night "$data/content/tubingen_neckarfront.jpg" -s "$data/style/vangogh_starry_night.jpg" --preserve-colors
run blend__golden_gate__starry_scream "$data/content/golden_gate.jpg" -s "$data/style/vangogh_starry_night.jpg" -s "$data/style/munch_the_scream.jpg" --style-blend 0.5,0.5
run multires1__chicago_skyline__turner_shipwreck_minotaur "$data/content/chicago_skyline.jpg" -s "$data/style/turner_shipwreck_minotaur.jpg" --multires 1
run multires3__chicago_skyline__turner_shipwreck_minotaur "$data/content/chicago_skyline.jpg" -s "$data/style/turner_shipwreck_minotaur.jpg" --multires 3
