#!/usr/bin/env bash
# Start ecuup-server in a fresh data directory, seed two vehicles and an update, print how to
# poll it, and keep serving until Ctrl-C.   usage: seed-demo.sh [DATA_DIR]
set -euo pipefail
SERVER=${ECUUP_SERVER:-ecuup-server}
WORK=$(mktemp -d)
DATA=${1:-$WORK/data}
admin() { "$SERVER" admin --data "$DATA" "$@"; }

mkdir -p "$DATA"
head -c 65536 /dev/urandom >"$WORK/bms-2.1.0.bin"
admin upload --part bms --version 2.1.0 "$WORK/bms-2.1.0.bin"
admin vehicle add DEMO-1 --token demo-1-token
admin vehicle add DEMO-2 --token demo-2-token
admin assign --part bms --version 2.1.0 --all

"$SERVER" run --data "$DATA" --listen 127.0.0.1:0 --polling-sleep 00:00:10 >"$WORK/server.out" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 50); do grep -q '^listening on ' "$WORK/server.out" 2>/dev/null && break; sleep 0.1; done
URL=$(sed -n 's/^listening on //p' "$WORK/server.out")
cat <<MSG
ecuup-server is serving $DATA at $URL (pid $PID).
Report versions, then poll (DEMO-1 runs bms 2.0.0, so it gets a deployment):
  curl -s -X PUT -H 'Authorization: TargetToken demo-1-token' -H 'Content-Type: application/json' \\
    -d '{"data":{"ecu.bms.version":"2.0.0"}}' $URL/DEFAULT/controller/v1/DEMO-1/configData
  curl -s -H 'Authorization: TargetToken demo-1-token' $URL/DEFAULT/controller/v1/DEMO-1
  $SERVER admin --data $DATA list vehicles
Ctrl-C stops the server.
MSG
wait $PID
