#!/usr/bin/env bash
# End-to-end check of `kamirelay serve --demo` with independent peers, the way a newcomer runs it:
#   - the demo starts from an empty data directory and prints its URL;
#   - curl (trusting the demo CA) gets /healthz with security headers; an unknown Host gets 421;
#   - Python `websockets` (Debian python3-websockets) chats in Chinese about an order, sends a
#     card key and a phone number and sees them masked, resends a message (not answered twice);
#   - a foreign Origin cannot open a chat (403);
#   - the HTTP API: a key made with `kamirelay tenants api-key create`, curl POST /v1/messages
#     (masked, answered; a resend is answered from the store), no key → 401 (HEAD too);
#   - the plain-HTTP listener (--http-port) only redirects to HTTPS (308);
#   - SIGTERM stops the server cleanly (exit 0, chats drained, store flushed);
#   - neither the planted card key nor the phone number is in the logs or in any file of the
#     data directory.
# Usage: scripts/check-relay.sh [path/to/kamirelay]   (default: the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${1:-$(swift build --show-bin-path)/kamirelay}
[[ -x "$BIN" ]] || swift build --product kamirelay
[[ -x "$BIN" ]] || { echo "check-relay: $BIN not found" >&2; exit 2; }
PYTHON=python3
if /usr/bin/python3 -c 'import websockets' 2>/dev/null; then PYTHON=/usr/bin/python3; fi
"$PYTHON" -c 'import websockets' 2>/dev/null || { echo "check-relay: python3 websockets missing (apt-get install python3-websockets)" >&2; exit 2; }

# Waits bound hangs only: on a loaded CI machine (2 cores) the debug server can take many
# seconds to start or answer, so waits poll with a generous deadline instead of a fixed sleep.
WAIT_SECONDS=120
curl() { command curl --max-time "$WAIT_SECONDS" "$@"; }

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
    if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# The redirect listener needs a fixed port (the demo reports only the HTTPS one): a free port
# picked here can be taken by another process before the server binds it, so a start that
# fails is retried on a fresh port.
for attempt in 1 2 3; do
    HTTP_PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    rm -rf "$WORK/data" "$WORK/port"
    "$BIN" serve --demo --data-dir "$WORK/data" --port 0 --http-port "$HTTP_PORT" --port-file "$WORK/port" --log-level info \
        >"$WORK/stdout.log" 2>"$WORK/stderr.log" &
    SERVER_PID=$!
    for _ in $(seq 1 $((WAIT_SECONDS * 10))); do
        [[ -s "$WORK/port" ]] && break
        kill -0 "$SERVER_PID" 2>/dev/null || break  # it died: no use waiting
        sleep 0.1
    done
    [[ -s "$WORK/port" ]] && break
    kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
    echo "check-relay: server did not start (attempt $attempt, HTTP port $HTTP_PORT):"; tail -5 "$WORK/stderr.log"
done
[[ -s "$WORK/port" ]] || { echo "check-relay: server did not start"; cat "$WORK/stderr.log"; exit 1; }
PORT=$(cat "$WORK/port")
CA="$WORK/data/tls/root.pem"
ORDER=$(awk '/status 4 /{print $1; exit}' "$WORK/stdout.log")
CARD_KEY="QWER-TYUI-PASD-FGHJ"
PHONE="13912345678"

FAILED=0
check() { if "$@"; then echo "ok   $CHECK"; else echo "FAIL $CHECK"; FAILED=1; fi; }

CHECK="demo prints its https:// URL"; check grep -q -e "https://localhost:$PORT/ " "$WORK/stdout.log"
CHECK="demo prints its wss:// URL"; check grep -q "wss://localhost:$PORT/chat" "$WORK/stdout.log"
CHECK="loud development-key warning"; check grep -q "NOT FOR PRODUCTION" "$WORK/stderr.log"
HEALTH=$(curl -sS -i --cacert "$CA" "https://localhost:$PORT/healthz")
CHECK="curl /healthz over TLS, verified against the demo CA"; check grep -q "^HTTP/1.1 200" <<<"$HEALTH"
CHECK="HSTS and CSP on responses"; check grep -qi "^strict-transport-security: max-age" <<<"$HEALTH"
CHECK="unknown Host refused with 421"; check test "$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$CA" -H 'Host: evil.example' "https://localhost:$PORT/healthz")" = 421
CHECK="Python websockets chat (order question, masking, idempotent resend, foreign Origin refused)"
check "$PYTHON" scripts/relay_chat_check.py "$PORT" "$CA" "$ORDER" "$CARD_KEY"

# The HTTP API with a key made by the CLI (the demo's passphrase is public on purpose).
KEY=$(KAMIRELAY_PASSPHRASE='kamirelay-demo-NOT-FOR-PRODUCTION' "$BIN" tenants api-key create --tenant demo \
    --data-dir "$WORK/data" --keys-dir "$WORK/data/keys" --label check 2>/dev/null)
BODY="{\"client_message_id\":\"curl-1\",\"text\":\"卡密$CARD_KEY 无效，电话$PHONE\"}"
api() { curl -sS --cacert "$CA" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' "$@"; }
FIRST=$(api -d "$BODY" "https://localhost:$PORT/v1/messages")
CHECK="API: POST /v1/messages stores the masked text and answers"
check "$PYTHON" -c 'import json,sys; r=json.loads(sys.argv[1]); assert "[CARD_KEY]" in r["customer_message"]["text"] and r["reply"]["role"]=="bot" and set(r["redaction"]["types"])=={"card_key","phone"}, r' "$FIRST"
AGAIN=$(api -d "$BODY" "https://localhost:$PORT/v1/messages")
CHECK="API: a resend is answered from the store (duplicate)"
check "$PYTHON" -c 'import json,sys; a,b=json.loads(sys.argv[1]),json.loads(sys.argv[2]); assert b["duplicate"] and b["customer_message"]["id"]==a["customer_message"]["id"], b' "$FIRST" "$AGAIN"
SESSION=$("$PYTHON" -c 'import json,sys; print(json.loads(sys.argv[1])["session"])' "$FIRST")
CHECK="API: GET /v1/sessions/ID/messages lists the session"
check test "$(api "https://localhost:$PORT/v1/sessions/$SESSION/messages" | "$PYTHON" -c 'import json,sys; print(len(json.load(sys.stdin)["messages"]))')" = 2
CHECK="API: no key → 401"; check test "$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$CA" -d "$BODY" "https://localhost:$PORT/v1/messages")" = 401
# HEAD answers like GET without the body (curl --head), and needs the key like GET.
CHECK="HEAD /healthz: 200, no body"
check test "$(curl -sS --head -o /dev/null -w '%{http_code} %{size_download}' --cacert "$CA" "https://localhost:$PORT/healthz")" = "200 0"
CHECK="HEAD /v1/sessions/ID/messages without a key → 401"
check test "$(curl -sS --head -o /dev/null -w '%{http_code}' --cacert "$CA" "https://localhost:$PORT/v1/sessions/x/messages")" = 401
REDIRECT=$(curl -sS -i "http://localhost:$HTTP_PORT/healthz?x=1")
CHECK="plain HTTP only redirects: 308 to https"; check grep -qi "^location: https://localhost:$PORT/healthz?x=1" <<<"$REDIRECT"
CHECK="plain HTTP: unknown Host → 421"; check test "$(curl -sS -o /dev/null -w '%{http_code}' -H 'Host: evil.example' "http://localhost:$HTTP_PORT/")" = 421

kill -TERM "$SERVER_PID"
STATUS=0; wait "$SERVER_PID" || STATUS=$?
SERVER_PID=
CHECK="SIGTERM: clean exit"; check test "$STATUS" = 0
CHECK="SIGTERM: chats drained and store flushed"; check grep -q "relay.drained" "$WORK/stderr.log"
CHECK="planted card key, phone and API key in no log line"; check bash -c "! grep -q -e '$CARD_KEY' -e '$PHONE' -e '$KEY' '$WORK/stdout.log' '$WORK/stderr.log'"
CHECK="planted card key, phone and API key in no file of the data directory"; check bash -c "! grep -r -q -a -e '$CARD_KEY' -e '$PHONE' -e '$KEY' '$WORK/data'"

exit $FAILED
