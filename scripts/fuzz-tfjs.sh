#!/bin/sh
# Fuzzes the TF.js model reader alone: scripts/fuzz.sh tfjs (see there).
# usage: scripts/fuzz-tfjs.sh [SECONDS]   (default 60)
FUZZ_SECONDS=${1:-60} exec sh "$(dirname "$0")/fuzz.sh" tfjs
