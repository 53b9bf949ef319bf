# Shared by test/e2e/server_*.sh (sourced; not a test itself): locate the binaries and hawkBit's
# DDI OpenAPI description, start/stop ecuup-server on an ephemeral port, make requests, check them.
set -Eeuo pipefail
BIN=${ECUUP_BIN:-build/bin}
SRC=${ECUUP_SRC:-.}
SERVER=$BIN/ecuup-server
# hawkBit's DDI OpenAPI description: $ECUUP_DDI_SPEC, else the first copy found.
SPEC=${ECUUP_DDI_SPEC:-}
for c in "$SRC/contracts" "$SRC/test/contracts" "$SRC/docs/contracts" "$SRC/../shared/contracts"; do
  [[ -z $SPEC && -f $c/hawkbit-ddi-openapi.json ]] && SPEC=$c/hawkbit-ddi-openapi.json
done
[[ -n $SPEC && -f $SPEC ]] || { echo "skip: hawkBit DDI OpenAPI description not found"; exit 125; }
command -v curl >/dev/null || { echo "skip: no curl"; exit 125; }
CHECK="python3 $SRC/test/support/openapi_check.py $SPEC"

T=$(mktemp -d)
PID=
cleanup() { [[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND (exit $?)" >&2' ERR
fail() { echo "FAIL: $*" >&2; [[ -f $T/server.err ]] && tail -20 "$T/server.err" >&2; exit 1; }

# start_server [OPTIONS...]: serve $T/data; sets PID and URL.
start_server() {
  # The background shell truncates server.out only when it gets to run: remove the previous
  # server's "listening on" line first, or a restart could read the old port.
  rm -f "$T/server.out"
  "$SERVER" run --data "$T/data" --listen 127.0.0.1:0 "$@" >"$T/server.out" 2>"$T/server.err" &
  PID=$!
  for _ in $(seq 100); do
    grep -q '^listening on ' "$T/server.out" 2>/dev/null && break
    kill -0 "$PID" 2>/dev/null || fail "server exited: $(cat "$T/server.err")"
    sleep 0.1
  done
  URL=$(sed -n 's/^listening on //p' "$T/server.out")
  [[ $URL =~ ^http://127\.0\.0\.1:[0-9]+$ ]] || fail "no listening line: $(cat "$T/server.out")"
}

# stop_server SIGNAL: the server must exit 0 within 5 s.
stop_server() {
  kill "-$1" "$PID"
  for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$PID" 2>/dev/null && fail "server ignored SIG$1"
  local rc=0; wait "$PID" || rc=$?
  PID=
  [[ $rc == 0 ]] || fail "server exited $rc after SIG$1"
}

# http METHOD PATH AUTHORIZATION [JSON_BODY]: body in $T/body, status in $STATUS.
http() {
  local args=(-s -o "$T/body" -w '%{http_code}' -X "$1" -H "Authorization: $3")
  [[ -n ${4:-} ]] && args+=(-H 'Content-Type: application/json' --data "$4")
  STATUS=$(curl "${args[@]}" "$URL$2")
}
expect() { [[ $STATUS == "$1" ]] || fail "$2: expected HTTP $1, got $STATUS: $(cat "$T/body")"; }
# valid SCHEMA WHAT: $T/body matches #/components/schemas/SCHEMA.
valid() { $CHECK "$1" "$T/body" --strict || fail "$2: response does not match $1: $(cat "$T/body")"; }
# jget PYTHON_EXPR: evaluate with d = the JSON in $T/body.
jget() { python3 -c "import json,sys; d=json.load(open('$T/body')); print(eval(sys.argv[1]))" "$1"; }
admin() { "$SERVER" admin --data "$T/data" "$@"; }
