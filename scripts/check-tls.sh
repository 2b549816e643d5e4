#!/usr/bin/env bash
# Checks the TLS server profile with independent tools (openssl s_client, curl) against the real
# handler, run by `kamirelay tls-selftest-server` on loopback:
#   - TLS 1.0 and 1.1 are refused (the client really offers them: @SECLEVEL=0);
#   - of every TLS 1.2 suite this OpenSSL knows, only ECDHE + AES-GCM/CHACHA20-POLY1305 are
#     accepted (no CBC, no RSA key exchange, no DHE), for an ECDSA and an RSA certificate;
#   - TLS 1.3 works with each of its three suites; ALPN http/1.1 is agreed;
#   - the certificate chain (leaf + intermediate) is served and verifies against the root;
#   - curl fetches a page over TLS 1.3 and TLS 1.2;
#   - SIGHUP reloads the certificate: new connections get the new one.
# With --deep, also runs sslyze (pip install sslyze) against Mozilla's "intermediate" and, on a
# second server with the modern profile, "modern" configurations.
# Usage: scripts/check-tls.sh [--deep] [path/to/kamirelay]   (default: the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."

DEEP=0
if [[ ${1:-} == --deep ]]; then DEEP=1; shift; fi
BIN=${1:-$(swift build --show-bin-path)/kamirelay}
[[ -x "$BIN" ]] || swift build --product kamirelay
[[ -x "$BIN" ]] || { echo "check-tls: $BIN not found" >&2; exit 2; }
command -v openssl >/dev/null || { echo "check-tls: openssl not installed" >&2; exit 2; }
command -v curl >/dev/null || { echo "check-tls: curl not installed" >&2; exit 2; }

# Waits bound hangs only: on a loaded CI machine (2 cores) a debug server can take many seconds
# to start or answer, so every wait polls with a generous deadline instead of a fixed sleep.
WAIT_SECONDS=120

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
    if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# --max-seconds only reaps a server this script failed to stop; the check itself (hundreds of
# handshakes) can take minutes on a loaded machine, so it is not the check's time limit.
"$BIN" tls-selftest-server --dir "$WORK" --max-seconds 1800 >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 $((WAIT_SECONDS * 10))); do
    [[ -s "$WORK/port" ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break  # it died: no use waiting
    sleep 0.1
done
[[ -s "$WORK/port" ]] || { echo "check-tls: server did not start"; cat "$WORK/server.log"; exit 1; }
PORT=$(cat "$WORK/port")
ADDR=127.0.0.1:$PORT

FAILED=0
pass() { printf '  ok    %s\n' "$1"; }
fail() { printf '  FAIL  %s\n' "$1"; FAILED=1; }

# s_client ARGS... : one connection, no input; prints its output.
s_client() { timeout "$WAIT_SECONDS" openssl s_client -connect "$ADDR" "$@" </dev/null 2>&1 || true; }
# Negotiated protocol and cipher, e.g. "TLSv1.3 TLS_AES_128_GCM_SHA256", or "none".
negotiated() {
    s_client "$@" | awk '/^New, /{ if ($2 == "(NONE),") { print "none" } else { gsub(",", "", $2); print $2, $5 }; exit }'
}

echo "TLS check against $ADDR ($(openssl version))"

for v in tls1 tls1_1; do
    out=$(s_client -"$v" -cipher 'DEFAULT:@SECLEVEL=0' -servername localhost)
    if grep -q "no protocols available" <<<"$out"; then
        fail "$v: this OpenSSL client cannot offer $v, so the check proves nothing"
    elif [[ $(negotiated -"$v" -cipher 'DEFAULT:@SECLEVEL=0' -servername localhost) == none ]]; then
        pass "$v refused"
    else
        fail "$v accepted"
    fi
done

ALLOWED_RE='^ECDHE-(ECDSA|RSA)-(AES128-GCM-SHA256|AES256-GCM-SHA384|CHACHA20-POLY1305)$'
for target in "localhost ECDSA" "rsa.selftest RSA"; do
    set -- $target
    name=$1 kind=$2
    accepted=()
    for c in $(openssl ciphers -s -tls1_2 'ALL:COMPLEMENTOFALL:@SECLEVEL=0' | tr ':' ' '); do
        [[ $c == TLS_* ]] && continue  # TLS 1.3 suites are checked below
        r=$(negotiated -tls1_2 -cipher "$c:@SECLEVEL=0" -servername "$name")
        [[ $r != none ]] && accepted+=("$c")
    done
    bad=$(printf '%s\n' "${accepted[@]}" | grep -Ev "$ALLOWED_RE" || true)
    if [[ -n "$bad" ]]; then fail "TLS 1.2 ($kind certificate) accepts weak suites: $(echo $bad)"; else pass "TLS 1.2 ($kind certificate) accepts only: ${accepted[*]}"; fi
    [[ ${#accepted[@]} -eq 3 ]] || fail "TLS 1.2 ($kind certificate): expected 3 AEAD suites, got ${#accepted[@]}"
done

for s in TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256; do
    r=$(negotiated -tls1_3 -ciphersuites "$s" -servername localhost)
    [[ $r == "TLSv1.3 $s" ]] && pass "TLS 1.3 $s" || fail "TLS 1.3 $s: got '$r'"
done

out=$(s_client -tls1_3 -servername localhost -alpn h2,http/1.1 -showcerts -CAfile "$WORK/root.pem" -verify_return_error)
certs=$(grep -c "BEGIN CERTIFICATE" <<<"$out" || true)
grep -q "Verify return code: 0 (ok)" <<<"$out" && [[ $certs -eq 2 ]] \
    && pass "chain served (leaf + intermediate) and verified against the root" \
    || fail "chain: $certs certificates, $(grep 'Verify return code' <<<"$out")"
grep -q "ALPN protocol: http/1.1" <<<"$out" && pass "ALPN http/1.1" || fail "ALPN http/1.1 not agreed"

for v in 1.3 1.2; do
    body=$(curl -sS --max-time "$WAIT_SECONDS" --tlsv$v --tls-max $v --cacert "$WORK/root.pem" \
           --resolve "localhost:$PORT:127.0.0.1" "https://localhost:$PORT/" || true)
    [[ $body == "ok tenant=default protocol=TLSv$v alpn=http/1.1" ]] && pass "curl over TLS $v: $body" || fail "curl over TLS $v: '$body'"
done
body=$(curl -sS --max-time "$WAIT_SECONDS" --cacert "$WORK/root.pem" --resolve "rsa.selftest:$PORT:127.0.0.1" "https://rsa.selftest:$PORT/" || true)
[[ $body == "ok tenant=rsa-demo"* ]] && pass "SNI rsa.selftest → tenant rsa-demo" || fail "SNI tenant: '$body'"

if [[ $DEEP -eq 1 ]]; then
    if ! command -v sslyze >/dev/null; then
        fail "--deep: sslyze not installed (pip install sslyze)"
    else
        verdict=$(sslyze --certinfo_ca_file "$WORK/root.pem" --mozilla_config=intermediate "localhost:$PORT{127.0.0.1}" 2>&1 | grep -E "Compliant|Not compliant|^ +\* " | tail -5 || true)
        grep -q "OK - Compliant" <<<"$verdict" && pass "sslyze: Mozilla intermediate compliant" || fail "sslyze intermediate: $verdict"
        "$BIN" tls-selftest-server --dir "$WORK/modern" --profile modern --max-seconds 1800 >"$WORK/modern.log" 2>&1 &
        MODERN_PID=$!
        for _ in $(seq 1 $((WAIT_SECONDS * 10))); do [[ -s "$WORK/modern/port" ]] && break; kill -0 "$MODERN_PID" 2>/dev/null || break; sleep 0.1; done
        verdict=$(sslyze --certinfo_ca_file "$WORK/modern/root.pem" --mozilla_config=modern "localhost:$(cat "$WORK/modern/port"){127.0.0.1}" 2>&1 | grep -E "Compliant|Not compliant|^ +\* " | tail -5 || true)
        kill "$MODERN_PID" 2>/dev/null || true
        grep -q "OK - Compliant" <<<"$verdict" && pass "sslyze: Mozilla modern compliant (--profile modern)" || fail "sslyze modern: $verdict"
    fi
fi

# Reload: replace the served certificate, SIGHUP, and expect the new one on a new connection.
# (|| true: a connection that fails mid-reload must not end the script under set -e; the poll retries.)
fingerprint() { s_client -servername localhost | openssl x509 -noout -fingerprint -sha256 2>/dev/null || true; }
before=$(fingerprint)
"$BIN" certs dev --host localhost --out "$WORK/new" >/dev/null
cp "$WORK/new/cert.pem" "$WORK/server.pem"
cp "$WORK/new/key.pem" "$WORK/server.key"
kill -HUP "$SERVER_PID"
expected=$(openssl x509 -in "$WORK/new/cert.pem" -noout -fingerprint -sha256)
after=
# The reload runs when the server's signal handler gets to it: poll (deadline only bounds a hang).
deadline=$((SECONDS + WAIT_SECONDS))
while :; do after=$(fingerprint); [[ $after == "$expected" || $SECONDS -ge $deadline ]] && break; sleep 0.1; done
[[ $after == "$expected" && $after != "$before" ]] && pass "SIGHUP reload serves the new certificate" || fail "SIGHUP reload: still '$after'"

if [[ $FAILED -ne 0 ]]; then echo "TLS check FAILED"; cat "$WORK/server.log"; exit 1; fi
echo "TLS check passed"
