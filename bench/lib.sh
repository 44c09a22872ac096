# Shared by the bench scripts (sourced): free loopback ports, a dnsmasq with MX records, starting
# `mailplane serve` and waiting for its HTTP port, tenant keys. The caller sets $work and $BIN and
# keeps child pids in the array `pids` for its cleanup trap.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
free_udp_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_dns PORT RECORD-ARGS...: dnsmasq, authoritative for .test, on 127.0.0.1:PORT.
start_dns() {
  local port=$1; shift
  dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
    --listen-address=127.0.0.1 --port="$port" --local=/test/ --local-ttl=300 --pid-file= \
    "$@" 2> "$work/dns.log" &
  pids+=($!)
  sleep 0.3
}

# MX records for d0..d9.bench.test, each its own MX host, all at 127.0.0.1.
ten_domains() {
  local i
  for i in $(seq 0 9); do
    echo "--mx-host=d$i.bench.test,mx$i.bench.test,10"
    echo "--host-record=mx$i.bench.test,127.0.0.1"
  done
}

tenant_key() { "$BIN" tenant create "$1" --data-dir "$work/data" | sed -n 's/.*"api_key":"\([^"]*\)".*/\1/p'; }

# start_server CONFIG: serves $work/data with CONFIG; sets server_pid and port.
start_server() {
  "$BIN" serve --data-dir "$work/data" --config "$1" --http-listen 127.0.0.1:0 2> "$work/server.log" &
  server_pid=$!
  pids+=($server_pid)
  port=""
  for _ in $(seq 100); do
    port=$(sed -n 's/.*"event":"http.listening".*"port":\([0-9]*\).*/\1/p' "$work/server.log")
    [ -n "$port" ] && break; sleep 0.1
  done
  [ -n "$port" ] || { echo "server did not start"; cat "$work/server.log"; exit 1; }
}

# The sink's delivered count from its last stats line in $work/sink.out.
sink_count() { tail -n 1 "$work/sink.out" | sed -n 's/.*"messages":\([0-9]*\).*/\1/p'; }

# write_batch SIZE FROM: $work/batch.json, a batch of 100 messages of about SIZE bytes from FROM to
# rcpt0..99 over d0..d9.bench.test.
write_batch() {
  python3 - "$work" "$1" "$2" <<'PY'
import json, sys
size = int(sys.argv[2])
text = ("The quick brown fox jumps over the lazy dog. " * (size // 45 + 1))[:max(100, size - 450)]
msgs = [{"from": sys.argv[3], "to": f"rcpt{i}@d{i % 10}.bench.test", "subject": f"bench {i}", "text": text} for i in range(100)]
open(sys.argv[1] + "/batch.json", "w").write(json.dumps({"messages": msgs}))
PY
}

# wrk_post KEY SECONDS CONCURRENCY: wrk (one thread) posts $work/batch.json to
# /v1/messages/batch on $port for SECONDS; prints "SUBMITTED count=... seconds=... rate=...
# errors=..." (count: messages in batches answered 202).
wrk_post() {
  cat > "$work/post.lua" <<LUA
local f = io.open("$work/batch.json"); local body = f:read("*a"); f:close()
wrk.method = "POST"; wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $1"
local bad = 0
function response(status) if status ~= 202 then bad = bad + 1 end end
function done(summary, latency, requests)
  io.write(string.format("SUBMITTED count=%d seconds=%.2f rate=%.0f errors=%d\n",
    (summary.requests - bad) * 100, summary.duration / 1e6,
    (summary.requests - bad) * 100 / (summary.duration / 1e6), bad))
end
LUA
  wrk -t1 -c"$3" -d"$2s" --timeout 30s -s "$work/post.lua" "http://127.0.0.1:$port/v1/messages/batch" | grep SUBMITTED
}

# wait_sink COUNT BEFORE T0: until the sink has COUNT messages more than BEFORE (at most 600 s
# after T0, a `date +%s.%N` time).
wait_sink() {
  local got
  while :; do
    got=$(sink_count); got=${got:-0}
    [ $((got - $2)) -ge "$1" ] && break
    if [ "$(echo "$(date +%s.%N) - $3 > 600" | bc)" = 1 ]; then echo "timeout: $((got - $2)) of $1"; break; fi
    sleep 0.05
  done
}
