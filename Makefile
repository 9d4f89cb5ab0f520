# chatmail-operator: one non-recursive build.
#
# Every program directory has a module.mk that appends its name to PROGRAMS
# and sets <prog>_DIR, <prog>_SRCS (all its .c files, main.c included),
# <prog>_INC (include directories besides its own <prog>_DIR: no program
# sees another's headers unless it names them), <prog>_LIBS (the static libraries it links
# besides libcm.a, e.g. $(LIBRELAY)), <prog>_LDLIBS and <prog>_TESTDIR.
# Everything except main.o goes into lib<prog>.a, which the program's
# unit tests (tests/unit/..., one cmocka binary per test_*.c) and fuzz
# targets (tests/fuzz/<prog>/) link against.  Two shared libraries:
# services/lib is libcm.a, linked by every program; relay/ is
# librelay.a (the relay model, renderers and web content), linked by the
# operator, relay-render and their tests (relay/module.mk).
#
#   make                      build everything into build/ (binaries in build/bin)
#   make SAN=address,undefined  the same with sanitizers, into build/san
#   make FUZZ=1               clang + libFuzzer instrumentation, into build/fuzz
#   make FUZZ=cov             the same with source-based coverage (llvm-cov),
#                             no sanitizers, into build/fuzzcov
#   make FUZZ=afl             afl-clang-fast (AFL++), into build/afl
#   make CI=true              warnings are errors

.DEFAULT_GOAL := all
SHELL := /bin/bash
TOP := $(CURDIR)

# make ARCH=arm64: cross-compile with Debian's aarch64 toolchain
# (gcc-aarch64-linux-gnu) against the :arm64 -dev packages, into
# build/arm64; `make ARCH=arm64 unit` runs the tests under
# qemu-aarch64-static (docs/DESIGN.md, Releases)
ifeq ($(ARCH),arm64)
BUILD ?= build/arm64
CC := aarch64-linux-gnu-gcc
PKG_CONFIG := PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig pkg-config
TEST_WRAPPER ?= qemu-aarch64-static
export TEST_WRAPPER
endif

ifeq ($(FUZZ),cov)
BUILD ?= build/fuzzcov
CC := clang
else ifeq ($(FUZZ),afl)
BUILD ?= build/afl
CC := afl-clang-fast
else ifdef FUZZ
BUILD ?= build/fuzz
CC := clang
else ifdef SAN
BUILD ?= build/san
else
BUILD ?= build
endif

CC ?= cc
PKG_CONFIG ?= pkg-config
PKGS := libcurl libcjson openssl cmocka
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Wpedantic -Wformat=2 -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wvla -Wcast-qual -Wwrite-strings \
	-Wimplicit-fallthrough
HARDEN := -D_FORTIFY_SOURCE=3 -fstack-protector-strong -fPIE
CFLAGS ?= -O2 -g
CPPFLAGS += -std=c11 -D_DEFAULT_SOURCE -Iservices/lib
# MOD_INC: the include directories of the module an object belongs to
ALL_CFLAGS = $(CPPFLAGS) $(MOD_INC) $(CFLAGS) $(WARN) $(HARDEN) $(PKG_CFLAGS) $(XCFLAGS)
LDFLAGS += -pie -Wl,-z,relro,-z,now
ifeq ($(CI),true)
WARN += -Werror
endif
ifdef SAN
# fortify and the sanitizers disagree on some intercepted calls
HARDEN := -fstack-protector-strong -fPIE
XCFLAGS += -fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SAN)
endif
ifeq ($(FUZZ),cov)
# coverage of a corpus: every input run once, counted by llvm-cov
HARDEN := -fPIE
CFLAGS := -O1 -g
XCFLAGS += -fsanitize=fuzzer-no-link -fprofile-instr-generate \
	-fcoverage-mapping -DFUZZING
LDFLAGS += -fsanitize=fuzzer -fprofile-instr-generate
else ifdef FUZZ
# libFuzzer, or AFL++'s driver (afl-clang-fast maps -fsanitize=fuzzer to
# it); undefined behaviour aborts, so the fuzzer counts it as a crash
HARDEN := -fPIE
CFLAGS := -O1 -g
XCFLAGS += -fsanitize=fuzzer-no-link,address,undefined \
	-fno-sanitize-recover=undefined -DFUZZING
LDFLAGS += -fsanitize=fuzzer,address,undefined
endif
ifdef COVERAGE
XCFLAGS += --coverage
LDFLAGS += --coverage
endif

LIBCM := $(BUILD)/lib/libcm.a
LIBCM_LDLIBS = $(shell $(PKG_CONFIG) --libs libcjson openssl) -lcrypt -lm
# libcm's curlloop.o needs libcurl: the programs that use it (the
# operator, chatmail-metadata) name it in their LDLIBS, libcm's tests here
CURL_LDLIBS = $(shell $(PKG_CONFIG) --libs libcurl)
CMOCKA_LIBS = $(shell $(PKG_CONFIG) --libs cmocka)

PROGRAMS :=
UNIT_TESTS :=
FUZZ_TARGETS :=
MODULES := $(sort $(wildcard services/*/module.mk operator/module.mk))
include relay/module.mk
include $(MODULES)
include dovecot/module.mk

# program(name): objects, lib<name>.a, the binary, unit tests, fuzz targets
define program
$(1)_OBJS := $$(patsubst %.c,$$(BUILD)/obj/%.o,$$($(1)_SRCS))
$(1)_MAIN := $$(BUILD)/obj/$$($(1)_DIR)/main.o
$(1)_LIBA := $$(BUILD)/lib/lib$(1).a
$(1)_IFLAGS := $$(addprefix -I,$$($(1)_DIR) $$($(1)_INC))
$$($(1)_OBJS): MOD_INC := $$($(1)_IFLAGS)
$$($(1)_LIBA): $$(filter-out $$($(1)_MAIN),$$($(1)_OBJS))
	@mkdir -p $$(@D)
	@rm -f $$@
	ar rcs $$@ $$^
$$(BUILD)/bin/$(1): $$($(1)_MAIN) $$($(1)_LIBA) $$($(1)_LIBS) $$(LIBCM)
	@mkdir -p $$(@D)
	$$(CC) $$(ALL_CFLAGS) $$(LDFLAGS) -o $$@ $$^ $$($(1)_LDLIBS) $$(LIBCM_LDLIBS)
$(1)_TESTS := $$(patsubst %.c,$$(BUILD)/%,$$(shell find $$($(1)_TESTDIR) -name 'test_*.c' 2>/dev/null | sort))
$$($(1)_TESTS): $$(BUILD)/%: %.c $$($(1)_LIBA) $$($(1)_LIBS) $$(LIBCM)
	@mkdir -p $$(@D)
	$$(CC) $$(ALL_CFLAGS) $$($(1)_IFLAGS) -Itests/unit -MMD -MP $$(LDFLAGS) -o $$@ $$< $$($(1)_LIBA) $$($(1)_LIBS) $$(LIBCM) $$($(1)_LDLIBS) $$(LIBCM_LDLIBS) $$(CMOCKA_LIBS)
UNIT_TESTS += $$($(1)_TESTS)
$(1)_FUZZ := $$(patsubst %.c,$$(BUILD)/%,$$(wildcard tests/fuzz/$(1)/fuzz_*.c))
$$($(1)_FUZZ): $$(BUILD)/%: %.c $$($(1)_LIBA) $$($(1)_LIBS) $$(LIBCM)
	@mkdir -p $$(@D)
	$$(CC) $$(ALL_CFLAGS) $$($(1)_IFLAGS) $$(LDFLAGS) -o $$@ $$< $$($(1)_LIBA) $$($(1)_LIBS) $$(LIBCM) $$($(1)_LDLIBS) $$(LIBCM_LDLIBS)
FUZZ_TARGETS += $$($(1)_FUZZ)
endef
$(foreach p,$(PROGRAMS),$(eval $(call program,$(p))))

# services/lib: libcm.a, its unit tests and fuzz targets
LIBCM_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIBCM_SRCS))
$(LIBCM): $(LIBCM_OBJS)
	@mkdir -p $(@D)
	@rm -f $@
	ar rcs $@ $^
LIBCM_TESTS := $(patsubst %.c,$(BUILD)/%,$(sort $(wildcard tests/unit/services/lib/test_*.c)))
$(LIBCM_TESTS): $(BUILD)/%: %.c $(LIBCM) tests/unit/testutil.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests/unit -MMD -MP $(LDFLAGS) -o $@ $< $(LIBCM) $(LIBCM_LDLIBS) $(CURL_LDLIBS) $(CMOCKA_LIBS)
UNIT_TESTS += $(LIBCM_TESTS)
LIBCM_FUZZ := $(patsubst %.c,$(BUILD)/%,$(wildcard tests/fuzz/lib/fuzz_*.c))
$(LIBCM_FUZZ): $(BUILD)/%: %.c $(LIBCM)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIBCM) $(LIBCM_LDLIBS)
FUZZ_TARGETS += $(LIBCM_FUZZ)

# relay/: librelay.a, its unit tests (tests/unit/relay) and fuzz targets
# (tests/fuzz/relay); its objects see only relay/ and services/lib
LIBRELAY_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIBRELAY_SRCS))
$(LIBRELAY_OBJS): MOD_INC := -Irelay
$(LIBRELAY): $(LIBRELAY_OBJS)
	@mkdir -p $(@D)
	@rm -f $@
	ar rcs $@ $^
LIBRELAY_TESTS := $(patsubst %.c,$(BUILD)/%,$(shell find tests/unit/relay -name 'test_*.c' 2>/dev/null | sort))
$(LIBRELAY_TESTS): $(BUILD)/%: %.c $(LIBRELAY) $(LIBCM)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Irelay -Itests/unit -MMD -MP $(LDFLAGS) -o $@ $< $(LIBRELAY) $(LIBCM) $(LIBRELAY_LDLIBS) $(LIBCM_LDLIBS) $(CMOCKA_LIBS)
UNIT_TESTS += $(LIBRELAY_TESTS)
LIBRELAY_FUZZ := $(patsubst %.c,$(BUILD)/%,$(wildcard tests/fuzz/relay/fuzz_*.c))
$(LIBRELAY_FUZZ): $(BUILD)/%: %.c $(LIBRELAY) $(LIBCM)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Irelay $(LDFLAGS) -o $@ $< $(LIBRELAY) $(LIBCM) $(LIBRELAY_LDLIBS) $(LIBCM_LDLIBS)
FUZZ_TARGETS += $(LIBRELAY_FUZZ)

# operator/images.c embeds images/images.env with .incbin
$(BUILD)/obj/operator/images.o: images/images.env

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

# a program whose main.c does not exist yet builds its library and tests only
BINS := $(foreach p,$(PROGRAMS),$(if $(wildcard $($(p)_DIR)/main.c),$(BUILD)/bin/$(p)))

# dependency files of objects and of test binaries (their headers)
-include $(shell find $(BUILD)/obj $(BUILD)/tests -name '*.d' 2>/dev/null)

PHONY_FUZZ := fuzzcov-bins afl-bins _afl-bins fuzz-campaign
.PHONY: all bins unit-bins unit fuzz-bins fuzz $(PHONY_FUZZ) lint test deps clean bench \
	integration e2e images chart demo demo-down crd soak

all: bins unit-bins dovecot-plugins
bins: $(BINS)
unit-bins: $(UNIT_TESTS)

# unit: every cmocka binary, counted by tests/run.sh
UNIT_TIER := $(if $(SAN),unit-san,unit)$(if $(filter arm64,$(ARCH)),-arm64)
unit: unit-bins
	tests/run.sh --tier $(UNIT_TIER) $(UNIT_TESTS)

fuzz-bins:
	$(MAKE) FUZZ=1 _fuzz-bins
_fuzz-bins: $(FUZZ_TARGETS)
FUZZ_SECONDS ?= 60
fuzz: fuzz-bins
	hack/fuzz.sh $(FUZZ_SECONDS)

# fuzz-campaign: every target for CAMPAIGN_RUNS executions or
# CAMPAIGN_SECONDS, AFL++ on the network parsers, coverage of the
# corpus (hack/fuzz-campaign.sh; knobs there)
AFL_FUZZ_NAMES := fuzz_smtp_cmd fuzz_mime fuzz_pgp fuzz_dkim fuzz_dkim_dns \
	fuzz_http fuzz_dict fuzz_watch
fuzzcov-bins:
	$(MAKE) FUZZ=cov _fuzz-bins
afl-bins:
	$(MAKE) FUZZ=afl _afl-bins
_afl-bins: $(filter $(addprefix %/,$(AFL_FUZZ_NAMES)),$(FUZZ_TARGETS))
fuzz-campaign: fuzz-bins fuzzcov-bins afl-bins
	hack/fuzz-campaign.sh

lint:
	hack/lint.sh

# crd: the ChatmailRelay CRD generated from the spec field and option
# tables (chatmail-operator crd) into crds/ and the chart's copy
CRD_FILE := crds/chatmail.at_chatmailrelays.yaml
crd: $(BUILD)/bin/chatmail-operator
	$(BUILD)/bin/chatmail-operator crd >$(CRD_FILE).tmp
	mv $(CRD_FILE).tmp $(CRD_FILE)
	hack/chart.sh sync

deps:
	hack/deps.sh

# test: every tier, one summary line at the end (hack/test-all.sh)
test:
	hack/test-all.sh

bench: all
	tests/bench/run.sh

# integration: real postfix, dovecot, nginx and our services on loopback
integration: all
	tests/integration/run.sh

# soak: two relays, 2,000 messages under a seeded fault plan, no
# accepted message lost (tests/soak/soak.sh; SOAK_SEED replays a run);
# on the test node (the images first) unless RELAY_HARNESS names the
# local relays (hack/local-relay.sh)
soak: all $(if $(filter %local-relay.sh,$(RELAY_HARNESS)),,images)
	tests/soak/soak.sh

clean:
	rm -rf build

-include hack/*.mk
