#!/usr/bin/env bash
# make bench: durable submission throughput and latency of mailplane over HTTP, measured with wrk
# on this machine, loopback only. Prints a Markdown table for docs/BENCHMARKS.md.
# Knobs: BENCH_SECONDS (default 15), BENCH_CONNECTIONS (64).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/build/release/mailplane
SECS=${BENCH_SECONDS:-15}
CONNS=${BENCH_CONNECTIONS:-64}
command -v wrk >/dev/null || { echo "wrk is missing: run scripts/deps.sh"; exit 1; }
work=$(mktemp -d /tmp/mailplane-bench.XXXXXX)
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

key=$("$BIN" tenant create bench --data-dir "$work/data" | sed -n 's/.*"api_key":"\([^"]*\)".*/\1/p')
printf '[domains]\nrequire_verified = false\n' > "$work/mp.toml"
"$BIN" serve --data-dir "$work/data" --config "$work/mp.toml" --http-listen 127.0.0.1:0 --log-level info 2> "$work/server.log" &
server_pid=$!
for _ in $(seq 100); do
  port=$(sed -n 's/.*"event":"http.listening".*"port":\([0-9]*\).*/\1/p' "$work/server.log")
  [ -n "$port" ] && break; sleep 0.1
done
[ -n "$port" ] || { echo "server did not start"; cat "$work/server.log"; exit 1; }
url=http://127.0.0.1:$port

# A 2 KB message (composed size about 2 KB), and a batch of 100 of them.
python3 - "$work" <<'PY'
import json, sys
text = ("The quick brown fox jumps over the lazy dog. " * 45)[:1800]
msg = {"from": "Sender <sender@example.com>", "to": ["rcpt@example.org"], "subject": "Benchmark", "text": text}
open(sys.argv[1] + "/one.json", "w").write(json.dumps(msg))
open(sys.argv[1] + "/batch.json", "w").write(json.dumps({"messages": [msg] * 100}))
PY
cat > "$work/post.lua" <<LUA
local f = io.open("$work/" .. (os.getenv("BODY") or "one.json")); local body = f:read("*a"); f:close()
wrk.method = "POST"; wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $key"
local delay_ms = tonumber(os.getenv("DELAY_MS") or "0")
if delay_ms > 0 then function delay() return delay_ms end end
local bad = 0
function response(status) if status ~= 202 then bad = bad + 1 end end
function done(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_ms=%.2f p99_ms=%.2f errors=%d non202=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.status + summary.errors.connect +
    summary.errors.read + summary.errors.write + summary.errors.timeout, bad))
end
LUA
run() {  # name conns body delay
  BODY=$3 DELAY_MS=$4 wrk -t1 -c"$2" -d"${SECS}s" --timeout 10s -s "$work/post.lua" "$url$5" 2>&1 | grep RESULT
}
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r); date: $(date -u +%F)"
single=$(run single "$CONNS" one.json 0 /v1/messages)
echo "single  ($CONNS conns): $single"
batch=$(run batch 32 batch.json 0 /v1/messages/batch)
echo "batch100 (32 conns):   $batch"
peak=$(echo "$single" | sed -n 's/.*rps=\([0-9.]*\).*/\1/p')
# Half the peak rate, open-loop style: each connection waits 5 ms between requests (wrk's think
# time is whole milliseconds), so the connection count sets the offered rate: about
# conns / (5 ms + service time). The achieved rate is printed; compare it with peak / 2.
half_conns=$(python3 -c "print(max(1, round($peak / 2 * (5 + 1.5) / 1000)))")
half=$(run half "$half_conns" one.json 5 /v1/messages)
echo "half-peak target $(python3 -c "print(round($peak / 2))")/s ($half_conns conns, 5 ms think time): $half"
curl -s "$url/metrics" | grep -E '^mailplane_spool_group_commit_writes_(sum|count)|^mailplane_spool_sync_seconds_(sum|count)'
kill -TERM "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""

# The peer, same machine, same disk, right after: smtp-source -> Postfix -> smtp-sink, 2 KB
# messages, Postfix syncing each queue file before its 250 (bench/postfix.sh installs Postfix
# privately if it is missing and never touches the system instance).
echo "peer: $(bash bench/postfix.sh 2>"$work/postfix.err" | grep RESULT || { tail -5 "$work/postfix.err"; echo 'postfix: not measured'; })"
