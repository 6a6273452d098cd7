#!/bin/sh
# Installs the trained feature networks (InceptionV3 and MobileNetV2, TF.js layers models)
# from the npm package nsfwjs 4.4.0 (MIT licence, Infinite Red): Keras ImageNet-pretrained
# backbones fine-tuned by nsfwjs to a 5-class image classifier; Atelier uses their
# convolutional features. Pinned version and sha512 integrity; the only download is here.
#
# usage: scripts/install-models.sh [DEST]
#   DEST  default: the first folder of $ATELIER_MODELS (a colon list), else
#         ${XDG_DATA_HOME:-$HOME/.local/share}/atelier/models
#   ATELIER_SKIP_MODELS=1  skip (Atelier then uses its built-in random VGG-19)
# Quick when already installed (DEST/.installed-nsfwjs-4.4.0 records the version and the
# integrity). Otherwise it needs node and npm (installs Debian's nodejs and npm if missing,
# as root or through sudo), fetches the package with `npm pack`, refuses it unless its
# sha512 is the pinned one, converts DEST/inception_v3, DEST/mobilenet_v2 and
# DEST/mobilenet_v2_mid (a graph model, which Atelier does not read) with
# tools/tfjs_unumd.js in DEST/.tmp-install-PID, and only then moves them into place.
# On failure: one line on stderr, exit status 1, no partial model folder.
set -eu
PKG=nsfwjs
VER=4.4.0
INTEGRITY=sha512-krC1fgeTLXtZwgdpKJ0jm7hqv0gTSRQQRL+FhOaxaJ9Wj92t42BO3csO2odwgTAgZgf2RvkwPtp0R8Aa7dc+MA==
MODELS="inception_v3 mobilenet_v2 mobilenet_v2_mid"

say() { echo "install-models: $*" >&2; }
die() { say "$*"; exit 1; }

if [ "${ATELIER_SKIP_MODELS:-}" = 1 ]; then say "skipped (ATELIER_SKIP_MODELS=1)"; exit 0; fi
case "${1:-}" in
  -h|--help) sed -n '2,17s/^# \{0,1\}//p' "$0"; exit 0 ;;
  -*) die "unknown option $1 (usage: scripts/install-models.sh [DEST])" ;;
esac
[ $# -le 1 ] || die "usage: scripts/install-models.sh [DEST]"
here=$(cd "$(dirname "$0")/.." && pwd)

if [ $# -eq 1 ] && [ -n "$1" ]; then dest=$1
else
  first=${ATELIER_MODELS:-}
  first=${first%%:*}
  if [ -n "$first" ]; then dest=$first
  elif [ -n "${XDG_DATA_HOME:-}" ]; then dest=$XDG_DATA_HOME/atelier/models
  elif [ -n "${HOME:-}" ]; then dest=$HOME/.local/share/atelier/models
  else die "no DEST given and neither ATELIER_MODELS, XDG_DATA_HOME nor HOME is set"
  fi
fi

stamp="$dest/.installed-$PKG-$VER"
want="$PKG@$VER $INTEGRITY"
installed=1
for m in $MODELS; do [ -f "$dest/$m/model.json" ] || installed=0; done
# (an empty stamp: written by this script's first version, after the same pinned check)
if [ "$installed" = 1 ] && [ -f "$stamp" ] && { [ ! -s "$stamp" ] || [ "$(cat "$stamp")" = "$want" ]; }; then exit 0; fi

# node and npm, from Debian if missing (as scripts/install-deps.sh does for its packages)
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  say "installing Debian's nodejs and npm (needed to fetch and unpack the networks)"
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo=sudo
    else die "node and npm are missing; as root: apt-get install nodejs npm (or ATELIER_SKIP_MODELS=1)"
    fi
  fi
  { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm; } >/dev/null 2>&1 ||
    die "apt-get install nodejs npm failed (try it by hand, or ATELIER_SKIP_MODELS=1)"
fi

mkdir -p "$dest" 2>/dev/null && [ -w "$dest" ] || die "cannot write to $dest (give another DEST, or set ATELIER_MODELS)"
work=$(mktemp -d "${TMPDIR:-/tmp}/atelier-models.XXXXXX") || die "mktemp failed"
stage="$dest/.tmp-install-$$"
trap 'rm -rf "$work" "$stage"' EXIT
trap 'exit 1' HUP INT TERM

say "fetching $PKG@$VER (the trained InceptionV3 and MobileNetV2, 25 MB) into $dest"
tgz=$(cd "$work" && npm pack --loglevel=error "$PKG@$VER" 2>"$work/npm.err") ||
  die "npm pack $PKG@$VER failed: $(sed -n -e 's/^npm ERR! //p' -e 's/^npm error //p' "$work/npm.err" | grep -v '^code ' | head -n 1)"
tgz="$work/$(echo "$tgz" | tail -n 1)"
[ -f "$tgz" ] || die "npm pack $PKG@$VER made no tarball"
got=$(node -e 'const c = require("crypto"), fs = require("fs");
  process.stdout.write("sha512-" + c.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"))' "$tgz") ||
  die "cannot hash $tgz"
[ "$got" = "$INTEGRITY" ] || die "$(basename "$tgz") has integrity $got, not the pinned $INTEGRITY: refused"
tar -xzf "$tgz" -C "$work" 2>"$work/tar.err" || die "cannot unpack $(basename "$tgz"): $(tail -n 1 "$work/tar.err")"

rm -rf "$stage"
mkdir "$stage"
for m in $MODELS; do
  [ -f "$work/package/dist/models/$m/model.min.js" ] || die "$PKG@$VER has no dist/models/$m/model.min.js"
  node "$here/tools/tfjs_unumd.js" "$work/package/dist/models/$m" "$stage/$m" || exit 1   # it said why
done
[ ! -f "$work/package/LICENSE" ] || cp "$work/package/LICENSE" "$stage/nsfwjs-LICENSE"
cat > "$stage/SOURCE.txt" <<TXT
Trained feature networks for Atelier, unpacked by scripts/install-models.sh from the npm
package $PKG, version $VER, integrity $INTEGRITY.
Licence: MIT (nsfwjs-LICENSE, copyright Infinite Red, Inc.).
inception_v3 (299x299 input) and mobilenet_v2 (224x224) are Keras 2.2.4 ImageNet-pretrained
backbones (InceptionV3, MobileNetV2) fine-tuned by nsfwjs to a 5-class image classifier
(drawing, hentai, neutral, porn, sexy), stored as uint8-quantised TF.js layers models that
take RGB / 255 in [0, 1], NHWC. mobilenet_v2_mid is a TF.js graph model (not read by
Atelier). Converted from the package's UMD modules with tools/tfjs_unumd.js into the
standard TF.js layout (model.json + group1-shardKofN.bin).
TXT

# into place: the stamp goes first and comes back last, so a half-swapped set is never "installed"
rm -f "$stamp"
for m in $MODELS; do
  rm -rf "${dest:?}/$m"
  mv "$stage/$m" "$dest/$m"
done
[ ! -f "$stage/nsfwjs-LICENSE" ] || mv "$stage/nsfwjs-LICENSE" "$dest/nsfwjs-LICENSE"
mv "$stage/SOURCE.txt" "$dest/SOURCE.txt"
echo "$want" > "$stamp"
say "installed $MODELS in $dest"
