#!/usr/bin/env bash
# make run: starts mailplane on embedded storage in ./var, creating a first tenant the first time,
# and prints how to send a message with curl (or over SMTP) and watch it being delivered.
#
# Unless MAILPLANE_DELIVERY=mx, mail is delivered to a local `mailplane sink` (127.0.0.1:2525),
# so the walkthrough works offline and sends nothing to the Internet. With MAILPLANE_DELIVERY=mx,
# mailplane delivers to the recipients' real MX hosts (port 25 must be open outbound).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/release/mailplane
DATA=${MAILPLANE_DATA_DIR:-var}
LISTEN=${MAILPLANE_HTTP_LISTEN:-127.0.0.1:8025}
SUBMISSION=${MAILPLANE_SUBMISSION_LISTEN:-127.0.0.1:2587}
SINK=${MAILPLANE_SINK_LISTEN:-127.0.0.1:2525}
MODE=${MAILPLANE_DELIVERY:-sink}
mkdir -p "$DATA"
if [ ! -s "$DATA/first-tenant.json" ]; then
  umask 077
  "$BIN" tenant create default --data-dir "$DATA" > "$DATA/first-tenant.json"
fi
# A self-signed certificate for STARTTLS on the submission port (a real one goes in the config).
if [ ! -s "$DATA/submission-cert.pem" ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=localhost" \
    -keyout "$DATA/submission-key.pem" -out "$DATA/submission-cert.pem" 2>/dev/null
fi
{
  echo "# Written by make run ($MODE mode). Every option: docs/configuration.md"
  echo "# A local trial: mail from domains you have not registered (POST /v1/domains) goes out"
  echo "# unsigned instead of being refused. Production keeps the default, true."
  echo "[domains]"
  echo "require_verified = false"
  echo "[submission]"
  echo "listen = \"$SUBMISSION\""
  echo "tls_cert = \"$DATA/submission-cert.pem\""
  echo "tls_key = \"$DATA/submission-key.pem\""
  if [ "$MODE" != mx ]; then
    echo "[[delivery.routes]]"
    echo "domain = \"*\""
    echo "relay = \"$SINK\""
    echo "tls = \"disabled\""
  fi
} > "$DATA/run.toml"
KEY=$(sed -n 's/.*"api_key":"\([^"]*\)".*/\1/p' "$DATA/first-tenant.json")

sink_pid=""
if [ "$MODE" != mx ]; then
  "$BIN" sink --listen "$SINK" --maildir "$DATA/sink-maildir" --stats-interval-ms 5000 \
    > "$DATA/sink.log" 2>&1 &
  sink_pid=$!
  trap 'kill -TERM $sink_pid 2>/dev/null || true' EXIT
fi
where="to a local mailplane sink on $SINK (received mail: $DATA/sink-maildir/new/)"
[ "$MODE" = mx ] && where="to the recipients' MX hosts"
cat <<MSG

mailplane is starting on http://$LISTEN, SMTP submission on $SUBMISSION (data in $DATA/,
Ctrl-C to stop). Mail is delivered $where.
Your first tenant's API key is in $DATA/first-tenant.json. Send a first message:

  curl -s http://$LISTEN/v1/messages \\
    -H 'Authorization: Bearer $KEY' \\
    -H 'Content-Type: application/json' \\
    -d '{"from":"you@example.com","to":["friend@example.org"],"subject":"Hello","text":"My first message through mailplane."}'

Then watch it being delivered (status "delivered", with the SMTP reply of each attempt):

  curl -s http://$LISTEN/v1/messages/<id> -H 'Authorization: Bearer $KEY'

Or submit over SMTP (STARTTLS, the API key as password):

  swaks --server $SUBMISSION --tls --auth PLAIN --auth-user any --auth-password '$KEY' \\
    --from you@example.com --to friend@example.org

MSG
"$BIN" serve --data-dir "$DATA" --config "$DATA/run.toml" --http-listen "$LISTEN" --log-level info &
serve_pid=$!
trap 'kill -TERM $serve_pid 2>/dev/null || true; wait $serve_pid 2>/dev/null || true; [ -n "$sink_pid" ] && kill -TERM $sink_pid 2>/dev/null || true' EXIT INT TERM
wait $serve_pid
