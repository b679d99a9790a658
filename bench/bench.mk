# Benchmarks: evring vs the system's libev 4.33 (included from the top-level Makefile).
#   make bench                                full matrix, 5 alternating rounds (~6-8 min),
#                                             then the server rows (~6 min, below);
#                                             writes docs/benchmarks.md and docs/benchmarks.png
#   make bench BENCH_ROUNDS=3 BENCH_QUICK=1   shorter runs
#   make bench BENCH_ARGS='--only churn-100 --no-docs'   (bench/run --help, --list)
#   make bench-smoke                          each workload once, briefly; fails if broken
# evbench is compiled against the system's /usr/include/ev.h and linked with the system's
# -lev (no -Iinclude, no -L$(BUILD), no rpath): bench/run selects the library per run.
BENCH_ROUNDS ?= 5
BENCH_QUICK  ?=
BENCH_ARGS   ?=
PYTHON3      ?= python3
BENCH_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror

.PHONY: bench bench-smoke bench-bin

$(BUILD)/bench/evbench: bench/evbench.c
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -o $@ $< -lev

bench-bin: $(BUILD)/bench/evbench

bench: all $(BUILD)/bench/evbench
	BENCH_ROUNDS='$(BENCH_ROUNDS)' BENCH_QUICK='$(BENCH_QUICK)' \
	  $(PYTHON3) bench/run --build '$(BUILD)' $(BENCH_ARGS)

bench-smoke: all $(BUILD)/bench/evbench
	$(PYTHON3) bench/run --build '$(BUILD)' --smoke $(BENCH_ARGS)

# Server rows (bench/servers.py, issue 10): `make bench-servers` runs only them (about 6 min:
# 9 rows x 5 variants x 3 rounds of 2 s) and writes docs/benchmarks-servers.md; `make bench`
# runs them after the micro rows. The ev_io servers are built like evbench, against the
# system's ev.h and -lev (the baseline runs them on Debian's libev); the evring.h servers are
# the examples (examples/examples.mk); the liburing servers are the ceiling.
.PHONY: bench-servers bench-servers-bin
SERVER_BENCH_BINS := $(BUILD)/bench/loadgen $(BUILD)/bench/uring-echo $(BUILD)/bench/uring-http \
  $(BUILD)/bench/echo-evio $(BUILD)/bench/http-evio $(BUILD)/examples/echo-evring \
  $(BUILD)/examples/http-evring

$(BUILD)/bench/loadgen: bench/loadgen.c
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -o $@ $<

$(BUILD)/bench/uring-%: bench/uring-%.c bench/uring-server.h
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -o $@ $< -luring

$(BUILD)/bench/%-evio: examples/%-evio.c
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -o $@ $< -lev

bench-servers-bin: $(SERVER_BENCH_BINS)
bench bench-smoke: $(SERVER_BENCH_BINS)

bench-servers: all $(BUILD)/bench/evbench $(SERVER_BENCH_BINS)
	$(PYTHON3) bench/run --build '$(BUILD)' --only servers $(BENCH_ARGS)
