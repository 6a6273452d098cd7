#!/bin/sh
# The README's video gallery: one second of the kit's Big Buck Bunny clip (from 3 s) by
# `atelier video` with kit-styles, per frame (--no-temporal) and consistent (the default),
# written as frames folders; then one PNG (composed with Debian's python3-opencv): frames 0,
# 6, 12 and 18 at 320x180 (per-frame above consistent), and below them a 320x180 crop at
# full resolution (the bunny and the grass) of four consecutive frames 0..3, per-frame above
# consistent, where the flicker shows. Also writes the consistent second as a GIF.
# usage: tools/video_gallery.sh [BUILD_DIR] [STYLE]
set -eu
build="${1:-build}"
style="${2:-vangogh_starry_night}"
here=$(cd "$(dirname "$0")/.." && pwd)
clip="$here/../shared/data/video/big_buck_bunny_10s_640x360.mp4"
[ -f "$clip" ] || { echo "video_gallery.sh: $clip not found (the data kit)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$build/atelier" video "$clip" -o "$tmp/perframe/" --start 3 --duration 1 -s "$style" --no-temporal --quiet
"$build/atelier" video "$clip" -o "$tmp/consistent/" --start 3 --duration 1 -s "$style" --quiet
"$build/atelier" video "$clip" -o "$here/docs/gallery/video/bbb_${style}_consistent.gif" --start 3 --duration 1 \
  --size 320 -s "$style" --quiet
/usr/bin/python3 - "$tmp" "$here/docs/gallery/video/bbb_${style}_strip.png" <<'PY'
import sys, cv2, numpy as np
tmp, out = sys.argv[1], sys.argv[2]
rows = []
for side in ("perframe", "consistent"):
    tiles = [cv2.resize(cv2.imread(f"{tmp}/{side}/frame_{k + 1:06d}.png"), (320, 180), interpolation=cv2.INTER_AREA)
             for k in (0, 6, 12, 18)]
    rows.append(np.concatenate(tiles, axis=1))
    rows.append(np.full((4, 1280, 3), 255, np.uint8))
for side in ("perframe", "consistent"):
    tiles = [cv2.imread(f"{tmp}/{side}/frame_{k + 1:06d}.png")[150:330, 200:520] for k in (0, 1, 2, 3)]
    rows.append(np.concatenate(tiles, axis=1))
    rows.append(np.full((4, 1280, 3), 255, np.uint8))
cv2.imwrite(out, np.concatenate(rows[:-1], axis=0))
PY
echo "wrote docs/gallery/video/bbb_${style}_strip.png and bbb_${style}_consistent.gif"
