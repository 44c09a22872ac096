#!/usr/bin/env bash
# The event log at scale (docs/BENCHMARKS.md, "The event log and the message list at scale"):
#  (a) write rate: mp_event_log_bench write commits WRITE_EVENTS events through the store's group
#      commit (sync on), 1, 10 and 100 events a batch, and reports events/s and, after compacting
#      the log column, bytes on disk per million events;
#  (b) query latency: mp_event_log_bench generate builds a store of EVENTS events (1,000 tenants,
#      one with 5 % of the traffic, 30 days), `mailplane serve` opens it (delivery off), and
#      bench/event_log_query.mjs times QUERIES sequential keep-alive requests of the big tenant's
#      first page of bounced messages of the last 24 hours and of recipient lookups (a random
#      recipient of that tenant each time); then the disk used, in all and per million events.
# Knobs: EVENTS (100000000), WRITE_EVENTS (2000000), WRITE_BATCHES ("1 10 100"), WRITE_THREADS (2),
# QUERIES (1000), SKIP_WRITE=1, SKIP_QUERY=1, KEEP=1 (keep the store; its path is printed),
# STORE=DIR (measure an existing store kept with KEEP=1 instead of generating one; its data ends
# when it was generated, so "the last 24 hours" holds less of it as it ages),
# COMPACT=1 (compact every column after generating), MAILPLANE_BIN, EVENT_LOG_BENCH_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${MAILPLANE_BIN:-$PWD/build/release/mailplane}
BENCH=${EVENT_LOG_BENCH_BIN:-$PWD/build/release/bench/mp_event_log_bench}
EVENTS=${EVENTS:-100000000}
WRITE_EVENTS=${WRITE_EVENTS:-2000000}
WRITE_BATCHES=${WRITE_BATCHES:-1 10 100}
WRITE_THREADS=${WRITE_THREADS:-2}
QUERIES=${QUERIES:-1000}
work=$(mktemp -d /var/tmp/mailplane-evlog.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
[ "$(stat -f -c %T "$work")" = tmpfs ] && echo "warning: $work is on tmpfs: fsync is free there"
echo "machine: $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p')), $(free -g | awk '/Mem:/{print $2}') GiB," \
  "$(uname -r); date: $(date -u +%F); load: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- (a) write rate ----
if [ "${SKIP_WRITE:-0}" != 1 ]; then
  for b in $WRITE_BATCHES; do
    rm -rf "$work/w"
    echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    out=$("$BENCH" write --dir "$work/w" --events "$WRITE_EVENTS" --threads "$WRITE_THREADS" --batch "$b")
    echo "$out"
    rate=$(echo "$out" | sed -n 's/^WRITE .*events_per_sec=\([0-9]*\).*/\1/p')
    if [ "$rate" -ge 200000 ]; then verdict="met"; else verdict="MISSED"; fi
    echo "TARGET write, $b events a batch: $rate events/s against 200000: $verdict"
  done
  echo "(other_bytes: RocksDB's MANIFEST, OPTIONS, LOG, CURRENT, IDENTITY; wal_bytes: the write-ahead log after the compaction's flush)"
  rm -rf "$work/w"
fi
[ "${SKIP_QUERY:-0}" = 1 ] && exit 0

# ---- (b) a large store, then query latency ----
if [ -n "${STORE:-}" ]; then
  data=$STORE/data
  key=$(sed -n 's/.*"api_key":"\([^"]*\)".*/\1/p' "$STORE/tenant.json")
  rcpts=$STORE/recipients.txt
  events=$(sed -n 's/^GENERATED .*events=\([0-9]*\).*/\1/p' "$STORE/generate.out")
else
  # The store takes 0.51 GB per million events (measured at 10 and 30 million), plus up to 256 MB
  # of write-ahead log and compaction's working space: ask for 0.55 GB per million plus 2 GB, and
  # never less than 40 GB for a run of 50 million or more, so that it does not fill a shared disk.
  avail=$(df -B1 --output=avail "$work" | tail -n 1 | tr -d ' ')
  need=$(python3 -c "e=$EVENTS; n=e*0.55e3+2e9; print(int(max(n, 40e9) if e >= 50e6 else n))")
  if [ "$avail" -lt "$need" ]; then
    echo "refusing to generate $EVENTS events: $((avail / 1000000000)) GB free on" \
      "$(df --output=target "$work" | tail -n 1), need $((need / 1000000000)) GB (0.51 GB per million events)"
    exit 1
  fi
  data=$work/data
  "$BIN" tenant create big --data-dir "$data" > "$work/tenant.json"
  key=$(sed -n 's/.*"api_key":"\([^"]*\)".*/\1/p' "$work/tenant.json")
  tid=$(sed -n 's/.*"tenant_id":"\([^"]*\)".*/\1/p' "$work/tenant.json")
  rcpts=$work/recipients.txt
  compact=(); [ "${COMPACT:-0}" = 1 ] && compact=(--compact)
  echo "load before generate: $(cut -d' ' -f1-3 /proc/loadavg)"
  "$BENCH" generate --dir "$data" --events "$EVENTS" --tenants 1000 --days 30 --big-tenant "$tid" \
    --big-share 0.05 --recipients-out "$rcpts" "${compact[@]}" | tee "$work/generate.out"
  events=$(sed -n 's/^GENERATED .*events=\([0-9]*\).*/\1/p' "$work/generate.out")
fi
"$BENCH" sizes --dir "$data/spool" | grep -v 'name=default'
du_bytes=$(du -sb "$data" | cut -f1)
log_bytes=$("$BENCH" sizes --dir "$data/spool" | sed -n 's/.*name=log sst_bytes=\([0-9]*\).*/\1/p')
python3 -c "e=$events; d=$du_bytes; l=$log_bytes
print(f'DISK events={e} data_dir_bytes={d} ({d/1e9:.1f} GB) per_million_events={d/e*1e6/1e6:.0f} MB; '
      f'log column {l/1e9:.1f} GB, {l/e*1e6/1e6:.0f} MB per million events')"

cat > "$work/mp.toml" <<TOML
[delivery]
enabled = false
[submission]
listen = ""
[domains]
require_verified = false
[events]
retention_days = 90
TOML
# Not start_server from lib.sh: opening a large store can replay up to 256 MB of write-ahead log.
serve() {
  : > "$work/server.log"  # before the server opens it, so the wait below can read it at once
  "$BIN" serve --data-dir "$data" --config "$work/mp.toml" --http-listen 127.0.0.1:0 2>> "$work/server.log" &
  server_pid=$!
  pids+=($server_pid)
  port=""
  for _ in $(seq 1200); do
    port=$(sed -n 's/.*"event":"http.listening".*"port":\([0-9]*\).*/\1/p' "$work/server.log")
    [ -n "$port" ] && break; sleep 0.1
  done
  [ -n "$port" ] || { echo "server did not start"; cat "$work/server.log"; exit 1; }
}
since=$(date -u -d '24 hours ago' +%Y-%m-%dT%H:%M:%SZ)
serve
echo "load before queries: $(cut -d' ' -f1-3 /proc/loadavg)"
bounced=$(node bench/event_log_query.mjs "$port" "$key" bounced "$QUERIES" "$since")
echo "$bounced"
recipient=$(node bench/event_log_query.mjs "$port" "$key" recipient "$QUERIES" "$rcpts")
echo "$recipient"
echo "load after queries: $(cut -d' ' -f1-3 /proc/loadavg); server rss: $(ps -o rss= -p "$server_pid" | tr -d ' ') KB"
kill -TERM "$server_pid"; wait "$server_pid" || true

# The same with nothing of the store in memory: the server restarted (empty block cache) and the
# store's files dropped from the page cache (posix_fadvise DONTNEED on each file, which touches
# no other file on the machine). A store larger than the memory is in this state for most of
# its older data, so this is the recipient lookup's figure for a store that does not fit.
evict() {
  python3 - "$data" <<'PY'
import os, sys
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        fd = os.open(os.path.join(root, f), os.O_RDONLY)
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
PY
}
evict
serve
recipient_cold=$(node bench/event_log_query.mjs "$port" "$key" recipient "$QUERIES" "$rcpts")
echo "$recipient_cold (cold)"
kill -TERM "$server_pid"; wait "$server_pid" || true
evict
serve
bounced_cold=$(node bench/event_log_query.mjs "$port" "$key" bounced "$QUERIES" "$since")
echo "$bounced_cold (cold)"
kill -TERM "$server_pid"; wait "$server_pid" || true

verdict() {  # LINE TARGET_MS NAME
  local p99; p99=$(echo "$1" | sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p')
  if python3 -c "import sys; sys.exit(0 if $p99 <= $2 else 1)"; then
    echo "TARGET $3 p99 $p99 ms <= $2 ms: met"
  else
    echo "TARGET $3 p99 $p99 ms > $2 ms: MISSED"
  fi
}
verdict "$bounced" 20 "bounced first page (last 24 h)"
verdict "$bounced_cold" 20 "bounced first page (last 24 h), cold start"
verdict "$recipient" 50 "recipient lookup"
verdict "$recipient_cold" 50 "recipient lookup, cold start"
