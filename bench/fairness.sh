#!/usr/bin/env bash
# Tenant isolation under a flood: tenant B sends B_RATE (100) messages a second for B_SECONDS (20)
# to 10 domains, first alone, then while tenant A submits FLOOD (500,000) messages at once to the
# same 10 domains. Prints B's submit-to-delivered p50/p99 in both cases (issue 4's benchmark).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/build/release/mailplane
FLOOD=${FLOOD:-500000}
B_RATE=${B_RATE:-100}
B_SECONDS=${B_SECONDS:-20}
work=$(mktemp -d /var/tmp/mailplane-fair.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
source bench/lib.sh
sink_port=$(free_port)
"$BIN" sink --listen "127.0.0.1:$sink_port" --stats-interval-ms 1000 > "$work/sink.out" 2>&1 &
pids+=($!)
dns_port=$(free_udp_port)
mapfile -t dns_records < <(ten_domains)
start_dns "$dns_port" "${dns_records[@]}"
cat > "$work/mp.toml" <<TOML
[domains]
require_verified = false
[dns]
servers = ["127.0.0.1:$dns_port"]
[delivery]
port = $sink_port
tls = "disabled"
max_connections_per_site = 8
[submission]
listen = ""
TOML
key_a=$(tenant_key a)
key_b=$(tenant_key b)
start_server "$work/mp.toml"
echo "machine: $(nproc) cores; date: $(date -u +%F)"
alone=$(node bench/fairness_b.mjs "$port" "$key_b" "$B_RATE" "$B_SECONDS")
echo "RESULT fairness B alone: $alone"
node bench/e2e_load.mjs "$port" "$key_a" "$FLOOD" 2048 10 8 > "$work/flood.out" &
flood_pid=$!
sleep 1
during=$(node bench/fairness_b.mjs "$port" "$key_b" "$B_RATE" "$B_SECONDS")
echo "RESULT fairness B during A's flood of $FLOOD: $during"
wait "$flood_pid" || true
echo "RESULT fairness A: $(cat "$work/flood.out")"
