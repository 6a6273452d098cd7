#!/bin/sh
# Installs the trained feature networks (InceptionV3 and MobileNetV2, TF.js format) from the
# npm package nsfwjs 4.4.0 (MIT licence): ImageNet-pretrained Keras backbones fine-tuned by
# nsfwjs to a 5-class image classifier; Atelier uses their convolutional features. Pinned
# version and integrity hash; nothing is downloaded at run time, only here.
# usage: scripts/install-models.sh [DEST]
#   DEST: $ATELIER_MODELS' first folder, else ${XDG_DATA_HOME:-~/.local/share}/atelier/models
#   ATELIER_SKIP_MODELS=1 skips (Atelier then uses its built-in random VGG-19).
set -eu
PKG=nsfwjs
VER=4.4.0
INTEGRITY=sha512-krC1fgeTLXtZwgdpKJ0jm7hqv0gTSRQQRL+FhOaxaJ9Wj92t42BO3csO2odwgTAgZgf2RvkwPtp0R8Aa7dc+MA==
here=$(cd "$(dirname "$0")/.." && pwd)
if [ "${ATELIER_SKIP_MODELS:-}" = 1 ]; then echo "install-models: skipped (ATELIER_SKIP_MODELS=1)" >&2; exit 0; fi
if [ $# -ge 1 ]; then dest=$1
elif [ -n "${ATELIER_MODELS:-}" ]; then dest=${ATELIER_MODELS%%:*}
else dest=${XDG_DATA_HOME:-$HOME/.local/share}/atelier/models; fi
stamp="$dest/.installed-$PKG-$VER"
if [ -f "$stamp" ] && [ -f "$dest/inception_v3/model.json" ] && [ -f "$dest/mobilenet_v2/model.json" ]; then exit 0; fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "install-models: installing nodejs and npm (Debian) to unpack the networks" >&2
  sudo=""; [ "$(id -u)" != 0 ] && sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "install-models: fetching $PKG@$VER (the trained InceptionV3 and MobileNetV2, ~30 MB) into $dest" >&2
(cd "$work" && npm pack --silent "$PKG@$VER" >/dev/null 2>"$work/npm.err") || {
  echo "install-models: npm pack $PKG@$VER failed: $(tail -n 1 "$work/npm.err")" >&2; exit 1; }
tgz="$work/$PKG-$VER.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tgz" 2>/dev/null | base64 -w0 || node -e "process.stdout.write(require('crypto').createHash('sha512').update(require('fs').readFileSync(process.argv[1])).digest('base64'))" "$tgz")"
if [ "$got" != "$INTEGRITY" ]; then echo "install-models: $PKG-$VER.tgz has integrity $got, want $INTEGRITY: refused" >&2; exit 1; fi
tar -xzf "$tgz" -C "$work"
mkdir -p "$dest"
for m in inception_v3 mobilenet_v2 mobilenet_v2_mid; do
  node "$here/tools/tfjs_unumd.js" "$work/package/dist/models/$m" "$dest/$m"
done
[ -f "$work/package/LICENSE" ] && cp "$work/package/LICENSE" "$dest/nsfwjs-LICENSE"
cat > "$dest/SOURCE.txt" <<TXT
Trained feature networks for Atelier, unpacked from the npm package $PKG@$VER ($INTEGRITY),
licence MIT (nsfwjs-LICENSE). inception_v3 (299x299) and mobilenet_v2 (224x224) are Keras
ImageNet-pretrained backbones fine-tuned by nsfwjs to a 5-class image classifier, stored as
uint8-quantised TF.js layers models; mobilenet_v2_mid is a TF.js graph model (not read by
Atelier). Converted with tools/tfjs_unumd.js (standard TF.js model.json + .bin shards).
TXT
touch "$stamp"
echo "install-models: installed inception_v3, mobilenet_v2 in $dest" >&2
