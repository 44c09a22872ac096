#!/usr/bin/env bash
# End to end: HTTP submission -> durable spool -> SMTP delivery -> `mailplane sink`, on loopback,
# with 1 recipient a message spread over 10 destination domains (MX records in a dnsmasq on
# loopback, each domain its own MX host, all pointing at the sink). Then, in the same script,
# Postfix relays the same number of messages of the same size to the same sink (bench/postfix.sh
# with MAILPLANE_SINK_BIN). Prints RESULT lines and a Markdown table.
# Knobs: E2E_SIZES ("2048 102400"), E2E_COUNT_2048 (100000), E2E_COUNT_102400 (20000),
#        POSTFIX_COUNT (5000), E2E_CONCURRENCY (8 batch requests in flight).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/build/release/mailplane
SIZES=${E2E_SIZES:-2048 102400}
CONC=${E2E_CONCURRENCY:-8}
POSTFIX_COUNT=${POSTFIX_COUNT:-5000}
work=$(mktemp -d /var/tmp/mailplane-e2e.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
[ "$(stat -f -c %T "$work")" = tmpfs ] && echo "warning: $work is on tmpfs: fsync is free there"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

sink_port=$(free_port)
"$BIN" sink --listen "127.0.0.1:$sink_port" --stats-interval-ms 50 > "$work/sink.out" 2>&1 &
pids+=($!)
dns_port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
dns_args=()
for i in $(seq 0 9); do
  dns_args+=("--mx-host=d$i.bench.test,mx$i.bench.test,10" "--host-record=mx$i.bench.test,127.0.0.1")
done
dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
  --listen-address=127.0.0.1 --port="$dns_port" --local=/test/ --local-ttl=300 --pid-file= \
  "${dns_args[@]}" 2> "$work/dns.log" &
pids+=($!)
sleep 0.3

sink_count() { tail -n 1 "$work/sink.out" | sed -n 's/.*"messages":\([0-9]*\).*/\1/p'; }

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r); date: $(date -u +%F)"
# The sink's own capacity, so that the end-to-end figures measure mailplane and not the sink:
# Postfix's smtp-source with 32 sessions, 2 KB messages, as fast as the sink takes them.
if [ -x /usr/sbin/smtp-source ]; then
  before=$(sink_count); before=${before:-0}
  s0=$(date +%s.%N)
  /usr/sbin/smtp-source -s 32 -l 2048 -m 50000 -f bench@example.com -t rcpt@sink.test "127.0.0.1:$sink_port"
  while [ "$(( $(sink_count) - before ))" -lt 50000 ]; do sleep 0.05; done
  s1=$(date +%s.%N)
  echo "RESULT sink accepted_per_sec=$(python3 -c "print(f'{50000 / ($s1 - $s0):.0f}')") (smtp-source, 32 sessions, 2 KB, 50000 messages)"
fi
results=()
for size in $SIZES; do
  count_var=E2E_COUNT_$size
  count=${!count_var:-$([ "$size" -le 4096 ] && echo 100000 || echo 20000)}
  rm -rf "$work/data"
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
  key=$("$BIN" tenant create bench --data-dir "$work/data" | sed -n 's/.*"api_key":"\([^"]*\)".*/\1/p')
  "$BIN" serve --data-dir "$work/data" --config "$work/mp.toml" --http-listen 127.0.0.1:0 2> "$work/server.log" &
  server_pid=$!
  for _ in $(seq 100); do
    port=$(sed -n 's/.*"event":"http.listening".*"port":\([0-9]*\).*/\1/p' "$work/server.log")
    [ -n "$port" ] && break; sleep 0.1
  done
  before=$(sink_count); before=${before:-0}
  t0=$(date +%s.%N)
  sub=$(node bench/e2e_load.mjs "$port" "$key" "$count" "$size" 10 "$CONC")
  # Wait until the sink has seen every message.
  while :; do
    got=$(sink_count); got=${got:-0}
    [ $((got - before)) -ge "$count" ] && break
    if [ "$(echo "$(date +%s.%N) - $t0 > 600" | bc)" = 1 ]; then echo "timeout: $((got - before)) of $count"; break; fi
    sleep 0.05
  done
  t1=$(date +%s.%N)
  rss=$(ps -o rss= -p "$server_pid" | tr -d ' ')
  kill -TERM "$server_pid"; wait "$server_pid" || true
  e2e=$(python3 -c "print(f'{$count / ($t1 - $t0):.0f}')")
  echo "RESULT mailplane size=$size messages=$count end_to_end_per_sec=$e2e $sub rss_kb_at_end=$rss"
  results+=("| mailplane | $size | $count | $e2e | $(echo "$sub" | sed -n 's/.*rate=\([0-9]*\).*/\1/p') |")
  pf=$(MAILPLANE_SINK_BIN=$BIN POSTFIX_MESSAGES=$POSTFIX_COUNT POSTFIX_SIZE=$size bench/postfix.sh 2>/dev/null | grep RESULT || echo "RESULT postfix failed")
  echo "$pf size=$size"
  results+=("| Postfix 3.7 | $size | $POSTFIX_COUNT | $(echo "$pf" | sed -n 's/.*relayed_per_sec=\([0-9.]*\).*/\1/p') | $(echo "$pf" | sed -n 's/.*accepted_per_sec=\([0-9.]*\).*/\1/p') |")
done
echo
echo "| system | message bytes | messages | delivered end to end (msg/s) | accepted (msg/s) |"
echo "|---|---|---|---|---|"
printf '%s\n' "${results[@]}"
