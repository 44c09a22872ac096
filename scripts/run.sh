#!/usr/bin/env bash
# make run: starts mailplane on embedded storage in ./var, creating a first tenant the first time,
# and prints how to send a message with curl.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/release/mailplane
DATA=${MAILPLANE_DATA_DIR:-var}
LISTEN=${MAILPLANE_HTTP_LISTEN:-127.0.0.1:8025}
mkdir -p "$DATA"
if [ ! -s "$DATA/first-tenant.json" ]; then
  umask 077
  "$BIN" tenant create default --data-dir "$DATA" > "$DATA/first-tenant.json"
fi
KEY=$(sed -n 's/.*"api_key":"\([^"]*\)".*/\1/p' "$DATA/first-tenant.json")
cat <<MSG

mailplane is starting on http://$LISTEN (data in $DATA/, Ctrl-C to stop).
Your first tenant's API key is in $DATA/first-tenant.json. Send a first message:

  curl -s http://$LISTEN/v1/messages \\
    -H 'Authorization: Bearer $KEY' \\
    -H 'Content-Type: application/json' \\
    -d '{"from":"you@example.com","to":["friend@example.org"],"subject":"Hello","text":"My first message through mailplane."}'

Then read it back: curl -s http://$LISTEN/v1/messages/<id> -H 'Authorization: Bearer $KEY'

MSG
exec "$BIN" serve --data-dir "$DATA" --http-listen "$LISTEN" --log-level info
