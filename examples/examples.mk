# The examples (included from the top-level Makefile; `make examples` builds them).
#   ticker.c                   a small libev program (tools/demo runs it on every backend)
#   echo-evio.c, http-evio.c   servers on plain ev_io readiness: ev.h only, so one binary runs
#                              on Debian's libev or, with LD_LIBRARY_PATH=$(BUILD), on evring
#   echo-evring.c, http-evring.c   the same servers on evring.h's completion I/O (evring only)
# Built against evring's headers and linked with -L$(BUILD) -lev, without an rpath, as a
# libev client would be: run them with LD_LIBRARY_PATH=$(BUILD) to load evring.
CFLAGS_EXAMPLE := -std=gnu11 -O2 -g $(WARN) -Iinclude $(CFLAGS_TEST_SAN)
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))

.PHONY: examples
examples: $(EXAMPLES)

$(BUILD)/examples/%: examples/%.c examples/server.h include/ev.h include/evring.h $(BUILD)/libev.so.4 $(BUILD)/libev.so
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_EXAMPLE) -o $@ $< -L$(BUILD) -lev -lpthread $(LDFLAGS_TEST)

# tests/examples.sh (run by make check like every tests/*.sh) serves with them under loadgen.
test-run: $(EXAMPLES) $(BUILD)/bench/loadgen
