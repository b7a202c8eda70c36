# kubeling build: dev (glibc, debug), asan (tests), static (musl, release) for x86_64/aarch64/armv7.
#
#   make                     dev build: build/dev/kubeling
#   make test                deps, ASan+UBSan unit tests, static builds, e2e tests, one summary line
#   make static [ARCH=...]   release build: build/static-$(ARCH)/kubeling (x86_64, aarch64, armv7)
#   make run                 dev build, then `kubeling server` with a local data dir
#   make deps                apt-get every build and test dependency (idempotent)
#   make bench [BENCH=name]  optimized benchmarks, side by side with their peers
#   make format | lint | clean

SHELL := /bin/bash
ARCH ?= x86_64
FLAVOR ?= dev
export KUBELING_CACHE ?= $(HOME)/.cache/kubeling

ARCHES := x86_64 aarch64 armv7
VERSION := $(shell cat VERSION)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
GIT_COMMIT := $(shell c=$$(git rev-parse --short=12 HEAD 2>/dev/null) || c=unknown; \
	git diff --quiet HEAD -- 2>/dev/null || c=$$c-dirty; echo $$c)
BUILD_DATE := $(shell date -u -d @$(SOURCE_DATE_EPOCH) +%Y-%m-%dT%H:%M:%SZ)

# ---- flavors ---------------------------------------------------------------------------------
WARN := -std=c11 -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral \
	-Wstrict-prototypes -Wmissing-prototypes -Wvla
CPPFLAGS_COMMON := -D_GNU_SOURCE -Ipkg -Icmd/kubeling -ffile-prefix-map=$(CURDIR)/=

ifeq ($(FLAVOR),dev)
  OUT := build/dev
  SYSROOT_ARCH := host
  CC := gcc
  OPT := -O0 -g3
  LDLIBS_SYS := -lpthread -ldl -lm
else ifeq ($(FLAVOR),asan)
  OUT := build/asan
  SYSROOT_ARCH := host
  CC := gcc
  OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
  LDFLAGS_FLAVOR := -fsanitize=address,undefined
  LDLIBS_SYS := -lpthread -ldl -lm
else ifeq ($(FLAVOR),fuzz)
  OUT := build/fuzz
  SYSROOT_ARCH := host
  CC := clang
  OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined
  LDFLAGS_FLAVOR := -fsanitize=fuzzer,address,undefined
  LDLIBS_SYS := -lpthread -ldl -lm
else ifeq ($(FLAVOR),bench)
  OUT := build/bench
  SYSROOT_ARCH := host
  CC := gcc
  OPT := -O2 -g
  LDLIBS_SYS := -lpthread -ldl -lm
else ifeq ($(FLAVOR),static)
  OUT ?= build/static-$(ARCH)
  SYSROOT_ARCH := $(ARCH)
  CC_x86_64 := x86_64-linux-musl-gcc
  CC_aarch64 := aarch64-linux-musl-gcc
  CC_armv7 := arm-linux-musleabihf-gcc
  CC := $(CC_$(ARCH))
  OPT := -Os -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables
  LDFLAGS_FLAVOR := -static -s -Wl,--gc-sections -Wl,--build-id=sha1
  # mimalloc replaces musl's malloc in the release build only (docs/third_party.md)
  LDLIBS_SYS := build/sysroot-$(ARCH)/lib/libmimalloc.a -lpthread -lm
else
  $(error unknown FLAVOR $(FLAVOR))
endif

SYSROOT := build/sysroot-$(SYSROOT_ARCH)
CFLAGS := $(WARN) $(OPT) $(EXTRA_CFLAGS)
CPPFLAGS := $(CPPFLAGS_COMMON) -isystem $(SYSROOT)/include -I$(OUT)/gen
DEPLIBS := $(SYSROOT)/lib/libllhttp.a $(SYSROOT)/lib/libcjson.a $(SYSROOT)/lib/libuv.a \
	$(SYSROOT)/lib/libmbedtls.a $(SYSROOT)/lib/libmbedx509.a $(SYSROOT)/lib/libmbedcrypto.a \
	$(SYSROOT)/lib/libsqlite3.a $(SYSROOT)/lib/libz.a $(SYSROOT)/lib/libk8sschema.a \
	$(SYSROOT)/lib/libk8sproto.a

PKG_SRCS := $(sort $(wildcard pkg/*/*.c))
CMD_SRCS := $(sort $(wildcard cmd/kubeling/*.c))
PKG_OBJS := $(PKG_SRCS:%.c=$(OUT)/obj/%.o)
CMD_OBJS := $(CMD_SRCS:%.c=$(OUT)/obj/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_HELPERS := $(filter-out $(UNIT_SRCS),$(sort $(wildcard tests/unit/*.c)))
E2E_HELPER_BINS := $(patsubst tests/e2e/helpers/%.c,$(OUT)/tests/helpers/%,$(wildcard tests/e2e/helpers/*.c))
BENCH_BINS := $(patsubst bench/%.c,$(OUT)/bench/%,$(wildcard bench/*/*.c))
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(OUT)/fuzz/%,$(wildcard tests/fuzz/*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(OUT)/tests/%)

.PHONY: all dev asan static static-all test run deps format format-check lint clean \
	kubeling unit-tests bench-bins bench fuzz fuzz-bins sysroot FORCE
.DEFAULT_GOAL := all

all:
	@$(MAKE) --no-print-directory FLAVOR=dev kubeling

asan:
	@$(MAKE) --no-print-directory FLAVOR=asan kubeling unit-tests

static:
	@$(MAKE) --no-print-directory FLAVOR=static ARCH=$(ARCH) kubeling
	@ls -l build/static-$(ARCH)/kubeling | awk '{print "static $(ARCH): " $$5 " bytes"}'

# Benchmarks: optimized glibc build of bench/ programs, then bench/run.sh (see docs/benchmarks.md).
bench: deps
	@third_party/install-deps.sh bench/deps.txt
	@$(MAKE) --no-print-directory FLAVOR=bench bench-bins
	@bench/run.sh $(BENCH)

# Longer fuzzing on demand: make fuzz FUZZ_SECONDS=600
fuzz: deps
	@$(MAKE) --no-print-directory FLAVOR=fuzz fuzz-bins
	@KUBELING_FUZZ_SECONDS=$(or $(FUZZ_SECONDS),300) tests/run.sh fuzz

static-all:
	@for a in $(ARCHES); do $(MAKE) --no-print-directory static ARCH=$$a || exit 1; done

# ---- the flavor's own rules ------------------------------------------------------------------
kubeling: $(OUT)/kubeling
unit-tests: $(UNIT_BINS) $(E2E_HELPER_BINS)
bench-bins: $(BENCH_BINS)
fuzz-bins: $(FUZZ_BINS)

# Sysroots are built by third_party/build.sh and cached outside the clone, keyed by recipes.
$(SYSROOT)/.complete: third_party/build.sh $(wildcard third_party/*.sh third_party/*/*)
	@third_party/build.sh $(SYSROOT_ARCH) $(SYSROOT)
sysroot: $(SYSROOT)/.complete

$(OUT)/gen/buildinfo.h: FORCE
	@mkdir -p $(@D)
	@printf '#define KUBELING_VERSION "%s"\n#define KUBELING_GIT_COMMIT "%s"\n#define KUBELING_BUILD_DATE "%s"\n' \
		'$(VERSION)' '$(GIT_COMMIT)' '$(BUILD_DATE)' > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@

$(OUT)/obj/%.o: %.c $(SYSROOT)/.complete | $(OUT)/gen/buildinfo.h
	@mkdir -p $(@D)
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(OUT)/obj/cmd/kubeling/role_version.o $(OUT)/obj/cmd/kubeling/role_server.o \
	$(OUT)/obj/cmd/kubeling/role_agent.o: $(OUT)/gen/buildinfo.h

$(OUT)/libkubeling.a: $(PKG_OBJS)
	@rm -f $@
	@ar rcsD $@ $^

$(OUT)/kubeling: $(CMD_OBJS) $(OUT)/libkubeling.a
	@echo "  LD      $@"
	@$(CC) $(CFLAGS) $(LDFLAGS_FLAVOR) -o $@ $(CMD_OBJS) $(OUT)/libkubeling.a $(DEPLIBS) $(LDLIBS_SYS)

$(OUT)/tests/%: tests/unit/%.c $(UNIT_HELPERS) $(wildcard tests/unit/*.h) $(OUT)/libkubeling.a
	@mkdir -p $(@D)
	@echo "  TEST-CC $<"
	@$(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) $(LDFLAGS_FLAVOR) -o $@ $< $(UNIT_HELPERS) \
		$(OUT)/libkubeling.a \
		$(DEPLIBS) -lcmocka $(LDLIBS_SYS)

# Programs that drive a component for e2e tests and benchmarks (not part of the product).
$(OUT)/tests/helpers/%: tests/e2e/helpers/%.c $(OUT)/libkubeling.a
	@mkdir -p $(@D)
	@echo "  HELPER  $<"
	@$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS_FLAVOR) -o $@ $< $(OUT)/libkubeling.a $(DEPLIBS) $(LDLIBS_SYS)

# libFuzzer targets (FLAVOR=fuzz, clang); tests/run.sh runs each briefly, `make fuzz` longer.
$(OUT)/fuzz/%: tests/fuzz/%.c $(OUT)/libkubeling.a
	@mkdir -p $(@D)
	@echo "  FUZZ    $<"
	@$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS_FLAVOR) -o $@ $< $(OUT)/libkubeling.a $(DEPLIBS) $(LDLIBS_SYS)

$(OUT)/bench/%: bench/%.c $(OUT)/libkubeling.a
	@mkdir -p $(@D)
	@echo "  BENCH   $<"
	@$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS_FLAVOR) -o $@ $< $(OUT)/libkubeling.a $(DEPLIBS) $(LDLIBS_SYS)

-include $(PKG_OBJS:.o=.d) $(CMD_OBJS:.o=.d)

# ---- top-level workflows ---------------------------------------------------------------------
deps:
	@third_party/install-deps.sh third_party/deps.txt tests/deps.txt

test: deps
	@$(MAKE) --no-print-directory format-check
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory asan
	@$(MAKE) --no-print-directory FLAVOR=fuzz fuzz-bins
	@$(MAKE) --no-print-directory static-all
	@tests/run.sh

run: deps all
	@mkdir -p build/run-data
	build/dev/kubeling server --data-dir $(CURDIR)/build/run-data --write-kubeconfig ""

C_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null; git ls-files -o --exclude-standard '*.c' '*.h' 2>/dev/null)

format:
	@clang-format -i $(C_FILES)

format-check:
	@clang-format --dry-run --Werror $(C_FILES) && echo "format: ok"

lint:
	@cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--std=c11 --inline-suppr --suppress=missingIncludeSystem -D__GNUC__ \
		--library=.cppcheck.cfg \
		-Ipkg -Icmd/kubeling pkg cmd && echo "lint: ok"

clean:
	rm -rf build
