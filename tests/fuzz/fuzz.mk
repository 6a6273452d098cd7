# fuzz.mk: builds the libFuzzer harnesses (tests/fuzz/fuzz_NAME.c) into $(OUT)/fuzz_NAME,
# with clang, AddressSanitizer and UndefinedBehaviorSanitizer, on the reference backend.
# The library is compiled once into $(OUT)/libatelier.a (-fsanitize=fuzzer-no-link: coverage
# without libFuzzer's main); only what changed is rebuilt (-MMD header dependencies).
# Run from the repository root by scripts/fuzz.sh: make -f tests/fuzz/fuzz.mk OUT=build-fuzz
OUT ?= build-fuzz
CC = clang
SAN = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
CFLAGS = -O1 -g $(SAN) -std=c11 -Wall -Wextra -Wno-unused-parameter -D_POSIX_C_SOURCE=200809L \
         -DATELIER_VERSION='"fuzz"' -Iinclude -Isrc -MMD -MP
LIBS = -lm -lpng -ljpeg -lwebpmux -lwebpdemux -lwebp -lmicrohttpd -lsqlite3 -lpthread

# (the job store without PostgreSQL, training without MPI: as CMake builds them without
# libpq and OpenMPI)
SRC = $(wildcard src/*.c src/ref/*.c src/tfjs/*.c src/stylenet/*.c) src/pg/jobs_pg_none.c src/dist/dist.c \
      src/dist/dist_mpi_none.c
OBJ = $(SRC:%.c=$(OUT)/obj/%.o)
HARNESSES = $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))

all: $(HARNESSES:%=$(OUT)/fuzz_%)

$(OUT)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

# The page is assembled into the program (.incbin), as CMake does it.
$(OUT)/obj/src/serve_page.o: CFLAGS += -DATELIER_PAGE_PATH='"$(CURDIR)/src/web/index.html"'
$(OUT)/obj/src/serve_page.o: src/web/index.html

$(OUT)/libatelier.a: $(OBJ)
	@rm -f $@
	ar rcs $@ $^

# The service's harnesses share the driver.
$(OUT)/fuzz_http $(OUT)/fuzz_multipart: $(OUT)/obj/tests/fuzz/serve_driver.o

$(OUT)/fuzz_%: $(OUT)/obj/tests/fuzz/fuzz_%.o $(OUT)/libatelier.a
	$(CC) $(SAN) -fsanitize=fuzzer $(filter %.o,$^) $(OUT)/libatelier.a $(LIBS) -o $@

.PHONY: all
.SECONDARY:
-include $(OBJ:.o=.d) $(wildcard $(OUT)/obj/tests/fuzz/*.d)
