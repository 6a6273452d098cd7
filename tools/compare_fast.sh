#!/bin/sh
# The held-out check of a fast style network against optimisation (the README's table and
# gallery): for each of the model's styles, one of the kit's content photos (never seen in
# training: the network trains on train/photos) is painted at 512 px by the network and by
# `atelier stylize` at its default settings, timed, and both results are measured on the
# loss network as stylize defines the loss (stylize --init RESULT --iterations 0: content
# and style terms at the result). Prints a markdown table; writes side-by-side pictures
# (photo | fast | optimisation) to OUT_DIR.
#
#   sh tools/compare_fast.sh [BUILD_DIR] [MODEL] [KIT] [WORK_DIR] [OUT_DIR]
#   PHASE=opt sh tools/compare_fast.sh ...    # only the optimisation runs (cached in WORK_DIR)
#
# The optimisation results are cached (WORK_DIR/opt), so a retrained model is compared in
# seconds. Style images: KIT/style/NAME.jpg or .png, NAME the model's style name.
set -e
BUILD=${1:-build}
MODEL=${2:-kit-styles}
KIT=${3:-../shared/data}
WORK=${4:-runs/compare}
OUT=${5:-docs/gallery/fast}
PHASE=${PHASE:-all}
A="$BUILD/atelier"
SIZE=512
mkdir -p "$WORK/opt" "$WORK/fast" "$OUT"
styles=$("$A" style-net show "$MODEL" | sed -n 's/^ *[0-9][0-9]*  //p')
photos=$(ls "$KIT/content" | sed 's/\.[a-z]*$//' | sort)
nphotos=$(echo "$photos" | wc -l)

now() { date +%s.%N; }
measure() {  # measure CONTENT STYLE RESULT -> "content style"
  "$A" stylize "$1" -s "$2" --init "$3" --iterations 0 -o "$WORK/measure.png" --log "$WORK/measure.jsonl" --quiet
  sed -n 's/.*"content": \([^,]*\), "style": \([^,]*\),.*/\1 \2/p' "$WORK/measure.jsonl" | tail -n 1
}

[ "$PHASE" = all ] && {
  echo "| style | photo | fast s | optimisation s | fast content | opt content | ratio | fast style | opt style | ratio |"
  echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
}
i=0
for s in $styles; do
  p=$(echo "$photos" | sed -n "$((i % nphotos + 1))p")
  i=$((i + 1))
  photo=$(ls "$KIT/content/$p".* | head -n 1)
  style=$(ls "$KIT/style/$s".* 2>/dev/null | head -n 1)
  [ -n "$style" ] || { echo "compare_fast: no style image for $s in $KIT/style" >&2; continue; }
  opt="$WORK/opt/${p}__$s.png"
  if [ ! -f "$opt" ]; then
    t0=$(now)
    "$A" stylize "$photo" -s "$style" --size $SIZE -o "$opt.tmp.png" --quiet
    t1=$(now)
    mv "$opt.tmp.png" "$opt"
    echo "$t0 $t1" | awk '{printf "%.1f\n", $2 - $1}' > "$opt.seconds"
  fi
  [ "$PHASE" = opt ] && continue
  fast="$WORK/fast/${p}__$s.png"
  t0=$(now)
  "$A" stylize "$photo" --model "$MODEL" -s "$s" --size $SIZE -o "$fast" --quiet
  t1=$(now)
  fs=$(echo "$t0 $t1" | awk '{printf "%.2f", $2 - $1}')
  set -- $(measure "$photo" "$style" "$fast") $(measure "$photo" "$style" "$opt")
  echo "| $s | $p | $fs | $(cat "$opt.seconds") | $1 | $3 | $(echo "$1 $3" | awk '{printf "%.2f", $1 / $2}') | $2 | $4 | $(echo "$2 $4" | awk '{printf "%.2f", $1 / $2}') |"
  convert "$photo" -resize ${SIZE}x${SIZE} "$WORK/photo.png"
  convert "$WORK/photo.png" "$fast" "$opt" -background white -splice 8x0 +append -chop 8x0 -quality 88 "$OUT/${p}__$s.jpg"
done
