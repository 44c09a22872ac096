#!/usr/bin/env bash
# make test: unit tests through ctest, then the integration suite (the real server binary driven by
# real HTTP clients) through node's test runner, both built with AddressSanitizer and UBSan so a
# memory error anywhere fails the run. Fails if either fails.
set -uo pipefail
cd "$(dirname "$0")/.."
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
echo "== unit tests (ASan+UBSan) =="
(cd build/asan && ctest --output-on-failure -j "$(nproc)") || status=1
echo "== integration tests (server under ASan+UBSan) =="
MAILPLANE_BIN="$PWD/build/asan/mailplane" node --test --test-concurrency=1 tests/integration/ || status=1
exit $status
