# cnn - build the library, the CLI, the examples and the tests.
#
#   make            build/libcnn.a, build/libcnn.so, build/cnn, examples
#   make test       build and run every test; the last line is "N passed, N failed"
#   make san        the same tests built with ASan + UBSan (and LSan) in build-san/
#   make fuzz       the file readers under libFuzzer for a few seconds each (build-fuzz/)
#   make OPENMP=0   build without OpenMP (one thread, portable core only)

CC      ?= cc
BUILD   ?= build
OPENMP  ?= 1
# -fvisibility=hidden: only CNN_API symbols leave the shared library.
CFLAGS  ?= -O2 -g
ALL_CFLAGS := $(CFLAGS) $(SAN) -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -fPIC -fvisibility=hidden \
           -Iinclude -MMD -MP
# POSIX (fsync, getopt) and aligned_alloc without GNU extensions.
CPPFLAGS += -D_POSIX_C_SOURCE=200809L
LDLIBS  += -lm
ALL_LDFLAGS := $(LDFLAGS) $(SAN)
ifeq ($(OPENMP),1)
ALL_CFLAGS  += -fopenmp
ALL_LDFLAGS += -fopenmp
endif
ifdef WERROR
ALL_CFLAGS  += -Werror
endif

# Optional dependencies, found automatically (set to 0 to build without):
# zlib reads .gz datasets; stb (libstb-dev) reads PNG/JPEG and writes PNG.
HAVE_ZLIB ?= $(shell printf '\043include <zlib.h>\n' | $(CC) -E - >/dev/null 2>&1 && echo 1 || echo 0)
HAVE_STB  ?= $(shell printf '\043include <stb/stb_image.h>\n' | $(CC) -E - >/dev/null 2>&1 && echo 1 || echo 0)
ifeq ($(HAVE_ZLIB),1)
CPPFLAGS += -DCNN_HAVE_ZLIB=1
LDLIBS   += -lz
endif
ifeq ($(HAVE_STB),1)
CPPFLAGS += -DCNN_HAVE_STB=1
LDLIBS   += -lstb
endif
# ONNX import: protobuf-c (libprotobuf-c-dev, protobuf-c-compiler) and
# onnx.proto (libonnx-dev), from which protoc-c generates the parser into
# $(BUILD)/gen at build time.
ONNX_PROTO ?= /usr/include/onnx/onnx.proto
HAVE_ONNX  ?= $(shell command -v protoc-c >/dev/null 2>&1 && test -f $(ONNX_PROTO) && \
                printf '\043include <protobuf-c/protobuf-c.h>\n' | $(CC) -E - >/dev/null 2>&1 && \
                echo 1 || echo 0)
ifeq ($(HAVE_ONNX),1)
CPPFLAGS += -DCNN_HAVE_ONNX=1 -I$(BUILD)/gen
LDLIBS   += -lprotobuf-c
GEN_OBJ  := $(BUILD)/gen/onnx.pb-c.o
endif
# Multi-process training (docs/distributed.md): MPI through its compiler
# wrapper (Debian's libopenmpi-dev). Only tools/dist.c sees mpi.h and only
# the cnn binary links MPI; the library never does.
HAVE_MPI ?= $(shell mpicc --showme:compile >/dev/null 2>&1 && echo 1 || echo 0)
ifeq ($(HAVE_MPI),1)
$(BUILD)/tools/dist.o: CPPFLAGS += -DCNN_HAVE_MPI=1 $(shell mpicc --showme:compile)
MPI_LIBS := $(shell mpicc --showme:link)
endif

LIB_SRC  := $(wildcard src/core/*.c src/kernels/*.c src/ops/*.c src/graph/*.c src/train/*.c \
                      src/models/*.c src/io/*.c src/data/*.c src/viz/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(GEN_OBJ)
TOOL_SRC := $(wildcard tools/*.c)
TOOL_OBJ := $(TOOL_SRC:%.c=$(BUILD)/%.o)
EX_SRC   := $(wildcard examples/*.c)
EX_BIN   := $(EX_SRC:examples/%.c=$(BUILD)/examples/%)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

all: $(BUILD)/libcnn.a $(BUILD)/libcnn.so $(BUILD)/cnn $(EX_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

# The inner loops of the portable kernels are written for the vectorizer.
$(BUILD)/src/kernels/%.o: ALL_CFLAGS += -O3
# GEMM variants: only these files get ISA flags, so the rest of the library
# runs on any x86-64; src/kernels/isa.c picks one at startup (CNN_ISA forces one).
ifneq ($(filter x86_64% i386% i486% i586% i686% amd64%,$(shell $(CC) -dumpmachine)),)
$(BUILD)/src/kernels/gemm_avx2.o: ALL_CFLAGS += -mavx2 -mfma
$(BUILD)/src/kernels/gemm_avx512.o: ALL_CFLAGS += -mavx512f -mavx2 -mfma
# The tests' emulation of the AVX-512 code (never picked for speed): -O1,
# as -O3 took GCC 1-3 minutes (10 under the sanitizers) on its 32-register tiles.
$(BUILD)/src/kernels/gemm_emu512.o: ALL_CFLAGS += -mavx2 -mfma -O1
endif
# Lets GCC compute both arms of a data-dependent select (leaky ReLU), so the
# loop vectorizes instead of branching; values are unchanged, only FP
# exception flags are not kept.
$(BUILD)/src/kernels/eltwise.o: ALL_CFLAGS += -fno-trapping-math

ifeq ($(HAVE_ONNX),1)
$(BUILD)/gen/onnx.pb-c.c: $(ONNX_PROTO)
	@mkdir -p $(dir $@)
	protoc-c --proto_path=$(dir $(ONNX_PROTO)) --c_out=$(dir $@) $(notdir $(ONNX_PROTO))
$(BUILD)/gen/onnx.pb-c.h: $(BUILD)/gen/onnx.pb-c.c ;
$(BUILD)/gen/onnx.pb-c.o: $(BUILD)/gen/onnx.pb-c.c
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@
# The importer includes the generated header.
$(filter $(BUILD)/src/io/onnx%.o,$(LIB_OBJ)): $(BUILD)/gen/onnx.pb-c.h
endif

$(BUILD)/libcnn.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/libcnn.so: $(LIB_OBJ)
	$(CC) -shared $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/cnn: $(TOOL_OBJ) $(BUILD)/libcnn.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS) $(MPI_LIBS)

$(BUILD)/examples/%: $(BUILD)/examples/%.o $(BUILD)/libcnn.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

# Tests see the private headers too (src/), to test kernels directly.
$(BUILD)/tests/%.o: ALL_CFLAGS += -Isrc -Itests
$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/libcnn.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

# The main job: train LeNet-5 on Fashion-MNIST for 3 epochs, then draw its
# pictures (runs/lenet5: checkpoints, metrics.csv, pictures/*.png).
run: all
	$(BUILD)/cnn train --model lenet5 --data fashion-mnist --epochs 3 --out runs/lenet5
	$(BUILD)/cnn viz runs/lenet5/best --out runs/lenet5/pictures

# Reference checks against PyTorch (tests/ref/*.py) run when python3-torch is
# installed (scripts/setup.sh --ref) and print a skip line otherwise.
TEST_REF := $(wildcard tests/ref/*.py)
# Command-line tests drive build/cnn as a user would.
TEST_SH  := $(wildcard tests/test_*.sh)

test: all $(TEST_BIN)
	@sh tests/run.sh $(BUILD) $(TEST_BIN) $(TEST_SH) $(TEST_REF)

# Sanitizers: a separate tree so the normal build is untouched.
san:
	$(MAKE) BUILD=build-san CFLAGS="-O1 -g -fno-omit-frame-pointer" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" test

# Fuzzing (docs/onnx.md): the libFuzzer targets of tests/fuzz/ (ONNX import,
# network descriptions, checkpoints) built with clang, ASan and UBSan in
# build-fuzz/ (the library instrumented for coverage; no OpenMP, whose clang
# runtime may be missing), each run FUZZ_TIME seconds from a seed corpus of
# the test files. Without clang's libFuzzer it prints a skip line.
FUZZ_CC   ?= clang
FUZZ_TIME ?= 10
FUZZ_BIN  := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))

fuzz:
	@if printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' | \
	    $(FUZZ_CC) -fsanitize=fuzzer -x c - -o /dev/null >/dev/null 2>&1; then \
	  $(MAKE) BUILD=build-fuzz CC=$(FUZZ_CC) OPENMP=0 CFLAGS="-O1 -g -fno-omit-frame-pointer" \
	    SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" \
	    fuzz-bin && sh tests/fuzz/run.sh build-fuzz $(FUZZ_TIME); \
	else echo "fuzz: skipped ($(FUZZ_CC) with libFuzzer not found: sh scripts/setup.sh --ref)"; fi

# The targets link libFuzzer, which brings main().
fuzz-bin: $(FUZZ_BIN)
$(BUILD)/fuzz/%: tests/fuzz/%.c $(BUILD)/libcnn.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/libcnn.a $(LDLIBS)

# Speed side by side with PyTorch and ONNX Runtime (bench/README.md).
bench:
	sh bench/compare.sh

clean:
	rm -rf build build-san build-fuzz

.PHONY: all run test san fuzz fuzz-bin bench clean
.SECONDARY:
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
