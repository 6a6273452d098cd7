#!/bin/sh
# The README's "Adversarial examples" pictures: a held-out real painting, its adversarial
# twin (PGD, L-inf 2/255) and their difference amplified, with the detector's verdict on
# each (one PNG, laid out as HTML and photographed by headless chromium); and the
# robustness curves (`atelier attack --eval`) of the detectors given, on the held-out images
# of their training run (tools/heldout_split.c rebuilds the split: seed 16, val 0.2).
#
# usage: [DET=MODEL] [EPS=LIST] sh tools/attack_readme.sh [BUILD_DIR] [MAX_IMAGES_PER_CLASS] [NAME=MODEL ...]
#   the picture attacks $DET [models/monet-detector.safetensors, else runs/detector/'s];
#   the curves: each NAME=MODEL given [plain=$DET]
# Writes docs/gallery/attack/ (adversarial.png, NAME.svg, NAME.txt) and uses runs/attack/.
set -e
B=${1:-build}
MAXI=${2:-30}
[ $# -ge 2 ] && shift 2 || shift $#
A=$B/atelier
K=../shared/data/train
DET=${DET:-models/monet-detector.safetensors}
[ -f "$DET" ] || DET=runs/detector/monet-detector.safetensors
R=runs/attack
G=docs/gallery/attack
[ -d "$K/monet" ] && [ -d runs/detector/machine ] || { echo "attack_readme: needs the kit and runs/detector (tools/make_detector.sh)" >&2; exit 1; }
mkdir -p $R $G
cc -O2 -Iinclude tools/heldout_split.c src/rng.c -lm -o $R/heldout_split
$R/heldout_split 16 0.2 $R/heldout real_monet=$K/monet machine_made=runs/detector/machine

# the first held-out real painting the detector calls real with p >= 0.9
PAINTING=
for f in $R/heldout/real_monet/*; do
  p=$($A classify $DET "$f" | awk '{print $4}')
  if awk -v p="$p" 'BEGIN{exit !(p >= 0.9)}'; then PAINTING=$f; break; fi
done
[ -n "$PAINTING" ] || { echo "attack_readme: no held-out painting the detector is sure of" >&2; exit 1; }
$A attack $DET "$PAINTING" -o $R/twin.png --save-input $R/input.png --save-diff $R/diff.png \
  --method pgd --eps 2/255 --steps 10 --label real_monet | tee $R/twin.txt
# the verdicts: the painting's file; the twin as the detector's input (the attack's own
# numbers) and read back from its PNG file as `atelier classify` reads it (which repeats
# the detail step: shrink to 64 px, enlarge)
$A classify $DET "$PAINTING" $R/twin.png | tee $R/verdicts.txt
v_in=$(awk 'NR==1{printf "%s %.2f", $2, ($2 == "real_monet" ? $4 : $6)}' $R/verdicts.txt)
v_file=$(awk 'NR==2{printf "%s %.2f", $2, ($2 == "real_monet" ? $4 : $6)}' $R/verdicts.txt)
v_tw=$(sed -n 's/.* -> \([a-z_]*\) \([0-9.]*\) .*/\1 \2/p' $R/twin.txt | awk '{printf "%s %.2f", $1, $2}')
cat > $R/adversarial.html <<HTML
<html><body style="margin:0;background:#fff;font:14px DejaVu Sans,sans-serif">
<table style="border-spacing:12px"><tr>
<td><img src="input.png" width=224></td><td><img src="twin.png" width=224></td><td><img src="diff.png" width=224></td></tr>
<tr><td style="width:224px;vertical-align:top">a real Monet (held out), as the detector sees it<br>detector: <b>$v_in</b></td>
<td style="width:224px;vertical-align:top">its adversarial twin (PGD, each pixel within 2/255)<br>detector: <b>$v_tw</b><br>read back from the PNG: <b>$v_file</b></td>
<td style="width:224px;vertical-align:top">the difference, amplified to full scale (&plusmn;2/255 &rarr; &plusmn;0.5)</td></tr></table>
</body></html>
HTML
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=730,385 \
  --screenshot=$PWD/$G/adversarial.png file://$PWD/$R/adversarial.html 2>/dev/null
echo "attack_readme: $G/adversarial.png ($PAINTING)"

# robustness curves
[ $# -eq 0 ] && set -- plain=$DET
for nm in "$@"; do
  name=${nm%%=*}; model=${nm#*=}
  $A attack "$model" --eval $R/heldout --eps ${EPS:-0,0.25,0.5,1,2,4/255} --max-images $MAXI -q -o $G/$name.svg | tee $G/$name.txt
done
