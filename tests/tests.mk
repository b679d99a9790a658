.PHONY: test-run
# Test programs: tests/<area>.c, one binary each, run by prove once per backend.
TEST_SRCS := $(wildcard tests/*.c)
TEST_BINS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
TEST_BACKENDS ?= select poll epoll iouring
CFLAGS_TEST := -std=gnu11 -O1 -g $(WARN) -Wno-unused-parameter -Iinclude $(CFLAGS_TEST_SAN)
PROVE_JOBS ?= 2

$(BUILD)/tests/%: tests/%.c tests/test.h tests/evring_test.h include/ev.h include/evring.h $(BUILD)/libev.so.4 $(BUILD)/libev.so
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TEST) -o $@ $< -L$(BUILD) -lev -lcmocka -lpthread -lutil $(LDFLAGS_TEST) -Wl,-rpath,$(abspath $(BUILD))

# prove runs one token file per (backend, program); tests/run-one maps it back.
check: setup
	$(MAKE) test-run

test-run: all $(TEST_BINS)
	@rm -rf $(BUILD)/t && for b in $(TEST_BACKENDS); do mkdir -p $(BUILD)/t/$$b; \
	  for t in $(TEST_BINS); do touch $(BUILD)/t/$$b/$$(basename $$t); done; done
	@for s in tests/*.sh; do [ -e "$$s" ] && touch $(BUILD)/t/$$(basename $$s); done; true
	BUILD=$(BUILD) prove -j$(PROVE_JOBS) --exec tests/run-one $$(find $(BUILD)/t -type f | sort)

# The differential fuzzer (tests/fuzz/README): evfuzz has no rpath, so without
# LD_LIBRARY_PATH it runs on the system's libev (the oracle). tests/fuzz.sh runs the fixed
# seeds in make check; make fuzz SECONDS=n runs new seeds until a divergence.
.PHONY: fuzz
FUZZ_SRCS := $(wildcard tests/fuzz/*.c)
SECONDS ?= 60
$(BUILD)/fuzz/evfuzz: $(FUZZ_SRCS) $(wildcard tests/fuzz/*.h) include/ev.h $(BUILD)/libev.so.4
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TEST) -o $@ $(FUZZ_SRCS) -L$(BUILD) -lev -ldl $(LDFLAGS_TEST)
test-run: $(BUILD)/fuzz/evfuzz
fuzz: all $(BUILD)/fuzz/evfuzz
	BUILD=$(BUILD) FUZZ_SECONDS=$(SECONDS) sh tests/fuzz/fuzz-loop

# Fault injection (tests/faults.sh, picked up by test-run like every tests/*.sh): the injector
# and the workload it runs. `make faults-long` runs the long matrix (every documented errno,
# every call number up to 64) and writes its table to $(BUILD)/faults/table-long.txt.
.PHONY: faults-long
FAULT_BINS := $(BUILD)/faults/faultrun $(BUILD)/faults/workload
# faultrun is a tool, not a client of the library: never built with sanitizers.
$(BUILD)/faults/faultrun: tests/faults/faultrun.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O1 -g $(WARN) -o $@ $<
$(BUILD)/faults/workload: tests/faults/workload.c include/ev.h $(BUILD)/libev.so.4
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TEST) -o $@ $< -L$(BUILD) -lev -lpthread $(LDFLAGS_TEST) -Wl,-rpath,$(abspath $(BUILD))
test-run: $(FAULT_BINS)

# Behaviour programs found by fault injection: tests/faults/<name>.c -> $(BUILD)/tests/faults-<name>,
# run on every backend like the programs above.
FAULT_TEST_BINS := $(patsubst tests/faults/%.c,$(BUILD)/tests/faults-%,$(filter-out tests/faults/faultrun.c tests/faults/workload.c,$(wildcard tests/faults/*.c)))
TEST_BINS += $(FAULT_TEST_BINS)
$(BUILD)/tests/faults-%: tests/faults/%.c tests/test.h include/ev.h $(BUILD)/libev.so.4
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TEST) -o $@ $< -L$(BUILD) -lev -lcmocka -lpthread -lutil $(LDFLAGS_TEST) -Wl,-rpath,$(abspath $(BUILD))
test-run: $(FAULT_TEST_BINS)
faults-long: all $(FAULT_BINS)
	BUILD=$(BUILD) sh tests/faults.sh --long --table $(BUILD)/faults/table-long.txt

# make check-kernels: the behaviour programs on Debian's 5.10, 6.1 and 6.12 kernels under qemu
# and on the host kernel, as root and as uid 1000 (tests/kernels/check-kernels).
.PHONY: check-kernels
check-kernels: setup
	$(MAKE) all $(TEST_BINS)
	BUILD=$(BUILD) tests/kernels/check-kernels $(KERNELS)
