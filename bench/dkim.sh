#!/usr/bin/env bash
# End-to-end throughput with DKIM signing (RSA-2048 and Ed25519 on every message) against the
# same run unsigned: HTTP batches (wrk) -> spool -> SMTP -> `mailplane sink` over 10 MX domains,
# as bench/e2e.sh does. The signed run registers the sender's domain, publishes its DKIM records
# in the dnsmasq on loopback and verifies it first. Prints RESULT lines and a Markdown table.
# Knobs: DKIM_SIZES ("2048 102400"), DKIM_SECONDS (5), DKIM_CONCURRENCY (8).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/build/release/mailplane
SIZES=${DKIM_SIZES:-2048 102400}
SECS=${DKIM_SECONDS:-5}
CONC=${DKIM_CONCURRENCY:-8}
work=$(mktemp -d /var/tmp/mailplane-dkim.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)"; exit 1; }

source bench/lib.sh
sink_port=$(free_port)
"$BIN" sink --listen "127.0.0.1:$sink_port" --stats-interval-ms 50 > "$work/sink.out" 2>&1 &
pids+=($!)
dns_port=$(free_udp_port)
mapfile -t dns_records < <(ten_domains)
start_dns "$dns_port" "${dns_records[@]}"
dns_pid=${pids[-1]}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r); date: $(date -u +%F)"
results=()
for size in $SIZES; do
  for mode in unsigned signed; do
    rm -rf "$work/data"
    cat > "$work/mp.toml" <<TOML
[domains]
require_verified = $([ $mode = signed ] && echo true || echo false)
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
    if [ $mode = signed ]; then
      curl -sf -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
        -d '{"domain":"send.bench.test"}' "http://127.0.0.1:$port/v1/domains" > "$work/domain.json"
      # Publish the DKIM records: dnsmasq again on the same port, with the TXT records added
      # (as raw RDATA: strings of at most 255 octets, as a DKIM RSA key needs).
      mapfile -t txt < <(python3 - "$work/domain.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for r in d["dns_records"]:
    if r["type"] == "TXT" and r["purpose"].startswith("DKIM"):
        v = r["value"].encode()
        # The TXT RDATA in hex: character strings of at most 255 octets, each length-prefixed.
        rdata = b"".join(bytes([len(v[i:i + 255])]) + v[i:i + 255] for i in range(0, len(v), 255))
        print("--dns-rr=" + r["name"] + ",16," + rdata.hex())
PY
)
      kill -TERM "$dns_pid"; wait "$dns_pid" 2>/dev/null || true
      start_dns "$dns_port" "${dns_records[@]}" "${txt[@]}"
      dns_pid=${pids[-1]}
      verified=$(curl -sf -X POST -H "Authorization: Bearer $key" \
        "http://127.0.0.1:$port/v1/domains/send.bench.test/verify" | python3 -c 'import json,sys; print(json.load(sys.stdin)["verified"])')
      [ "$verified" = True ] || { echo "the bench domain did not verify"; curl -s -H "Authorization: Bearer $key" "http://127.0.0.1:$port/v1/domains/send.bench.test"; cat "$work/dns.log"; exit 1; }
    fi
    write_batch "$size" bench@send.bench.test
    before=$(sink_count); before=${before:-0}
    t0=$(date +%s.%N)
    sub=$(wrk_post "$key" "$SECS" "$CONC")
    count=$(echo "$sub" | sed -n 's/.*count=\([0-9]*\).*/\1/p')
    wait_sink "$count" "$before" "$t0"
    t1=$(date +%s.%N)
    kill -TERM "$server_pid"; wait "$server_pid" || true
    e2e=$(python3 -c "print(f'{$count / ($t1 - $t0):.0f}')")
    echo "RESULT dkim=$mode size=$size messages=$count end_to_end_per_sec=$e2e $sub"
    results+=("| $mode | $size | $count | $e2e | $(echo "$sub" | sed -n 's/.*rate=\([0-9]*\).*/\1/p') |")
  done
done
echo
echo "| DKIM | message bytes | messages | delivered end to end (msg/s) | accepted (msg/s) |"
echo "|---|---|---|---|---|"
printf '%s\n' "${results[@]}"
