#!/usr/bin/env bash
# Baseline: durable SMTP relay throughput of Postfix on this machine, loopback only.
#
#   smtp-source --SMTP--> private Postfix instance --SMTP--> smtp-sink
#
# Postfix answers 250 to the end of DATA only once the queue file is fsynced, so every message
# costs a sync. accepted_per_sec = messages / wall time of smtp-source; relayed_per_sec =
# messages / (start of sending -> smtp-sink has seen the last one).
#
# Prints: RESULT postfix accepted_per_sec=<f> relayed_per_sec=<f> messages=<N> size=<bytes>
# With MAILPLANE_SINK_BIN set, Postfix relays to `mailplane sink` instead of smtp-sink, so that
# it and mailplane deliver to the same receiver (bench/e2e.sh does this).
# Knobs: POSTFIX_MESSAGES (default 5000), POSTFIX_SESSIONS (32), POSTFIX_SIZE (2048),
#        POSTFIX_RELAY_TIMEOUT (120 s to wait for the sink after sending ends).
#
# It never touches the system Postfix (/etc/postfix is only read, port 25 is never opened):
# it runs a private instance with its own config_directory, queue_directory and
# data_directory in a temporary directory, removed on exit. Needs root (Postfix does).
# Everything listens on and connects to 127.0.0.1 only.
set -euo pipefail

N=${POSTFIX_MESSAGES:-5000}
SESSIONS=${POSTFIX_SESSIONS:-32}
SIZE=${POSTFIX_SIZE:-2048}
RELAY_TIMEOUT=${POSTFIX_RELAY_TIMEOUT:-120}

log() { echo "postfix.sh: $*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (Postfix master and smtp-sink -u need it)"

# --- Install Postfix (for smtp-source, smtp-sink and the MTA itself) only if missing. --------
if ! [ -x /usr/sbin/postfix ] || ! [ -x /usr/sbin/smtp-source ] || ! [ -x /usr/sbin/smtp-sink ]; then
  log "installing postfix (No configuration: no system-wide mail server is set up)"
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  install_postfix() {
    # Refuse if installing would remove packages (another MTA such as exim4 conflicts).
    if apt-get install -s --no-install-recommends postfix 2>/dev/null | grep -q '^Remv '; then
      die "installing postfix would remove packages (another MTA?); not doing that"
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postfix
  }
  install_postfix >&2 || { apt-get update >&2 && install_postfix >&2; } \
    || die "could not install postfix"
fi
for b in /usr/sbin/postfix /usr/sbin/postconf /usr/sbin/smtp-source /usr/sbin/smtp-sink; do
  [ -x "$b" ] || die "$b is missing"
done
id postfix >/dev/null 2>&1 || die "user 'postfix' is missing"
getent group postdrop >/dev/null || die "group 'postdrop' is missing"

# --- Private workspace. --------------------------------------------------------------------
T=$(mktemp -d /tmp/postfix-bench.XXXXXX)
chmod 755 "$T"                      # Postfix daemons run as 'postfix' and must traverse it
[ "$(stat -f -c %T "$T")" = tmpfs ] && log "warning: $T is on tmpfs, fsync is free there: figures are not comparable"
CONF=$T/etc
sink_pid=""
postfix_started=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$postfix_started" ]; then
    /usr/sbin/postfix -c "$CONF" stop >/dev/null 2>&1 || true
  fi
  if [ -n "$sink_pid" ]; then kill -TERM "$sink_pid" 2>/dev/null || true; wait "$sink_pid" 2>/dev/null || true; fi
  rm -rf "$T"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Two distinct free loopback ports, below the ephemeral range (so no client connection, e.g.
# one of the thousands smtp-source opens, can be holding them) and unused in any TCP state.
pick_ports() {
  python3 - <<'PY'
import random, socket, subprocess
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
used = set()
for line in subprocess.run(["ss", "-tanH"], capture_output=True, text=True).stdout.splitlines():
    f = line.split()
    for addr in f[3:5]:
        try: used.add(int(addr.rsplit(":", 1)[1]))
        except (IndexError, ValueError): pass
got = []
for p in random.sample(range(20000, max(lo, 20002)), 200):
    if p in used: continue
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try: s.bind(("127.0.0.1", p))
    except OSError: continue
    finally: s.close()
    got.append(p)
    if len(got) == 2: break
print(*got)
PY
}
read -r SMTPD_PORT SINK_PORT < <(pick_ports)
[ -n "${SINK_PORT:-}" ] || die "could not find free ports"

listening() { ss -ltnH "src 127.0.0.1:$1" 2>/dev/null | grep -q .; }

# --- smtp-sink: counts what Postfix relays. -c prints "sess=.. quit=.. mesg=N\r" on each '.'. --
if [ -n "${MAILPLANE_SINK_BIN:-}" ]; then
  "$MAILPLANE_SINK_BIN" sink --listen "127.0.0.1:$SINK_PORT" --stats-interval-ms 50 >"$T/sink.out" 2>"$T/sink.err" &
else
  /usr/sbin/smtp-sink -c -u postfix "127.0.0.1:$SINK_PORT" 256 >"$T/sink.out" 2>"$T/sink.err" &
fi
sink_pid=$!
for _ in $(seq 100); do listening "$SINK_PORT" && break; sleep 0.05; done
listening "$SINK_PORT" || { cat "$T/sink.err" >&2; die "smtp-sink did not start"; }

sink_count() {  # last complete "... mesg=N\r" record in smtp-sink's counter output
  if [ -n "${MAILPLANE_SINK_BIN:-}" ]; then  # or the last stats line of mailplane sink
    local n
    n=$(tail -n 1 "$T/sink.out" 2>/dev/null | sed -n 's/.*"messages":\([0-9]*\).*/\1/p')
    echo "${n:-0}"; return
  fi
  local tail_
  tail_=$(tail -c 64 "$T/sink.out" 2>/dev/null) || true
  if [[ $tail_ =~ .*mesg=([0-9]+)$'\r' ]]; then echo "${BASH_REMATCH[1]}"; else echo 0; fi
}

# --- Private Postfix instance. ---------------------------------------------------------------
mkdir -p "$CONF"
mkdir -m 755 "$T/queue"            # postfix(1) chdirs here before anything else
cp /usr/share/postfix/master.cf.dist "$CONF/master.cf" 2>/dev/null || cp /etc/postfix/master.cf.proto "$CONF/master.cf" \
  || die "no master.cf template found"
cp /usr/share/postfix/main.cf.debian "$CONF/main.cf" 2>/dev/null || : >"$CONF/main.cf"
pc() { /usr/sbin/postconf -c "$CONF" "$@"; }
pc -e \
  "compatibility_level = 3.6" \
  "queue_directory = $T/queue" \
  "data_directory = $T/data" \
  "mail_owner = postfix" \
  "setgid_group = postdrop" \
  "myhostname = bench.localdomain" \
  "mydomain = localdomain" \
  "myorigin = bench.example" \
  "mydestination =" \
  "relay_domains =" \
  "local_recipient_maps =" \
  "alias_maps =" \
  "alias_database =" \
  "inet_interfaces = 127.0.0.1" \
  "inet_protocols = ipv4" \
  "mynetworks = 127.0.0.0/8" \
  "relayhost = [127.0.0.1]:$SINK_PORT" \
  "smtp_bind_address = 127.0.0.1" \
  "smtp_dns_support_level = disabled" \
  "smtp_tls_security_level = none" \
  "smtpd_tls_security_level = none" \
  "maillog_file = $T/maillog" \
  "maillog_file_prefixes = $T" \
  "biff = no" \
  "append_dot_mydomain = no"
# Replace the port-25 listener with one on our private port; no chroot (the private queue
# directory has none of the files a chroot jail needs, and it buys nothing here).
pc -X -M smtp/inet
pc -M "127.0.0.1:$SMTPD_PORT/inet = 127.0.0.1:$SMTPD_PORT inet n - n - - smtpd"
pc -F '*/*/chroot = n'
pc -M | grep -w inet | grep -qv "^127\.0\.0\.1:$SMTPD_PORT " && die "unexpected inet service in master.cf"

/usr/sbin/postfix -c "$CONF" check >"$T/check.log" 2>&1 || { cat "$T/check.log" "$T/maillog" >&2 2>/dev/null; die "postfix check failed"; }
postfix_started=1
/usr/sbin/postfix -c "$CONF" start >"$T/start.log" 2>&1 \
  || { cat "$T/start.log" "$T/maillog" >&2 2>/dev/null; die "postfix start failed"; }
for _ in $(seq 100); do listening "$SMTPD_PORT" && break; sleep 0.05; done
listening "$SMTPD_PORT" || { cat "$T/start.log" "$T/maillog" >&2 2>/dev/null; die "postfix smtpd is not listening"; }

# --- Drive it. -------------------------------------------------------------------------------
now() { local t=$EPOCHREALTIME; echo "${t/[.,]/}"; }  # microseconds, no fork
t0=$(now)
rc=0
timeout 150 /usr/sbin/smtp-source -c -s "$SESSIONS" -l "$SIZE" -m "$N" \
  -f sender@bench.example -t rcpt@example.org "127.0.0.1:$SMTPD_PORT" \
  >"$T/source.out" 2>"$T/source.err" || rc=$?
t1=$(now)
if [ "$rc" != 0 ] || [ -s "$T/source.err" ]; then
  head -20 "$T/source.err" >&2
  tail -20 "$T/maillog" >&2 2>/dev/null || true
  die "smtp-source failed (exit $rc)"
fi
sent=$(tr '\r' '\n' <"$T/source.out" | grep -E '^[0-9]+$' | tail -n 1 || true)
[ "${sent:-}" = "$N" ] || log "warning: smtp-source counter shows ${sent:-?} of $N messages"

deadline=$((t1 + RELAY_TIMEOUT * 1000000))
got=$(sink_count); t2=$(now)
while [ "$got" -lt "$N" ]; do
  [ "$(now)" -gt "$deadline" ] && break
  sleep 0.05
  got=$(sink_count); t2=$(now)
done

sent_ok=$(grep -c 'status=sent' "$T/maillog" 2>/dev/null || true)
if [ "$got" -lt "$N" ]; then
  log "warning: smtp-sink saw only $got of $N messages within ${RELAY_TIMEOUT}s after sending ended"
  grep -E 'status=(deferred|bounced)|warning|fatal|panic' "$T/maillog" 2>/dev/null | tail -10 >&2 || true
fi

python3 - "$N" "$SIZE" "$t0" "$t1" "$t2" "$got" "$sent_ok" <<'PY'
import sys
n, size = int(sys.argv[1]), int(sys.argv[2])
t0, t1, t2 = (int(x) / 1e6 for x in sys.argv[3:6])
got, sent_ok = int(sys.argv[6]), sys.argv[7]
print(f"postfix.sh: sending {t1 - t0:.2f}s, last relayed at {t2 - t0:.2f}s, sink saw {got}, "
      f"postfix logged status=sent {sent_ok}", file=sys.stderr)
print(f"RESULT postfix accepted_per_sec={n / (t1 - t0):.1f} relayed_per_sec={got / (t2 - t0):.1f} "
      f"messages={n} size={size}")
PY
[ "$got" -ge "$N" ]
