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
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sink_port=$(free_port)
"$BIN" sink --listen "127.0.0.1:$sink_port" --stats-interval-ms 1000 > "$work/sink.out" 2>&1 &
pids+=($!)
dns_port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
dns_args=()
for i in $(seq 0 9); do dns_args+=("--mx-host=d$i.bench.test,mx$i.bench.test,10" "--host-record=mx$i.bench.test,127.0.0.1"); done
dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
  --listen-address=127.0.0.1 --port="$dns_port" --local=/test/ --local-ttl=300 --pid-file= "${dns_args[@]}" 2> "$work/dns.log" &
pids+=($!)
cat > "$work/mp.toml" <<TOML
[dns]
servers = ["127.0.0.1:$dns_port"]
[delivery]
port = $sink_port
tls = "disabled"
max_connections_per_site = 8
[submission]
listen = ""
TOML
key_a=$("$BIN" tenant create a --data-dir "$work/data" | sed -n 's/.*"api_key":"\([^"]*\)".*/\1/p')
key_b=$("$BIN" tenant create b --data-dir "$work/data" | sed -n 's/.*"api_key":"\([^"]*\)".*/\1/p')
"$BIN" serve --data-dir "$work/data" --config "$work/mp.toml" --http-listen 127.0.0.1:0 2> "$work/server.log" &
pids+=($!)
for _ in $(seq 100); do
  port=$(sed -n 's/.*"event":"http.listening".*"port":\([0-9]*\).*/\1/p' "$work/server.log")
  [ -n "$port" ] && break; sleep 0.1
done
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
