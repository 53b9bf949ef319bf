#!/usr/bin/env bash
# DDI base polls per second that ecuup-server sustains with N registered vehicles (default
# 10,000), each with an open action, measured with wrk over loopback.
#   usage: bench-polls.sh [VEHICLES] [SECONDS] [CONNECTIONS]      (ECUUP_SERVER=path/to/ecuup-server)
set -euo pipefail
SERVER=${ECUUP_SERVER:-ecuup-server}
VEHICLES=${1:-10000}
SECONDS_=${2:-10}
CONNECTIONS=${3:-64}
command -v wrk >/dev/null || { echo "bench-polls: needs wrk (apt-get install wrk)" >&2; exit 125; }
WORK=$(mktemp -d)
PID=
trap '[[ -n $PID ]] && kill $PID 2>/dev/null && wait $PID 2>/dev/null; rm -rf "$WORK"' EXIT

head -c 100000 /dev/urandom >"$WORK/bms.bin"
"$SERVER" admin --data "$WORK/data" upload --part bms --version 2.0.0 "$WORK/bms.bin" >/dev/null
echo bench-gateway >"$WORK/gateway.token"
"$SERVER" run --data "$WORK/data" --listen 127.0.0.1:0 --gateway-token-file "$WORK/gateway.token" \
  >"$WORK/out" 2>"$WORK/err" &
PID=$!
for _ in $(seq 100); do grep -q '^listening on ' "$WORK/out" 2>/dev/null && break; sleep 0.1; done
URL=$(sed -n 's/^listening on //p' "$WORK/out")

# Register and report through the DDI API itself (a gateway registers vehicles on first contact):
# every vehicle runs bms 1.0.0 and has a per-vehicle TargetToken.
python3 - "$URL" "$VEHICLES" <<'PY'
import http.client, json, sys, urllib.parse
url, n = sys.argv[1], int(sys.argv[2])
u = urllib.parse.urlsplit(url)
conn = http.client.HTTPConnection(u.hostname, u.port)
for i in range(n):
    body = json.dumps({"mode": "merge", "data": {"ecu.bms.version": "1.0.0", "VIN": f"VIN{i:06d}"}})
    conn.request("PUT", f"/DEFAULT/controller/v1/VIN{i:06d}/configData", body,
                 {"Authorization": "GatewayToken bench-gateway", "Content-Type": "application/json"})
    r = conn.getresponse(); r.read()
    if r.status != 200:
        sys.exit(f"configData VIN{i:06d}: HTTP {r.status}")
PY
"$SERVER" admin --data "$WORK/data" assign --part bms --version 2.0.0 --all >/dev/null

cat >"$WORK/poll.lua" <<LUA
math.randomseed(os.time())
request = function()
  local i = math.random(0, $((VEHICLES - 1)))
  return wrk.format("GET", string.format("/DEFAULT/controller/v1/VIN%06d", i),
                    {["Authorization"] = "GatewayToken bench-gateway"})
end
LUA
curl -s -H 'Authorization: GatewayToken bench-gateway' "$URL/DEFAULT/controller/v1/VIN000001" | grep -q deploymentBase \
  || { echo "bench-polls: vehicles have no open action" >&2; exit 1; }
echo "ecuup-server: $VEHICLES vehicles with an open action each; wrk -t2 -c$CONNECTIONS -d${SECONDS_}s"
wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_}s" --latency -s "$WORK/poll.lua" "$URL"
