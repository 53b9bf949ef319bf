#!/usr/bin/env bash
# ecuup-server end to end over loopback: admin seeding, DDI polls validated against hawkBit's
# OpenAPI schemas, the server rule (targets = reported != assigned), downloads with
# Range/If-Range, auth, feedback closing an action (then 410), two vehicles with different reports.
source "${ECUUP_SRC:-.}/test/e2e/server_lib.bash"
# req METHOD CONTROLLER_PATH TARGET_TOKEN [BODY]: a DDI request in tenant DEFAULT.
req() { http "$1" "/DEFAULT/controller/v1/$2" "TargetToken $3" "${4:-}"; }

# Seed: two ECU parts, two versions of bms, two vehicles.
head -c 300000 /dev/urandom >"$T/bms-2.bin"
head -c 1000 /dev/urandom >"$T/gw-5.bin"
admin upload --part bms --version 2.0.0 "$T/bms-2.bin" >/dev/null
admin upload --part gw --version 5.0 "$T/gw-5.bin" >/dev/null
admin --json vehicle add VIN-A --token tokA >/dev/null
tokB=$(admin --json vehicle add VIN-B | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
[[ ${#tokB} -ge 16 ]] || fail "generated token too short: $tokB"
start_server --polling-sleep 00:00:30

# Auth: no token, a wrong token, another vehicle's token -> 401.
STATUS=$(curl -s -o "$T/body" -w '%{http_code}' "$URL/DEFAULT/controller/v1/VIN-A"); expect 401 "no auth"
req GET VIN-A wrong; expect 401 "wrong token"
req GET VIN-A "$tokB"; expect 401 "other vehicle's token"
req GET VIN-UNKNOWN tokA; expect 401 "unknown vehicle"

# Before any report: only configData is offered.
req GET VIN-A tokA; expect 200 "base"; valid DdiControllerBase "base"
[[ $(jget 'd["config"]["polling"]["sleep"]') == 00:00:30 ]] || fail "polling sleep"
[[ $(jget '"configData" in d["_links"] and "deploymentBase" not in d["_links"]') == True ]] || fail "links before report"

# Assign bms 2.0.0 + gw 5.0 to both; A runs old bms and current gw, B runs old bms and old gw.
admin assign --part bms --version 2.0.0 --all >/dev/null
admin assign --part gw --version 5.0 --all >/dev/null
req GET VIN-A tokA; [[ $(jget '"deploymentBase" in d["_links"]') == False ]] || fail "action before any report"

report_a='{"mode":"merge","data":{"ecu.bms.version":"1.0.0","ecu.gw.version":"5.0","VIN":"VIN-A"}}'
$CHECK DdiConfigData - <<<"$report_a" || fail "test's own configData is not DdiConfigData"
req PUT VIN-A/configData tokA "$report_a"; expect 200 "configData A"
req PUT VIN-B/configData "$tokB" '{"data":{"ecu.bms.version":"1.0.0","ecu.gw.version":"4.0","VIN":"VIN-B"}}'
expect 200 "configData B"
req PUT VIN-B/configData "$tokB" '{"mode":"sideways","data":{}}'; expect 400 "bad configData mode"
req PUT VIN-B/configData "$tokB" '{"data":{"x":1}}'; expect 400 "non-string configData value"

req GET VIN-A tokA; expect 200 "base A"; valid DdiControllerBase "base A"
deploy_a=$(jget 'd["_links"]["deploymentBase"]["href"]')
[[ $(jget '"configData" in d["_links"]') == False ]] || fail "configData still wanted after report"
req GET VIN-B "$tokB"; valid DdiControllerBase "base B"
deploy_b=$(jget 'd["_links"]["deploymentBase"]["href"]')
[[ $deploy_a != "$deploy_b" ]] || fail "two vehicles share one action"
[[ $deploy_a == "$URL/DEFAULT/controller/v1/VIN-A/deploymentBase/"* ]] || fail "href not absolute: $deploy_a"

# The base resource answers If-None-Match with 304 while nothing changed.
base_etag=$(curl -s -D - -o /dev/null -H "Authorization: TargetToken tokA" "$URL/DEFAULT/controller/v1/VIN-A" \
  | sed -n 's/^ETag: *\(.*\)\r$/\1/Ip')
[[ -n $base_etag ]] || fail "base has no ETag"
STATUS=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: TargetToken tokA" -H "If-None-Match: $base_etag" \
  "$URL/DEFAULT/controller/v1/VIN-A"); expect 304 "unchanged base"

# A's deployment: bms only (gw already matches). B's: bms and gw.
STATUS=$(curl -s -o "$T/body" -w '%{http_code}' -H "Authorization: TargetToken tokA" "$deploy_a?actionHistory=-1")
expect 200 "deploymentBase A"; valid DdiDeploymentBase "deploymentBase A"
[[ $(jget '[c["part"]+"="+c["version"] for c in d["deployment"]["chunks"]]') == "['bms=2.0.0']" ]] \
  || fail "A's chunks: $(cat "$T/body")"
[[ $(jget 'd["deployment"]["update"]') == forced ]] || fail "update mode"
[[ $(jget 'len(d["actionHistory"]["messages"]) >= 1') == True ]] || fail "action history"
action_a=$(jget 'd["id"]')
art_href=$(jget 'd["deployment"]["chunks"][0]["artifacts"][0]["_links"]["download-http"]["href"]')
[[ $(jget 'd["deployment"]["chunks"][0]["artifacts"][0]["_links"]["download"]["href"]') == "$art_href" ]] || fail "download link"
sha=$(jget 'd["deployment"]["chunks"][0]["artifacts"][0]["hashes"]["sha256"]')
[[ $sha == $(sha256sum "$T/bms-2.bin" | cut -d' ' -f1) ]] || fail "sha256"
[[ $(jget 'd["deployment"]["chunks"][0]["artifacts"][0]["hashes"]["sha1"]') == $(sha1sum "$T/bms-2.bin" | cut -d' ' -f1) ]] || fail "sha1"
[[ $(jget 'd["deployment"]["chunks"][0]["artifacts"][0]["hashes"]["md5"]') == $(md5sum "$T/bms-2.bin" | cut -d' ' -f1) ]] || fail "md5"
[[ $(jget 'd["deployment"]["chunks"][0]["artifacts"][0]["size"]') == 300000 ]] || fail "size"
STATUS=$(curl -s -o "$T/body" -w '%{http_code}' -H "Authorization: TargetToken $tokB" "$deploy_b")
valid DdiDeploymentBase "deploymentBase B"
[[ $(jget '[c["part"]+"="+c["version"] for c in d["deployment"]["chunks"]]') == "['bms=2.0.0', 'gw=5.0']" ]] \
  || fail "B's chunks: $(cat "$T/body")"
# Another vehicle's action is not visible.
STATUS=$(curl -s -o "$T/body" -w '%{http_code}' -H "Authorization: TargetToken tokA" "${deploy_b/VIN-B/VIN-A}")
expect 404 "other vehicle's action"

# Downloads: full, Range, suffix range, If-Range match/mismatch, 416, 401.
dl() { curl -s -D "$T/headers" -o "$T/dl" -w '%{http_code}' -H "Authorization: TargetToken tokA" "$@" "$art_href"; }
STATUS=$(dl); expect 200 "download"; cmp -s "$T/dl" "$T/bms-2.bin" || fail "full download differs"
etag=$(sed -n 's/^ETag: *\(.*\)\r$/\1/Ip' "$T/headers")
[[ $etag == "\"$sha\"" ]] || fail "ETag $etag"
STATUS=$(dl -H 'Range: bytes=1000-1999'); expect 206 "range"
cmp -s "$T/dl" <(tail -c +1001 "$T/bms-2.bin" | head -c 1000) || fail "range bytes differ"
grep -qi '^Content-Range: bytes 1000-1999/300000' "$T/headers" || fail "Content-Range: $(cat "$T/headers")"
STATUS=$(dl -H 'Range: bytes=299990-'); expect 206 "open range"; cmp -s "$T/dl" <(tail -c 10 "$T/bms-2.bin") || fail "open range bytes"
STATUS=$(dl -H 'Range: bytes=-7'); expect 206 "suffix range"; cmp -s "$T/dl" <(tail -c 7 "$T/bms-2.bin") || fail "suffix bytes"
STATUS=$(dl -H 'Range: bytes=100-' -H "If-Range: $etag"); expect 206 "If-Range match"
cmp -s "$T/dl" <(tail -c +101 "$T/bms-2.bin") || fail "If-Range resume bytes"
STATUS=$(dl -H 'Range: bytes=100-' -H 'If-Range: "stale"'); expect 200 "If-Range mismatch"
cmp -s "$T/dl" "$T/bms-2.bin" || fail "If-Range mismatch must send the whole file"
STATUS=$(dl -H 'Range: bytes=300000-'); expect 416 "unsatisfiable range"
grep -qi '^Content-Range: bytes \*/300000' "$T/headers" || fail "416 Content-Range"
STATUS=$(curl -s -o /dev/null -w '%{http_code}' "$art_href"); expect 401 "download without token"
# gw 5.0 is not assigned to A's action... but it is assigned to A: allowed. An unknown file is not.
STATUS=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: TargetToken tokA" "${art_href%/*}/nope.bin"); expect 404 "unknown artifact"
STATUS=$(curl -s -o "$T/body" -w '%{http_code}' -H "Authorization: TargetToken tokA" "$art_href.MD5SUM")
[[ $(cat "$T/body") == "$(cd "$T" && md5sum bms-2.bin)" ]] || fail "MD5SUM file: $(cat "$T/body")"
STATUS=$(curl -s -o "$T/body" -w '%{http_code}' -H "Authorization: TargetToken tokA" "${art_href%/*}")
expect 200 "artifact list"; python3 -c "
import json; [print(json.dumps(a)) for a in json.load(open('$T/body'))]" | while read -r a; do
  $CHECK DdiArtifact - --strict <<<"$a" || fail "artifact list entry"; done

# Feedback: malformed -> 400; proceeding; closed+success closes; later feedback -> 410.
fb_path=VIN-A/deploymentBase/$action_a/feedback
req POST "$fb_path" tokA '{"status":{"execution":"done","result":{"finished":"success"}}}'; expect 400 "bad execution"
req POST "$fb_path" tokA '{"status":{"execution":"closed"}}'; expect 400 "missing result"
proceeding='{"status":{"execution":"proceeding","result":{"finished":"none","progress":{"cnt":1,"of":2}},"details":["flashing bms"]}}'
$CHECK DdiActionFeedback - <<<"$proceeding" || fail "test's own feedback is not DdiActionFeedback"
req POST "$fb_path" tokA "$proceeding"; expect 200 "proceeding feedback"
req POST "$fb_path" tokA '{"status":{"execution":"closed","result":{"finished":"success"},"details":["bms 2.0.0 flashed"]}}'
expect 200 "closing feedback"
req POST "$fb_path" tokA '{"status":{"execution":"closed","result":{"finished":"success"}}}'; expect 410 "feedback on closed action"
valid ExceptionInfo "410 body"
req POST VIN-A/deploymentBase/999999/feedback tokA '{"status":{"execution":"closed","result":{"finished":"success"}}}'
expect 404 "feedback on unknown action"

# After success: no open action, installedBase offered and valid, configData wanted again.
req GET VIN-A tokA; valid DdiControllerBase "base after success"
STATUS=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: TargetToken tokA" -H "If-None-Match: $base_etag" \
  "$URL/DEFAULT/controller/v1/VIN-A"); expect 200 "changed base despite If-None-Match"
[[ $(jget '"deploymentBase" in d["_links"]') == False ]] || fail "action still open after success"
installed=$(jget 'd["_links"]["installedBase"]["href"]')
[[ $(jget '"configData" in d["_links"]') == True ]] || fail "configData not requested after success"
STATUS=$(curl -s -o "$T/body" -w '%{http_code}' -H "Authorization: TargetToken tokA" "$installed")
expect 200 "installedBase"; valid DdiDeploymentBase "installedBase"
# Reporting the installed versions keeps it that way.
req PUT VIN-A/configData tokA '{"mode":"merge","data":{"ecu.bms.version":"2.0.0"}}'; expect 200 "report after update"
req GET VIN-A tokA; [[ $(jget '"deploymentBase" in d["_links"]') == False ]] || fail "action after matching report"

# B fails: closed+failure closes the action too; its next report opens a new one (retry).
req POST "VIN-B/deploymentBase/${deploy_b##*/}/feedback" "$tokB" '{"status":{"execution":"closed","result":{"finished":"failure"},"details":["gw: timeout"]}}'
expect 200 "failure feedback"
req GET VIN-B "$tokB"; [[ $(jget '"deploymentBase" in d["_links"]') == False ]] || fail "B still open after failure"
req PUT VIN-B/configData "$tokB" '{"data":{"ecu.bms.version":"2.0.0","ecu.gw.version":"4.0"}}'
req GET VIN-B "$tokB"; retry=$(jget 'd["_links"]["deploymentBase"]["href"]')
[[ $retry != "$deploy_b" ]] || fail "retry reuses the closed action id"
STATUS=$(curl -s -o "$T/body" -w '%{http_code}' -H "Authorization: TargetToken $tokB" "$retry")
[[ $(jget '[c["part"] for c in d["deployment"]["chunks"]]') == "['gw']" ]] || fail "retry chunks: $(cat "$T/body")"

# A report that leaves the part out does not touch the action (the vehicle may be mid-update)...
req PUT VIN-B/configData "$tokB" '{"mode":"replace","data":{"VIN":"VIN-B"}}'; expect 200 "replace report"
req GET VIN-B "$tokB"; [[ $(jget 'd["_links"]["deploymentBase"]["href"]') == "$retry" ]] || fail "action lost on a partial report"
# ...but reporting exactly the action's versions closes it.
req PUT VIN-B/configData "$tokB" '{"data":{"ecu.gw.version":"5.0"}}'
req GET VIN-B "$tokB"; [[ $(jget '"deploymentBase" in d["_links"]') == False ]] || fail "open action although nothing differs"

# Admin views carry the reported versions and the feedback history.
admin list vehicles | grep -q 'VIN-A .* bms 2.0.0' || fail "list vehicles: $(admin list vehicles)"
admin --json list actions --vehicle VIN-A >"$T/body"
[[ $(jget '[e["execution"] for e in d[0]["history"] if e["kind"]=="deployment"]') == "['proceeding', 'closed']" ]] \
  || fail "action history: $(cat "$T/body")"
echo "server_ddi: ok"
