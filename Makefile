# The README's commands. The real build is CMake (CMakeLists.txt); this file only chains
# the set-up, the build and the run.
BUILD ?= build
JOBS ?= 2

.PHONY: all deps build demo test sanitize fuzz bench clean

all: build

deps:
	@sh scripts/install-deps.sh
	@sh scripts/install-models.sh || echo "make: the trained feature networks could not be installed: Atelier uses its built-in VGG-19 and the tests that need them skip" >&2

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

KIT ?= ../shared/data
demo: build
	@if [ -f $(KIT)/content/tubingen_neckarfront.jpg ] && ./$(BUILD)/atelier style-net show kit-styles >/dev/null 2>&1; then \
	  echo "stylize, fast: Tubingen in three styles of the built-in network kit-styles (about a second each)"; \
	  for s in vangogh_starry_night munch_the_scream seurat_grande_jatte; do \
	    ./$(BUILD)/atelier stylize $(KIT)/content/tubingen_neckarfront.jpg --model kit-styles -s $$s --size 1024 \
	      -o $(BUILD)/demo-fast-$$s.jpg || exit 1; \
	  done; \
	  ./$(BUILD)/atelier stylize $(KIT)/content/tubingen_neckarfront.jpg --model kit-styles \
	    --mix vangogh_starry_night:0.5,munch_the_scream:0.5 --size 1024 -o $(BUILD)/demo-fast-blend.jpg; \
	else echo "stylize, fast: the data kit or the built-in kit-styles network is absent: skipping"; fi
	./$(BUILD)/atelier demo --out $(BUILD)/demo-net.safetensors
	@if [ -f $(KIT)/content/tubingen_neckarfront.jpg ]; then \
	  echo "stylize, optimisation (the finest quality): Tubingen in the style of The Starry Night, default settings (the trained network when installed; a few minutes)"; \
	  ./$(BUILD)/atelier stylize $(KIT)/content/tubingen_neckarfront.jpg -s $(KIT)/style/vangogh_starry_night.jpg \
	    -o $(BUILD)/demo-stylized.png && echo "wrote $(BUILD)/demo-stylized.png"; \
	else echo "stylize: the data kit ($(KIT)) is absent: skipping the style-transfer demo"; fi
	@echo "gan: 16 new paintings from the built-in Monet generator, and a walk between two of them"
	./$(BUILD)/atelier gan sample monet64 -n 16 --seed 1 --grid $(BUILD)/demo-monet.png
	./$(BUILD)/atelier gan interpolate monet64 --from 3 --to 7 --frames 48 -o $(BUILD)/demo-monet-walk.gif
	@echo "wrote $(BUILD)/demo-monet.png and $(BUILD)/demo-monet-walk.gif"

test: build
	@sh scripts/run-tests.sh $(BUILD)

# The same tests under AddressSanitizer + UndefinedBehaviorSanitizer (the command tests,
# test_cli_*, on the default backend only: scripts/run-tests.sh, CLI_ONE_BACKEND).
sanitize: deps
	@cmake -S . -B build-asan -DATELIER_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j$(JOBS)
	@CLI_ONE_BACKEND=1 ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 sh scripts/run-tests.sh build-asan

# Every parser under libFuzzer + ASan + UBSan (scripts/fuzz.sh: clang; FUZZ_SECONDS per
# harness, default 180; fails on any crash, leak, out-of-memory or hang).
fuzz: deps
	@JOBS=$(JOBS) sh scripts/fuzz.sh

# Atelier against PyTorch on this machine, one row per workload (a few minutes; not a test).
bench: build
	@sh scripts/bench.sh $(BUILD)

clean:
	rm -rf $(BUILD) build-asan
