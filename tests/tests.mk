.PHONY: test-run
# Test programs: tests/<area>.c, one binary each, run by prove once per backend.
TEST_SRCS := $(wildcard tests/*.c)
TEST_BINS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
TEST_BACKENDS ?= select poll epoll iouring
CFLAGS_TEST := -std=gnu11 -O1 -g $(WARN) -Wno-unused-parameter -Iinclude $(CFLAGS_TEST_SAN)
PROVE_JOBS ?= 2

$(BUILD)/tests/%: tests/%.c tests/test.h include/ev.h $(BUILD)/libev.so.4
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

# make check-kernels: the behaviour programs on Debian's 5.10, 6.1 and 6.12 kernels under qemu
# and on the host kernel, as root and as uid 1000 (tests/kernels/check-kernels).
.PHONY: check-kernels
check-kernels: setup
	$(MAKE) all $(TEST_BINS)
	BUILD=$(BUILD) tests/kernels/check-kernels $(KERNELS)
