# mailplane: the entry points. `make run` and `make test` are all a new user needs.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
BUILD_RELEASE := build/release
BUILD_ASAN := build/asan
BUILD_DEBUG := build/debug
BUILD_FUZZ := build/fuzz
CMAKE_FLAGS := -G Ninja -DCMAKE_EXPORT_COMPILE_COMMANDS=ON

.PHONY: all deps build debug asan run test unit integration bench fuzz lint format clean

all: build

deps:
	@scripts/deps.sh

$(BUILD_RELEASE)/build.ninja: CMakeLists.txt
	cmake -S . -B $(BUILD_RELEASE) $(CMAKE_FLAGS) -DCMAKE_BUILD_TYPE=Release

$(BUILD_ASAN)/build.ninja: CMakeLists.txt
	cmake -S . -B $(BUILD_ASAN) $(CMAKE_FLAGS) -DCMAKE_BUILD_TYPE=Debug -DMAILPLANE_SANITIZE=ON -DMAILPLANE_BENCH=OFF

$(BUILD_DEBUG)/build.ninja: CMakeLists.txt
	cmake -S . -B $(BUILD_DEBUG) $(CMAKE_FLAGS) -DCMAKE_BUILD_TYPE=Debug

build: deps $(BUILD_RELEASE)/build.ninja
	ninja -C $(BUILD_RELEASE) -j $(JOBS)

debug: deps $(BUILD_DEBUG)/build.ninja
	ninja -C $(BUILD_DEBUG) -j $(JOBS)

asan: deps $(BUILD_ASAN)/build.ninja
	ninja -C $(BUILD_ASAN) -j $(JOBS) mp_unit_tests mailplane

# Installs what is missing, builds, creates a first tenant (once) and starts the server.
run: build
	@scripts/run.sh

# Unit tests, then integration tests against the server binary, both under AddressSanitizer+UBSan.
test: build asan
	@scripts/test.sh

unit: asan
	cd $(BUILD_ASAN) && ctest --output-on-failure -j $(JOBS)

integration: build
	node --test --test-concurrency=1 tests/integration/

# Submission throughput and latency; end to end to a sink over 10 MX domains, with Postfix
# relaying to the same sink; 1,000,000 messages queued for a down destination (memory); one
# tenant's latency during another tenant's flood; end to end with DKIM signing against unsigned;
# the event log's write rate and the message list's latency over 100 million events (about an
# hour and 55 GB of disk; EVENTS=10000000 for a shorter run).
bench: build
	@bench/run.sh
	@bench/e2e.sh
	@bench/queue_memory.sh
	@bench/fairness.sh
	@bench/dkim.sh
	@bench/event_log.sh

# libFuzzer targets (clang). FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 60
fuzz: deps
	CC=clang CXX=clang++ cmake -S . -B $(BUILD_FUZZ) $(CMAKE_FLAGS) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMAILPLANE_FUZZ=ON -DMAILPLANE_TESTS=OFF
	ninja -C $(BUILD_FUZZ) -j $(JOBS) fuzz_submission fuzz_address fuzz_smtp_reply fuzz_dns fuzz_dkim fuzz_classify fuzz_webhook_url fuzz_report fuzz_suppression_csv
	@scripts/fuzz.sh $(BUILD_FUZZ) $(FUZZ_SECONDS)

lint: deps $(BUILD_RELEASE)/build.ninja
	@scripts/lint.sh $(BUILD_RELEASE)

format:
	find src tests/unit tests/fuzz bench -name '*.cc' -o -name '*.h' | xargs clang-format -i

clean:
	rm -rf build
