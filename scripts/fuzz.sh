#!/usr/bin/env bash
# Runs each libFuzzer target for N seconds from the seed corpus. Usage: fuzz.sh BUILD_DIR SECONDS
set -euo pipefail
cd "$(dirname "$0")/.."
build=$1; secs=$2
mkdir -p fuzz-corpus/submission fuzz-corpus/address fuzz-corpus/smtp_reply fuzz-corpus/dns fuzz-corpus/dkim fuzz-corpus/classify fuzz-corpus/webhook_url \
  fuzz-corpus/report fuzz-corpus/suppression_csv
"$build/tests/fuzz/fuzz_submission" -max_total_time="$secs" -max_len=8192 \
  fuzz-corpus/submission tests/fuzz/corpus/submission
"$build/tests/fuzz/fuzz_address" -max_total_time="$secs" -max_len=1024 fuzz-corpus/address
"$build/tests/fuzz/fuzz_smtp_reply" -max_total_time="$secs" -max_len=4096 fuzz-corpus/smtp_reply
"$build/tests/fuzz/fuzz_dns" -max_total_time="$secs" -max_len=4096 fuzz-corpus/dns
"$build/tests/fuzz/fuzz_dkim" -max_total_time="$secs" -max_len=16384 fuzz-corpus/dkim
"$build/tests/fuzz/fuzz_classify" -max_total_time="$secs" -max_len=8192 fuzz-corpus/classify
"$build/tests/fuzz/fuzz_webhook_url" -max_total_time="$secs" -max_len=4096 fuzz-corpus/webhook_url
"$build/tests/fuzz/fuzz_report" -max_total_time="$secs" -max_len=65536 fuzz-corpus/report \
  tests/fuzz/corpus/report
"$build/tests/fuzz/fuzz_suppression_csv" -max_total_time="$secs" -max_len=16384 fuzz-corpus/suppression_csv
