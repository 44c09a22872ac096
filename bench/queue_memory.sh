#!/usr/bin/env bash
# Memory with a large queue: QUEUE_COUNT (1,000,000) messages of 2 KB for one destination whose
# MX is down (nothing listens on the delivery port), submitted over HTTP while mailplane keeps
# trying and deferring them; then the destination comes back (`mailplane sink` starts on that
# port) and the queue drains. Prints the peak resident memory of the server over the whole run
# and the drain rate.
# Knobs: QUEUE_COUNT (1000000), QUEUE_RETRY_SECONDS (20).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/build/release/mailplane
COUNT=${QUEUE_COUNT:-1000000}
RETRY=${QUEUE_RETRY_SECONDS:-20}
work=$(mktemp -d /var/tmp/mailplane-queue.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
source bench/lib.sh
dns_port=$(free_udp_port)
start_dns "$dns_port" --mx-host=d0.bench.test,mx.down.bench.test,10 --host-record=mx.down.bench.test,127.0.0.1
sink_port=$(free_port)
cat > "$work/mp.toml" <<TOML
[domains]
require_verified = false
[dns]
servers = ["127.0.0.1:$dns_port"]
[delivery]
port = $sink_port
tls = "disabled"
retry_first_seconds = $RETRY
retry_max_seconds = $RETRY
connect_timeout_seconds = 5
[submission]
listen = ""
TOML
key=$(tenant_key bench)
start_server "$work/mp.toml"
peak=0
sample() { local r; r=$(ps -o rss= -p "$server_pid" | tr -d ' '); [ -n "$r" ] && [ "$r" -gt "$peak" ] && peak=$r; true; }
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; date: $(date -u +%F)"
node bench/e2e_load.mjs "$port" "$key" "$COUNT" 2048 1 8 > "$work/load.out" &
load_pid=$!
while kill -0 "$load_pid" 2>/dev/null; do sample; sleep 0.5; done
echo "$(cat "$work/load.out") peak_rss_kb_so_far=$peak"
# Let every message be tried and deferred once while the destination is down.
deferred() { curl -s "http://127.0.0.1:$port/metrics" | sed -n 's/^mailplane_delivery_attempts_total{result="deferred"} \([0-9]*\).*/\1/p'; }
t_wait=$(date +%s)
while [ "$(deferred)" -lt "$COUNT" ] && [ $(( $(date +%s) - t_wait )) -lt 300 ]; do sample; sleep 0.5; done
echo "deferred attempts: $(deferred) peak_rss_kb_so_far=$peak"
"$BIN" sink --listen "127.0.0.1:$sink_port" --stats-interval-ms 200 > "$work/sink.out" 2>&1 &
pids+=($!)
t0=$(date +%s.%N)
count() { tail -n 1 "$work/sink.out" | sed -n 's/.*"messages":\([0-9]*\).*/\1/p'; }
while :; do
  sample
  n=$(count); n=${n:-0}
  [ "$n" -ge "$COUNT" ] && break
  if [ "$(echo "$(date +%s.%N) - $t0 > 1200" | bc)" = 1 ]; then echo "timeout: $n of $COUNT"; break; fi
  sleep 0.5
done
t1=$(date +%s.%N)
echo "RESULT queue messages=$COUNT peak_rss_mb=$((peak / 1024)) drained=$(count) drain_seconds=$(python3 -c "print(f'{$t1-$t0:.1f}')") (includes up to ${RETRY}s of retry wait)"
