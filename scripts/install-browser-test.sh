#!/bin/sh
# Install what the browser test of the web page needs (tests/browser/stylize.mjs, run by
# test_cli_serve): Debian's chromium and nodejs (apt-get, when missing; needs root or
# sudo) and playwright-core (npm, into tests/browser/node_modules, which git ignores).
# Optional: without them test_cli_serve skips its browser case and says so.
set -e
cd "$(dirname "$0")/.."
missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -n "$missing" ]; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo
    else echo "install-browser-test: missing:$missing; run as root: apt-get install$missing" >&2; exit 1
    fi
  fi
  echo "install-browser-test: installing$missing" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
# playwright-core only: it drives the system's chromium and downloads no browser.
(cd tests/browser && npm install --no-audit --no-fund --loglevel=error)
echo "install-browser-test: ready ($(chromium --version 2>/dev/null | head -n 1), playwright-core $(node -p "require('./tests/browser/node_modules/playwright-core/package.json').version"))"
