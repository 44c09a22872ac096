#!/usr/bin/env bash
# End to end: HTTP submission -> durable spool -> SMTP delivery -> `mailplane sink`, on loopback,
# with 1 recipient a message spread over 10 destination domains (MX records in a dnsmasq on
# loopback, each domain its own MX host, all pointing at the sink). Then, in the same script,
# Postfix relays the same number of messages of the same size to the same sink (bench/postfix.sh
# with MAILPLANE_SINK_BIN). Prints RESULT lines and a Markdown table.
# Load: wrk posts batches of 100 for 5 s (2 KB) or 12 s (100 KB), and the end-to-end rate is
# every accepted message over the time until the sink has them all (E2E_LOADER=node uses
# bench/e2e_load.mjs with a fixed count instead: E2E_COUNT_2048, E2E_COUNT_102400).
# Knobs: E2E_SIZES ("2048 102400"), POSTFIX_COUNT (5000), E2E_CONCURRENCY (8 requests in flight).
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

source bench/lib.sh
sink_port=$(free_port)
"$BIN" sink --listen "127.0.0.1:$sink_port" --stats-interval-ms 50 > "$work/sink.out" 2>&1 &
pids+=($!)
dns_port=$(free_udp_port)
mapfile -t dns_records < <(ten_domains)
start_dns "$dns_port" "${dns_records[@]}"


echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r); date: $(date -u +%F)"
# The sink's own capacity, so that the end-to-end figures measure mailplane and not the sink:
# Postfix's smtp-source with 32 sessions, 2 KB messages, as fast as the sink takes them.
if [ -x /usr/sbin/smtp-source ]; then
  before=$(sink_count); before=${before:-0}
  s0=$(date +%s.%N)
  /usr/sbin/smtp-source -s 32 -l 2048 -m 50000 -f bench@example.com -t rcpt@sink.test "127.0.0.1:$sink_port"
  for _ in $(seq 1200); do [ "$(( $(sink_count) - before ))" -ge 50000 ] && break; sleep 0.05; done
  s1=$(date +%s.%N)
  echo "RESULT sink accepted_per_sec=$(python3 -c "print(f'{50000 / ($s1 - $s0):.0f}')") (smtp-source, 32 sessions, 2 KB, 50000 messages)"
fi
results=()
for size in $SIZES; do
  count_var=E2E_COUNT_$size
  count=${!count_var:-$([ "$size" -le 4096 ] && echo 100000 || echo 20000)}
  rm -rf "$work/data"
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
  key=$(tenant_key bench)
  start_server "$work/mp.toml"
  before=$(sink_count); before=${before:-0}
  t0=$(date +%s.%N)
  if [ "${E2E_LOADER:-wrk}" = wrk ] && command -v wrk >/dev/null; then
    # wrk (C, one thread) posts the same batch of 100 messages (to rcpt0..99 over the 10 domains)
    # for a fixed time; every accepted message is delivered, so the count is what was accepted.
    write_batch "$size" bench@example.com
    secs=$([ "$size" -le 4096 ] && echo 5 || echo 12)
    sub=$(wrk_post "$key" "$secs" "$CONC")
    count=$(echo "$sub" | sed -n 's/.*count=\([0-9]*\).*/\1/p')
  else
    sub=$(node bench/e2e_load.mjs "$port" "$key" "$count" "$size" 10 "$CONC")
  fi
  wait_sink "$count" "$before" "$t0"  # every message at the sink
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
