# attn - top-level entry points.  Each target does its own set-up on a fresh
# Debian 12 machine (scripts/setup.sh), then builds with CMake.
#
#   make demo      build, then run the main demo on built-in data
#   make test      build and run every test, then again under ASan + UBSan
#   make bench     the benchmark sweep (attn bench)
#   make fuzz      fuzz the readers of untrusted input (clang libFuzzer; long, not in make test)
#   make install   PREFIX=/usr/local by default
#   make clean

PREFIX ?= /usr/local
JOBS   ?= $(shell nproc 2>/dev/null || echo 2)
BUILD  := build
ASAN   := build-asan

.PHONY: all setup build demo test test-release test-asan test-install test-python bench fuzz install clean

all: build

setup:
	@scripts/setup.sh

build: setup
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	./$(BUILD)/attn explain

test: test-release test-asan test-install test-python
	@echo "all test suites passed"

test-release: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: setup
	@cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug -DATTN_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN) -j $(JOBS)
	cd $(ASAN) && ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j $(JOBS)

# Install into a scratch prefix and build a consumer with pkg-config and
# with CMake's find_package, so the packaging is tested too.
test-install: build
	@bash tests/install/check.sh $(BUILD)

# Cross-checks against NumPy (skipped with a note when NumPy is unavailable).
test-python: build
	@scripts/setup.sh --python
	@bash tests/python/run.sh $(BUILD)

bench: build
	./$(BUILD)/attn bench

# libFuzzer + ASan/UBSan on the .npy, checkpoint and CSV readers, FUZZ_SECONDS
# each, into build-fuzz/ (tests/fuzz/run.sh); exits 1 on any finding.
FUZZ_SECONDS ?= 60
fuzz:
	@scripts/setup.sh --fuzz
	bash tests/fuzz/run.sh $(FUZZ_SECONDS)

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(ASAN)
