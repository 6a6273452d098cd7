#!/bin/sh
# Screens style-transfer recipes on the trained feature networks (the README's table):
# each recipe on a few of the kit's photo x painting pairs, one picture each, with the
# final loss terms and the time in a TSV. Look at the pictures: the loss is not the verdict.
# usage: tools/screen_nets.sh BUILD_DIR OUT_DIR [SIZE] [ITERATIONS]
set -u
build=${1:-build}; out=${2:-/tmp/screen}; size=${3:-256}; its=${4:-150}
kit=${KIT:-../shared/data}
[ -d "$kit/content" ] || { echo "screen_nets.sh: the data kit ($kit) is absent" >&2; exit 1; }
mkdir -p "$out"
pairs=${PAIRS:-"tubingen_neckarfront:vangogh_starry_night golden_gate:munch_the_scream sailboat:turner_shipwreck_minotaur chicago_skyline:seurat_grande_jatte"}
# name|options
recipes=${RECIPES:-"vgg-builtin|--net vgg19
inc-pm1-sw100|--net inception_v3 --net-input pm1 --style-weight 100
inc-01-sw100|--net inception_v3 --net-input 01 --style-weight 100
inc-pm1-sw1000|--net inception_v3 --net-input pm1 --style-weight 1000
inc-pm1-sw100-pad0|--net inception_v3 --net-input pm1 --net-pad 0 --style-weight 100
mob-pm1-sw100|--net mobilenet_v2 --net-input pm1 --style-weight 100"}
printf 'recipe\tpair\tseconds\tloss\tcontent\tstyle\ttv\n' > "$out/screen.tsv"
echo "$recipes" | while IFS='|' read -r name opts; do
  for p in $pairs; do
    c=${p%%:*}; s=${p##*:}
    sf=$(ls "$kit/style/$s".* | head -n 1); cf=$(ls "$kit/content/$c".* | head -n 1)
    # shellcheck disable=SC2086
    "$build/atelier" stylize "$cf" -s "$sf" --size "$size" --iterations "$its" $opts --quiet \
      --log "$out/$name-$c.jsonl" -o "$out/$name-$c.png" 2>>"$out/errors.txt" || { echo "$name $c failed" >&2; continue; }
    tail -n 1 "$out/$name-$c.jsonl" | python3 -c "import json,sys; d=json.loads(sys.stdin.read()); print('\t'.join(['$name','$c-$s','%.1f'%d['seconds'],'%.4g'%d['loss'],'%.4g'%d['content'],'%.4g'%d['style'],'%.4g'%d['tv']]))" >> "$out/screen.tsv"
  done
done
cat "$out/screen.tsv"
