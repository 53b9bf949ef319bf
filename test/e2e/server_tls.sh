#!/usr/bin/env bash
# ecuup-server over HTTPS: a self-signed certificate for 127.0.0.1, verified by curl; hrefs use
# https; a plain-HTTP request to the TLS port fails.
set -Eeuo pipefail
BIN=${ECUUP_BIN:-build/bin}
command -v openssl >/dev/null || { echo "skip: no openssl"; exit 125; }
command -v curl >/dev/null || { echo "skip: no curl"; exit 125; }
SERVER=$BIN/ecuup-server
T=$(mktemp -d)
PID=
cleanup() { [[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND (exit $?)" >&2' ERR
fail() { echo "FAIL: $*" >&2; [[ -f $T/server.err ]] && tail -20 "$T/server.err" >&2; exit 1; }

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext "subjectAltName=IP:127.0.0.1" -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
head -c 2048 /dev/urandom >"$T/app.bin"
"$SERVER" admin --data "$T/data" upload --part app --version 2 "$T/app.bin" >/dev/null
"$SERVER" admin --data "$T/data" vehicle add car --token tk >/dev/null
"$SERVER" admin --data "$T/data" assign --part app --version 2 --vehicle car >/dev/null

rc=0; "$SERVER" run --data "$T/data" --listen 127.0.0.1:0 --tls-cert "$T/cert.pem" >/dev/null 2>&1 || rc=$?
[[ $rc == 2 ]] || fail "--tls-cert without --tls-key: exit $rc"
rc=0; "$SERVER" run --data "$T/data" --listen 127.0.0.1:0 --tls-cert "$T/nope.pem" --tls-key "$T/key.pem" \
  >/dev/null 2>&1 || rc=$?
[[ $rc == 2 ]] || fail "missing certificate: exit $rc"

"$SERVER" run --data "$T/data" --listen 127.0.0.1:0 --tls-cert "$T/cert.pem" --tls-key "$T/key.pem" \
  >"$T/server.out" 2>"$T/server.err" &
PID=$!
for _ in $(seq 100); do grep -q '^listening on ' "$T/server.out" 2>/dev/null && break; sleep 0.1; done
URL=$(sed -n 's/^listening on //p' "$T/server.out")
[[ $URL == https://127.0.0.1:* ]] || fail "listening line: $(cat "$T/server.out")"

C=(curl -s --cacert "$T/cert.pem" -H "Authorization: TargetToken tk")
"${C[@]}" -X PUT -H 'Content-Type: application/json' --data '{"data":{"ecu.app.version":"1"}}' \
  "$URL/DEFAULT/controller/v1/car/configData" >/dev/null
deploy=$("${C[@]}" "$URL/DEFAULT/controller/v1/car" | python3 -c 'import json,sys; print(json.load(sys.stdin)["_links"]["deploymentBase"]["href"])')
[[ $deploy == https://127.0.0.1:*/DEFAULT/controller/v1/car/deploymentBase/* ]] || fail "href $deploy"
art=$("${C[@]}" "$deploy" | python3 -c 'import json,sys; print(json.load(sys.stdin)["deployment"]["chunks"][0]["artifacts"][0]["_links"]["download"]["href"])')
"${C[@]}" -o "$T/got.bin" -H 'Range: bytes=48-' "$art"
cmp -s "$T/got.bin" <(tail -c +49 "$T/app.bin") || fail "range over TLS"
curl -s -o /dev/null "http://${URL#https://}/DEFAULT/controller/v1/car" && fail "plain HTTP accepted on the TLS port"
curl -s -o /dev/null "$URL/DEFAULT/controller/v1/car" && fail "unverified certificate accepted"
kill -TERM "$PID"; wait "$PID"; PID=
echo "server_tls: ok"
