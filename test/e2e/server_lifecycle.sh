#!/usr/bin/env bash
# ecuup-server end to end: cancel (cancelAction, accept/reject), reassignment changes the action
# id, the management API (Bearer token), GatewayToken, update modes, --match, graceful shutdown on
# SIGTERM/SIGINT and state surviving a restart.
source "${ECUUP_SRC:-.}/test/e2e/server_lib.bash"
export ECUUP_SERVER_ADMIN_TOKEN=admin-secret
echo gw-secret >"$T/gateway.token"
start() { start_server --gateway-token-file "$T/gateway.token"; }
poll() { http GET "/DEFAULT/controller/v1/$1" "TargetToken $2"; expect 200 "poll $1"; valid DdiControllerBase "poll $1"; }
link() { jget "d['_links'].get('$1', {}).get('href', '')"; }
closed_ok='{"status":{"execution":"closed","result":{"finished":"success"}}}'

head -c 5000 /dev/urandom >"$T/bms-2.bin"
head -c 6000 /dev/urandom >"$T/bms-3.bin"
admin upload --part bms --version 2.0.0 "$T/bms-2.bin" >/dev/null
admin upload --part bms --version 3.0.0 "$T/bms-3.bin" >/dev/null
admin vehicle add V1 --token t1 >/dev/null
admin vehicle add V2 --token t2 >/dev/null
start
[[ $URL == http://127.0.0.1:* ]] || fail "listening line: $URL"

# --- cancel --------------------------------------------------------------------------------
admin assign --part bms --version 2.0.0 --vehicle V1 >/dev/null
http PUT /DEFAULT/controller/v1/V1/configData "TargetToken t1" '{"data":{"ecu.bms.version":"1.0.0","VIN":"V1"}}'
expect 200 "report V1"
poll V1 t1; deploy=$(link deploymentBase); [[ -n $deploy ]] || fail "no action for V1"
action=${deploy##*/}
admin cancel --vehicle V1 | grep -q "action $action" || fail "admin cancel"
poll V1 t1; cancel_href=$(link cancelAction)
[[ -n $cancel_href && -z $(link deploymentBase) ]] || fail "cancelAction not offered: $(cat "$T/body")"
STATUS=$(curl -s -o "$T/body" -w '%{http_code}' -H "Authorization: TargetToken t1" "$cancel_href")
expect 200 "cancelAction"; valid DdiCancel "cancelAction"
[[ $(jget 'd["cancelAction"]["stopId"]') == "$action" ]] || fail "stopId"
# The vehicle rejects (flashing had started): the action carries on.
http POST "/DEFAULT/controller/v1/V1/cancelAction/$action/feedback" "TargetToken t1" \
  '{"status":{"execution":"rejected","result":{"finished":"none"},"details":["flashing"]}}'
expect 200 "cancel rejected"
poll V1 t1; [[ $(link deploymentBase) == "$deploy" ]] || fail "action not resumed after rejected cancel"
http POST "/DEFAULT/controller/v1/V1/cancelAction/$action/feedback" "TargetToken t1" "$closed_ok"
expect 409 "cancel feedback while not canceling"
admin cancel --vehicle V1 >/dev/null
http POST "/DEFAULT/controller/v1/V1/cancelAction/$action/feedback" "TargetToken t1" "$closed_ok"
expect 200 "cancel accepted"
poll V1 t1; [[ -z $(link deploymentBase)$(link cancelAction) ]] || fail "links after cancel: $(cat "$T/body")"
http POST "/DEFAULT/controller/v1/V1/deploymentBase/$action/feedback" "TargetToken t1" "$closed_ok"
expect 410 "feedback on canceled action"
http POST "/DEFAULT/controller/v1/V1/cancelAction/$action/feedback" "TargetToken t1" "$closed_ok"
expect 410 "cancel feedback on closed action"
# The cancel withdrew the assignment: reporting again opens nothing.
http PUT /DEFAULT/controller/v1/V1/configData "TargetToken t1" '{"data":{"ecu.bms.version":"1.0.0"}}'
poll V1 t1; [[ -z $(link deploymentBase) ]] || fail "canceled action came back"
admin cancel --vehicle V1 >/dev/null 2>&1 && fail "cancel without an open action succeeded"

# --- reassignment changes the action id; the old one is gone -----------------------------
admin assign --part bms --version 2.0.0 --vehicle V1 >/dev/null
poll V1 t1; first=$(link deploymentBase); [[ -n $first ]] || fail "no action after assign"
admin assign --part bms --version 2.0.0 --vehicle V1 >/dev/null
poll V1 t1; [[ $(link deploymentBase) == "$first" ]] || fail "same assignment changed the action id"
admin assign --part bms --version 3.0.0 --vehicle V1 --mode downloadonly >/dev/null
poll V1 t1; second=$(link deploymentBase)
[[ -n $second && $second != "$first" ]] || fail "new assignment kept action id $first"
STATUS=$(curl -s -o "$T/body" -w '%{http_code}' -H "Authorization: TargetToken t1" "$second")
valid DdiDeploymentBase "downloadonly deployment"
[[ $(jget 'd["deployment"]["update"]+"/"+d["deployment"]["chunks"][0]["version"]') == skip/3.0.0 ]] \
  || fail "downloadonly deployment: $(cat "$T/body")"
http POST "/DEFAULT/controller/v1/V1/deploymentBase/${first##*/}/feedback" "TargetToken t1" "$closed_ok"
expect 410 "feedback on superseded action"

# --- management API ----------------------------------------------------------------------
http GET /api/v1/vehicles "Bearer wrong"; expect 401 "management API with a wrong token"
STATUS=$(curl -s -o "$T/body" -w '%{http_code}' "$URL/api/v1/vehicles"); expect 401 "management API without token"
http GET /api/v1/vehicles "Bearer admin-secret"; expect 200 "list vehicles"
[[ $(jget '[v["id"] for v in d]') == "['V1', 'V2']" ]] || fail "vehicles: $(cat "$T/body")"
[[ $(jget '[v["versions"] for v in d if v["id"]=="V1"][0]') == "{'bms': '1.0.0'}" ]] || fail "reported versions"
http POST /api/v1/vehicles "Bearer admin-secret" '{"id":"V3","token":"t3"}'; expect 200 "add vehicle"
head -c 4321 /dev/urandom >"$T/tcu.bin"
STATUS=$(curl -s -o "$T/body" -w '%{http_code}' -H "Authorization: Bearer admin-secret" \
  --data-binary "@$T/tcu.bin" "$URL/api/v1/modules?part=tcu&version=7.1&filename=tcu.bin")
expect 200 "upload via API"
[[ $(jget 'd["artifacts"][0]["sha256"]') == $(sha256sum "$T/tcu.bin" | cut -d' ' -f1) ]] || fail "API upload hash"
[[ $(jget 'd["created"]') =~ ^20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]T ]] || fail "upload answer has no creation time: $(cat "$T/body")"
http PUT /DEFAULT/controller/v1/V3/configData "TargetToken t3" '{"data":{"ecu.tcu.version":"7.0","market":"EU"}}'
http PUT /DEFAULT/controller/v1/V2/configData "TargetToken t2" '{"data":{"ecu.tcu.version":"7.0","market":"US"}}'
http POST /api/v1/assignments "Bearer admin-secret" '{"part":"tcu","version":"7.1","match":"market=EU"}'
expect 200 "assign via API"
[[ $(jget '[a["vehicle"] for a in d]') == "['V3']" ]] || fail "match assigned: $(cat "$T/body")"
http POST /api/v1/assignments "Bearer admin-secret" '{"part":"tcu","version":"9.9","all":true}'
expect 404 "assign an unknown version"
poll V3 t3; [[ -n $(link deploymentBase) ]] || fail "no action for V3"
poll V2 t2; [[ -z $(link deploymentBase) ]] || fail "US vehicle got the EU assignment"
admin assign --part tcu --version 7.1 --match market=US | grep -q '^V2: .*open action' || fail "admin --match"
http GET "/api/v1/actions?vehicle=V1" "Bearer admin-secret"; expect 200 "list actions"
[[ $(jget '[a["result"] for a in d]') == "['canceled', 'canceled', 'none']" ]] || fail "V1 actions: $(cat "$T/body")"

# --- GatewayToken: any vehicle, unknown ones are registered ------------------------------
http GET /DEFAULT/controller/v1/NEW-1 "GatewayToken gw-secret"; expect 200 "gateway poll"
valid DdiControllerBase "gateway poll"
http GET /DEFAULT/controller/v1/V3 "GatewayToken nope"; expect 401 "wrong gateway token"
http GET /OTHER/controller/v1/V3 "TargetToken t3"; expect 404 "unknown tenant"
admin list vehicles | grep -q '^NEW-1 ' || fail "gateway vehicle not registered"

# --- graceful shutdown and restart keep state --------------------------------------------
v3_action=$(poll V3 t3; link deploymentBase); v3_action=${v3_action##*/}
stop_server TERM
grep -q stopped "$T/server.err" || fail "no shutdown message"
start
poll V3 t3; [[ $(link deploymentBase) == */deploymentBase/$v3_action ]] || fail "action lost over restart"
poll V1 t1; [[ $(link deploymentBase) == */deploymentBase/${second##*/} ]] || fail "V1's action lost over restart"
http POST "/DEFAULT/controller/v1/V1/deploymentBase/${first##*/}/feedback" "TargetToken t1" "$closed_ok"
expect 410 "closed action still closed after restart"
stop_server INT
start
# A second server on a port in use must fail, not share the port and half the connections.
rc=0; timeout 10 "$SERVER" run --data "$T/data" --listen "${URL#http://}" >/dev/null 2>"$T/second.err" || rc=$?
[[ $rc == 1 ]] || fail "second server on ${URL#http://}: exit $rc (want 1)"
grep -q "cannot listen on 127.0.0.1:" "$T/second.err" || fail "second server: $(cat "$T/second.err")"
http GET /api/v1/modules "Bearer admin-secret"; expect 200 "modules after restart"
[[ $(jget 'sorted(m["part"]+"="+m["version"] for m in d)') == "['bms=2.0.0', 'bms=3.0.0', 'tcu=7.1']" ]] \
  || fail "modules after restart: $(cat "$T/body")"
stop_server TERM

# --- command line contract ---------------------------------------------------------------
rc=0; "$SERVER" >/dev/null 2>&1 || rc=$?; [[ $rc == 2 ]] || fail "no arguments: exit $rc"
rc=0; "$SERVER" run --bogus >/dev/null 2>&1 || rc=$?; [[ $rc == 2 ]] || fail "unknown option: exit $rc"
rc=0; "$SERVER" admin --data "$T/data" assign --part bms --version 2.0.0 >/dev/null 2>&1 || rc=$?
[[ $rc == 2 ]] || fail "assign without target: exit $rc"
"$SERVER" --help | grep -q admin || fail "--help"
echo "server_lifecycle: ok"
