#!/usr/bin/env bash
# ecuup-server admin --url: every admin command through a running server's management API, with
# the same output as admin --data; a refused token, an unreachable URL and --data/--url misuse fail;
# what --url did is in the data directory afterwards; https with --ca-file.
source "${ECUUP_SRC:-.}/test/e2e/server_lib.bash"
export ECUUP_SERVER_ADMIN_TOKEN=admin-secret
url() { "$SERVER" admin --url "$URL" "$@"; }
# code EXPECTED_EXIT WHAT CMD...: stderr in $T/err.
code() {
  local want=$1 what=$2 rc=0; shift 2
  "$@" >"$T/out" 2>"$T/err" || rc=$?
  [[ $rc == "$want" ]] || fail "$what: exit $rc, want $want: $(cat "$T/err")"
}

head -c 5000 /dev/urandom >"$T/bms-2.bin"
start_server

# --- every command through the API ------------------------------------------------------------
[[ $(url vehicle add V1 --token t1) == "vehicle V1 token t1" ]] || fail "vehicle add"
url --json vehicle add V2 >"$T/body"
[[ $(jget 'd["id"]') == V2 && $(jget 'len(d["token"])') == 32 ]] || fail "vehicle add --json: $(cat "$T/body")"
code 2 "vehicle registered twice" url vehicle add V1
grep -q "vehicle V1 is already registered" "$T/err" || fail "twice: $(cat "$T/err")"

url upload --part bms --version 2.0.0 --filename bms.bin "$T/bms-2.bin" >"$T/out"
sha=$(sha256sum "$T/bms-2.bin" | cut -d' ' -f1)
grep -q "^module 1: bms 2.0.0$" "$T/out" && grep -q "^  bms.bin 5000 bytes sha256 $sha$" "$T/out" ||
  fail "upload: $(cat "$T/out")"
url list modules --json >"$T/body"
[[ $(jget 'len(d)') == 1 && $(jget 'd[0]["part"]') == bms && $(jget 'd[0]["version"]') == 2.0.0 ]] ||
  fail "list modules: $(cat "$T/body")"
[[ $(jget 'd[0]["artifacts"][0]["filename"]') == bms.bin && $(jget 'd[0]["artifacts"][0]["sha256"]') == "$sha" ]] ||
  fail "module artifact: $(cat "$T/body")"

# V1 reports 1.0.0 (DDI), so the assignment opens an action for it.
http PUT /DEFAULT/controller/v1/V1/configData "TargetToken t1" '{"data":{"ecu.bms.version":"1.0.0","VIN":"W1"}}'
expect 200 "report V1"
url --json assign --part bms --version 2.0.0 --match VIN=W1 --mode attempt >"$T/body"
[[ $(jget 'len(d)') == 1 && $(jget 'd[0]["vehicle"]') == V1 ]] || fail "assign --match: $(cat "$T/body")"
action=$(jget 'd[0]["action"]'); [[ $action =~ ^[0-9]+$ ]] || fail "no action: $(cat "$T/body")"
url assign --part bms --version 2.0.0 --vehicle V2 >"$T/out"
grep -q "^V2: bms 2.0.0 assigned; nothing to do until it reports a different version$" "$T/out" ||
  fail "assign V2: $(cat "$T/out")"
code 1 "assign of a version never uploaded" url assign --part bms --version 9 --all
code 2 "bad mode" url assign --part bms --version 2.0.0 --all --mode sometimes

url list vehicles --json >"$T/body"
[[ $(jget '[v["id"] for v in d]') == "['V1', 'V2']" ]] || fail "list vehicles: $(cat "$T/body")"
[[ $(jget 'd[0]["versions"]') == "{'bms': '1.0.0'}" && $(jget 'd[0]["assigned"]') == "{'bms': '2.0.0'}" ]] ||
  fail "V1 versions: $(cat "$T/body")"
[[ $(jget 'd[0]["open_action"]') == "$action" && $(jget 'd[0]["attributes"]["VIN"]') == W1 ]] ||
  fail "V1 open action/attributes: $(cat "$T/body")"
url list actions --vehicle V1 --json >"$T/body"
[[ $(jget 'len(d)') == 1 && $(jget 'd[0]["mode"]') == attempt && $(jget 'd[0]["state"]') == open ]] ||
  fail "list actions: $(cat "$T/body")"

url cancel --vehicle V1 >"$T/out"
[[ $(cat "$T/out") == "V1: cancel of action $action requested" ]] || fail "cancel: $(cat "$T/out")"
url --json list actions >"$T/body"
[[ $(jget 'd[0]["state"]') == canceling ]] || fail "not canceling: $(cat "$T/body")"
code 1 "cancel without an open action" url cancel --vehicle V2
grep -q "vehicle V2 has no open action" "$T/err" || fail "cancel V2: $(cat "$T/err")"

# The same output as the local mode, while the server runs (human and JSON).
for what in vehicles actions modules; do
  for fmt in "" --json; do
    url list $what $fmt >"$T/remote"
    admin list $what $fmt >"$T/local"
    cmp -s "$T/remote" "$T/local" || fail "list $what $fmt differs: $(diff "$T/remote" "$T/local")"
  done
done

# --- failures ----------------------------------------------------------------------------------
ECUUP_SERVER_ADMIN_TOKEN=wrong code 8 "wrong token (refused)" url list vehicles
grep -q "admin token refused by $URL (HTTP 401" "$T/err" || fail "wrong token message: $(cat "$T/err")"
echo admin-secret >"$T/admin.token"
ECUUP_SERVER_ADMIN_TOKEN= code 0 "--admin-token-file" url --admin-token-file "$T/admin.token" list modules
ECUUP_SERVER_ADMIN_TOKEN= code 2 "no token" url list modules
grep -q "admin token" "$T/err" || fail "no token message: $(cat "$T/err")"
code 2 "--url with --data" url --data "$T/data" list vehicles
code 2 "neither --data nor --url" "$SERVER" admin list vehicles
code 2 "--admin-token-file with --data" admin --admin-token-file "$T/admin.token" list vehicles
code 2 "--ca-file with http" url --ca-file "$T/admin.token" list vehicles
code 2 "not a URL" "$SERVER" admin --url ftp://127.0.0.1 list vehicles
dead=$URL
stop_server TERM
URL=$dead code 3 "dead URL" url list vehicles
grep -q "cannot reach $dead" "$T/err" || fail "dead URL message: $(cat "$T/err")"

# --- what --url did is in the data directory ---------------------------------------------------
admin --json list vehicles >"$T/body"
[[ $(jget '[v["id"] for v in d]') == "['V1', 'V2']" && $(jget 'd[1]["assigned"]') == "{'bms': '2.0.0'}" ]] ||
  fail "vehicles after stop: $(cat "$T/body")"
admin --json list actions >"$T/body"
[[ $(jget 'd[0]["id"]') == "$action" && $(jget 'd[0]["state"]') == canceling ]] || fail "actions after stop"
admin list modules | grep -q "^1 bms 2.0.0 bms.bin 5000 bytes sha256 $sha$" || fail "modules after stop"

# --- https with --ca-file ----------------------------------------------------------------------
if command -v openssl >/dev/null; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
  rm -f "$T/server.out"
  "$SERVER" run --data "$T/data" --listen 127.0.0.1:0 --tls-cert "$T/cert.pem" --tls-key "$T/key.pem" \
    >"$T/server.out" 2>"$T/server.err" &
  PID=$!
  for _ in $(seq 100); do grep -q '^listening on ' "$T/server.out" 2>/dev/null && break; sleep 0.1; done
  URL=$(sed -n 's/^listening on //p' "$T/server.out")
  [[ $URL == https://127.0.0.1:* ]] || fail "https listening line: $(cat "$T/server.out")"
  url --ca-file "$T/cert.pem" list modules | grep -q "^1 bms 2.0.0 bms.bin" || fail "https --ca-file"
  code 2 "missing --ca-file" url --ca-file "$T/nope.pem" list modules
  code 8 "https with an untrusted certificate" url list modules
  grep -q "cannot reach $URL: its TLS certificate is not trusted" "$T/err" || fail "untrusted certificate message: $(cat "$T/err")"
  stop_server TERM
fi
echo "server_admin_url: ok"
