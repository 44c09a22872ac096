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
# clang cannot read GCC's precompiled headers: check each file without the PCH include, which also
# proves every file includes what it uses.
tidy_db=$(mktemp -d)
python3 - "$build/compile_commands.json" "$tidy_db/compile_commands.json" <<'PY'
import json, re, sys
entries = json.load(open(sys.argv[1]))
for e in entries:
    e["command"] = re.sub(r"-include \S*cmake_pch\.hxx|-Winvalid-pch", "", e["command"])
json.dump(entries, open(sys.argv[2], "w"))
PY
srcs=$(find src -name '*.cc' | sort)
if ! clang-tidy -p "$tidy_db" --quiet $srcs 2>/dev/null | tee /tmp/mailplane-tidy.txt | grep -E 'warning:|error:'; then
  :
fi
if grep -qE 'warning:|error:' /tmp/mailplane-tidy.txt; then status=1; fi
rm -rf "$tidy_db"
exit $status
