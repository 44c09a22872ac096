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
