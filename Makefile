# evring: a libev.so.4 drop-in with an io_uring backend.
#   make            build/libev.so.4.0.0 (+ links), build/libev.a, build/libev.pc
#   make check      build and run the whole test suite on every backend (TAP, prove)
#   make bench      benchmarks against the system's libev (see bench/)
#   make SAN=address,undefined check    the same with sanitizers
#   make install / uninstall / deb      see packaging/packaging.mk
CC      ?= gcc
BUILD   ?= build
SAN     ?=
OPT     ?= -O2 -g
WARN    := -Wall -Wextra -Werror
# CPPFLAGS and LDFLAGS are the user's (make deb passes dpkg-buildflags' through them).
CFLAGS_LIB := -std=gnu11 $(OPT) $(WARN) $(CPPFLAGS) -fPIC -fvisibility=hidden -Iinclude -Isrc
LDFLAGS_LIB := -Wl,-z,now -Wl,--no-undefined $(LDFLAGS)
# liburing is linked statically: the library needs nothing but libc at run time, like
# Debian's libev.so.4, so dropping it into LD_LIBRARY_PATH works without liburing2 installed.
LIBS    := -Wl,--exclude-libs,ALL -Wl,-Bstatic -luring -Wl,-Bdynamic
ifneq ($(SAN),)
  CFLAGS_LIB += -fsanitize=$(SAN) -fno-omit-frame-pointer
  LDFLAGS_LIB += -fsanitize=$(SAN)
  LDFLAGS_TEST += -fsanitize=$(SAN)
  CFLAGS_TEST_SAN := -fsanitize=$(SAN) -fno-omit-frame-pointer
endif

SRCS := $(wildcard src/*.c) $(wildcard src/backend/*.c) $(wildcard src/evring/*.c)
OBJS := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(SRCS))
SOVER := 4.0.0

.PHONY: all check clean abi-diff probe-diff demo setup
all: $(BUILD)/libev.so.$(SOVER) $(BUILD)/libev.so.4 $(BUILD)/libev.so $(BUILD)/libev.a $(BUILD)/libev.pc

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_LIB) -MMD -MP -c -o $@ $<

-include $(OBJS:.o=.d)

$(BUILD)/libev.so.$(SOVER): $(OBJS)
	$(CC) -shared -Wl,-soname,libev.so.4 $(LDFLAGS_LIB) -o $@ $(OBJS) $(LIBS)

$(BUILD)/libev.so.4 $(BUILD)/libev.so: $(BUILD)/libev.so.$(SOVER)
	ln -sf libev.so.$(SOVER) $@

$(BUILD)/libev.a: $(OBJS)
	rm -f $@ && ar rcs $@ $(OBJS)

$(BUILD)/libev.pc: libev.pc.in
	sed -e 's|@PREFIX@|/usr/local|' -e 's|@LIBDIR@|$${prefix}/lib|' -e 's|@INCDIR@|$${prefix}/include|' -e 's|@VERSION@|4.33|' $< > $@

include tests/tests.mk
include bench/bench.mk
include examples/examples.mk

# The README's two commands: both install what they need first (tools/setup-debian).
setup:
	@tools/setup-debian --if-missing

demo: setup
	$(MAKE) all
	BUILD=$(BUILD) tools/demo

include packaging/packaging.mk

# The ABI contract (abi/, see abi/README.md): include/ev.h against Debian's ev.h tables, and
# the behavioural probe (built against the system's ev.h, -lev) run on build/libev.so.4.
abi-diff:
	@mkdir -p $(BUILD)/abi
	$(MAKE) -C abi diff EV_H_DIR=$(CURDIR)/include BUILD=$(abspath $(BUILD))/abi

probe-diff: all
	@mkdir -p $(BUILD)/abi
	-$(MAKE) -C abi probe-diff EV_LIB_DIR=$(abspath $(BUILD)) BUILD=$(abspath $(BUILD))/abi

clean:
	rm -rf $(BUILD)
