#!/bin/bash
# Produces tests/data/reports/postfix_dsn_550.eml and postfix_dsn_delayed.eml: real DSNs from a
# private Postfix. Three loopback peers, none of them the system Postfix:
#   sender   private Postfix "mta.sender.test": takes the test message by SMTP, relays remote.test
#            to the receiver, and sends its DSNs for bounces.sender.test to the sink
#   receiver private Postfix "mx.remote.test": accepts alice@remote.test only (550 5.1.1 for other
#            users), answers 450 4.2.1 to slow@remote.test (access map)
#   sink     tests/peers/smtp_peer.py --mode accept: records the DSN bytes exactly as received
# Needs root (Postfix daemons), postfix (Debian package), python3, ss (iproute2), setsid.
# Usage: make_postfix_fixtures.sh [OUTDIR]   (default: this folder; README.md says what it made)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../../.." && pwd)
OUT=${1:-$HERE}
DIR=$(mktemp -d /tmp/mp-report-fixtures-XXXXXX)
chmod 755 "$DIR"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${PIDS[@]}"; do kill -KILL -- "-$p" 2>/dev/null || true; done
  [ -n "${KEEP:-}" ] || rm -rf "$DIR"
}
trap cleanup EXIT
PF_UID=$(id -u postfix); PF_GID=$(id -g postfix)
DAEMON_DIR=$(postconf -d -h daemon_directory)
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The sink first: its port goes into the sender's transport map.
setsid python3 "$SRC/tests/peers/smtp_peer.py" --ip 127.0.0.1 --port 0 --mode accept \
  --hostname sink.sender.test >"$DIR/sink.jsonl" 2>"$DIR/sink.err" &
PIDS+=($!)
for _ in $(seq 50); do grep -q '"ready"' "$DIR/sink.jsonl" 2>/dev/null && break; sleep 0.1; done
SINK_PORT=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["port"])' "$DIR/sink.jsonl")
RECV_PORT=$(freeport); SEND_PORT=$(freeport)

# instance NAME HOSTNAME PORT main.cf-settings...
instance() {
  local name=$1 host=$2 port=$3; shift 3
  local d="$DIR/$name" conf="$DIR/$name/etc"
  mkdir -p "$conf" "$d/queue"
  cp /usr/share/postfix/master.cf.dist "$conf/master.cf"
  : >"$conf/main.cf"
  postconf -c "$conf" -e \
    "compatibility_level = 3.6" "queue_directory = $d/queue" "data_directory = $d/data" \
    "mail_owner = postfix" "setgid_group = postdrop" "myhostname = $host" \
    "myorigin = \$myhostname" "mydestination =" "relay_domains =" "local_recipient_maps =" \
    "alias_maps =" "alias_database =" "inet_interfaces = 127.0.0.1" "inet_protocols = ipv4" \
    "mynetworks = 127.0.0.0/8" "smtpd_peername_lookup = no" "smtpd_error_sleep_time = 0" \
    "smtp_dns_support_level = disabled" "default_transport = error:outbound delivery disabled" \
    "relay_transport = error:outbound delivery disabled" \
    "local_transport = error:local delivery disabled" "maillog_file = $d/maillog" "maillog_file_prefixes = $DIR" \
    "biff = no" "append_dot_mydomain = no" "$@"
  postconf -c "$conf" -F '*/*/chroot = n'
  for svc in $(postconf -c "$conf" -M | awk '$2 == "inet" {print $1}'); do postconf -c "$conf" -X -M "$svc/inet"; done
  postconf -c "$conf" -M "127.0.0.1:$port/inet = 127.0.0.1:$port inet n - n - - smtpd"
  for f in "$conf"/*; do [ -f "$f" ] && touch -d '-10 seconds' "$f"; done
  postfix -c "$conf" check
  setsid "$DAEMON_DIR/master" -c "$conf" -s 2>"$d/master.err" &
  PIDS+=($!)
  for _ in $(seq 100); do ss -ltn "sport = :$port" | grep -q LISTEN && return 0; sleep 0.1; done
  echo "$name did not start" >&2; cat "$d/maillog" >&2 || true; exit 1
}

mkdir -p "$DIR/receiver/etc" "$DIR/receiver/mail"; chown "$PF_UID:$PF_GID" "$DIR/receiver/mail"
echo 'alice@remote.test alice@remote.test/' >"$DIR/receiver/etc/vmailbox"
echo 'slow@remote.test 450 4.2.1 <slow@remote.test>: Mailbox temporarily unavailable, try again later' \
  >"$DIR/receiver/etc/recipient_access"
instance receiver mx.remote.test "$RECV_PORT" \
  "mydomain = remote.test" "virtual_mailbox_domains = remote.test" \
  "virtual_mailbox_maps = texthash:$DIR/receiver/etc/vmailbox" \
  "virtual_mailbox_base = $DIR/receiver/mail" "virtual_minimum_uid = 1" \
  "virtual_uid_maps = static:$PF_UID" "virtual_gid_maps = static:$PF_GID" \
  "smtpd_relay_restrictions = reject_unauth_destination" \
  "smtpd_recipient_restrictions = check_recipient_access texthash:$DIR/receiver/etc/recipient_access"

mkdir -p "$DIR/sender/etc"
printf 'remote.test smtp:[127.0.0.1]:%s\nbounces.sender.test smtp:[127.0.0.1]:%s\n' "$RECV_PORT" "$SINK_PORT" \
  >"$DIR/sender/etc/transport"
# delay_warning_time 1s and short back-off: a delay warning within seconds instead of hours.
instance sender mta.sender.test "$SEND_PORT" \
  "mydomain = sender.test" "transport_maps = texthash:$DIR/sender/etc/transport" \
  "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination" \
  "delay_warning_time = 1s" "minimal_backoff_time = 1s" "maximal_backoff_time = 2s" \
  "queue_run_delay = 1s"

# The test messages, MAIL FROM a VERP address of mailplane's format (key and id fixed, see README).
python3 - "$SEND_PORT" <<'PY'
import base64, hmac, hashlib, smtplib, sys
key = b"mailplane-test-verp-key-0123456789"
def verp(mid_hex):
    mid = bytes.fromhex(mid_hex)
    mac = hmac.new(key, mid, hashlib.sha256).digest()[:8]
    return "b+" + base64.b32encode(mid + mac).decode().rstrip("=").lower() + "@bounces.sender.test"
msgs = [("0192a3b4c5d6e7f8091a2b3c4d5e6f70", "nobody@remote.test", "Your invoice", "01JAHV9HEPWVW0J6HB7F6QTKVG"),
        ("0192a3b4c5d6e7f8091a2b3c4d5e6f71", "slow@remote.test", "Your receipt", "01JAHV9HEPWVW0J6HB7F6QTKVH")]
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="app.sender.test") as s:
    for mid, rcpt, subject, ulid in msgs:
        body = (f"From: Sender Test <news@sender.test>\r\nTo: <{rcpt}>\r\nSubject: {subject}\r\n"
                f"Date: Tue, 15 Oct 2024 10:00:00 +0000\r\nMessage-ID: <{ulid}@sender.test>\r\n"
                "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                "Hello, this is a test message.\r\n")
        s.sendmail(verp(mid), [rcpt], body)
        print("sent", verp(mid), "->", rcpt)
PY

# Two DSNs: the bounce (550) and the delay warning (450, after delay_warning_time).
for _ in $(seq 300); do
  [ "$(grep -c '"event": "txn"' "$DIR/sink.jsonl" || true)" -ge 2 ] && break; sleep 0.1
done
python3 - "$DIR/sink.jsonl" "$OUT" <<'PY'
import base64, json, sys
txns = [json.loads(l) for l in open(sys.argv[1]) if '"txn"' in l]
assert len(txns) >= 2, f"only {len(txns)} DSNs arrived"
for t in txns:
    data = base64.b64decode(t["data"])
    name = "postfix_dsn_delayed.eml" if b"Action: delayed" in data else "postfix_dsn_550.eml"
    open(f"{sys.argv[2]}/{name}", "wb").write(data)
    print("wrote", name, "MAIL FROM <%s> RCPT TO %s" % (t["mailFrom"], t["rcptTo"]))
PY
echo "sender log:"; cat "$DIR/sender/maillog"
