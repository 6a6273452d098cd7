#!/bin/sh
# Install the Debian 12 packages Atelier needs to build and test, if any are missing.
# Called by `make demo` and `make test`, so a fresh machine (or CI) needs nothing else.
# Runs apt-get only when something is missing; needs root (or sudo) then.
set -e
PKGS="gcc g++ make cmake libc6-dev libdnnl-dev libopenblas-openmp-dev libpng-dev libjpeg62-turbo-dev libwebp-dev libmicrohttpd-dev libsqlite3-dev libopencv-video-dev libavformat-dev libavcodec-dev libswscale-dev libswresample-dev libavutil-dev libpq-dev postgresql curl libopenmpi-dev openmpi-bin"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing$missing" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo
  else echo "install-deps: missing packages:$missing; run as root: apt-get install$missing" >&2; exit 1
  fi
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
