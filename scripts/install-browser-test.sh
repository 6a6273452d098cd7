#!/bin/sh
# Install what the browser test of the web page needs (tests/browser/stylize.mjs, run by
# test_cli_serve): Debian's chromium, nodejs and npm (apt-get, when missing; needs root or
# sudo) and playwright-core (npm ci: the version tests/browser/package-lock.json pins, into
# tests/browser/node_modules, which git ignores). playwright-core drives the system's
# chromium and downloads no browser, so the network used is the Debian mirror and the npm
# registry, nothing else. Run again, it changes nothing and takes a second.
# playwright-core is pinned to 1.61.1, the last release that runs on Debian 12's nodejs
# (18); 1.62 and later need node 20.
# Optional outside CI: without these test_cli_serve skips its browser case and says so;
# .ci/run sets ATELIER_REQUIRE_BROWSER=1, which makes a missing browser a failure.
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
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)'; then
  echo "install-browser-test: node $(node --version) is too old: playwright-core needs 18 or newer" >&2
  exit 1
fi
# playwright-core, unless the pinned version is there already
lock=tests/browser/package-lock.json
want=$(node -p "require('./$lock').packages['node_modules/playwright-core'].version")
have=$(node -p "try { require('./tests/browser/node_modules/playwright-core/package.json').version } catch (e) { '' }")
if [ "$want" != "$have" ]; then
  echo "install-browser-test: installing playwright-core $want (npm)" >&2
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "install-browser-test: ready ($(chromium --version 2>/dev/null | head -n 1), node $(node --version), playwright-core $want)"
