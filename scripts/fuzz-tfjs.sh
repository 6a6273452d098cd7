#!/bin/sh
# Coverage-guided fuzzing of the TF.js model reader (tests/fuzz/fuzz_tfjs.c) with libFuzzer,
# AddressSanitizer and UndefinedBehaviorSanitizer, on the reference backend.
# usage: scripts/fuzz-tfjs.sh [SECONDS]   (default 60; the corpus is kept in build-fuzz/corpus)
# Needs clang (Debian: clang, libclang-rt-14-dev), installed here if missing.
set -eu
secs=${1:-60}
here=$(cd "$(dirname "$0")/.." && pwd)
out=$here/build-fuzz
command -v clang >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev >/dev/null; }
mkdir -p "$out/corpus"
srcs=$(ls "$here"/src/*.c "$here"/src/ref/*.c "$here"/src/tfjs/*.c)
# the seeds: the tiny test model and a one-layer model
[ -f "$here/tests/fixtures/tfjs_tiny/model.json" ] && cp "$here/tests/fixtures/tfjs_tiny/model.json" "$out/corpus/tiny.json"
printf '%s' '{"modelTopology": {"model_config": {"class_name": "Model", "config": {"layers": [{"name": "in", "class_name": "InputLayer", "config": {"batch_input_shape": [null, 8, 8, 3]}, "inbound_nodes": []}, {"name": "c", "class_name": "Conv2D", "config": {"filters": 2, "kernel_size": [3, 3], "strides": [2, 2], "padding": "same", "use_bias": false}, "inbound_nodes": [[["in", 0, 0, {}]]]}], "output_layers": [["c", 0, 0]]}}}, "weightsManifest": [{"paths": ["w.bin"], "weights": [{"name": "c/kernel", "shape": [3, 3, 3, 2], "dtype": "float32", "quantization": {"dtype": "uint8", "min": -1, "scale": 0.01}}]}]}' > "$out/corpus/one.json"
if [ ! -x "$out/fuzz_tfjs" ] || [ -n "$(find "$here/src" "$here/tests/fuzz" -newer "$out/fuzz_tfjs" -name '*.[ch]' | head -n 1)" ]; then
  echo "fuzz-tfjs: building (clang, ASan + UBSan + libFuzzer)" >&2
  # shellcheck disable=SC2086
  clang -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -std=c11 -D_POSIX_C_SOURCE=200809L \
    -DATELIER_VERSION='"fuzz"' -I"$here/include" -I"$here/src" $srcs "$here/tests/fuzz/fuzz_tfjs.c" -o "$out/fuzz_tfjs" \
    -lm -lpng -ljpeg -lwebpmux -lwebpdemux -lwebp -lmicrohttpd -lsqlite3 -lpthread \
    -DATELIER_PAGE_PATH="\"$here/src/web/index.html\""
fi
ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 "$out/fuzz_tfjs" -max_total_time="$secs" -rss_limit_mb=2048 \
  -max_len=65536 -timeout=10 "$out/corpus" 2>&1 | tail -n 15
