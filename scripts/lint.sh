#!/usr/bin/env bash
# make lint: clang-format (must be clean) and clang-tidy over src/. Exits non-zero on findings.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
files=$(find src tests/unit tests/fuzz bench -name '*.cc' -o -name '*.h' | sort)
status=0
echo "== clang-format =="
if ! clang-format --dry-run -Werror $files; then status=1; fi
echo "== clang-tidy =="
srcs=$(find src -name '*.cc' | sort)
if ! clang-tidy -p "$build" --quiet $srcs 2>/dev/null | tee /tmp/mailplane-tidy.txt | grep -E 'warning:|error:'; then
  :
fi
if grep -qE 'warning:|error:' /tmp/mailplane-tidy.txt; then status=1; fi
exit $status
