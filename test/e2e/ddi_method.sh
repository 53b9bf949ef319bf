#!/usr/bin/env bash
# The whole method against the real ecuup-server over loopback: bms and gateway assigned (body not),
# inventory -> report (tasks only where the version differs) -> fetch -> backup --read -> flash ->
# backup -> status; the server's action history holds the feedback and the reported versions.
source "$ECUUP_SRC/test/support/testlib.sh"
source "$ECUUP_SRC/test/support/ddi_server.sh"
srv_start || exit 1
srv_upload_bench
ddi_bench
srv_admin assign --part bms --version 1.1.0 --vehicle bench-vehicle-1 >/dev/null
srv_admin assign --part gateway --version 2.4.0 --vehicle bench-vehicle-1 >/dev/null

expect 0 inventory "$ecuup" inventory --progress=none
expect 0 report "$ecuup" report --json --progress=none
check "report: tasks for bms and gateway, body up to date" python3 -c "
import json; j=json.load(open('$T/out')); r={e['name']: (e['result'], e['detail']) for e in j['ecus']}
assert r['bms'][0]=='task' and '1.0.0 -> 1.1.0' in r['bms'][1], r
assert r['gateway'][0]=='task' and '2.3.0 -> 2.4.0' in r['gateway'][1], r
assert r['body']==('up-to-date','0.9.0'), r"
srv_vehicles
check "the server holds the reported versions" python3 -c "
import json; v=[x for x in json.load(open('$T/vehicles.json')) if x['id']=='bench-vehicle-1'][0]
s=json.dumps(v); assert '1.0.0' in s and '2.3.0' in s and '0.9.0' in s, s"
# A dry run asks the server (GET) without telling it anything (no configData PUT).
cp "$T/vehicles.json" "$T/vehicles.before"
cp "$B/state/manifest.yaml" "$T/manifest.before"
"$ecuup" inventory --progress=none >/dev/null 2>&1
sed -i 's/\(version: \)1.0.0/\10.0.1/' "$B/state/manifest.yaml"   # a version the server never saw
expect 0 "report --dry-run" "$ecuup" report --dry-run --json --progress=none
check "dry run: the tasks the server gives" python3 -c "
import json; j=json.load(open('$T/out')); r={e['name']: (e['result'], e['detail']) for e in j['ecus']}
assert r['bms'][0]=='would-task' and '0.0.1 -> 1.1.0' in r['bms'][1], r
assert r['gateway'][0]=='would-task' and '2.3.0 -> 2.4.0' in r['gateway'][1], r"
srv_vehicles
check "dry run: the server got nothing (no 0.0.1, same report time)" python3 -c "
import json
now = [x for x in json.load(open('$T/vehicles.json')) if x['id']=='bench-vehicle-1'][0]
before = [x for x in json.load(open('$T/vehicles.before')) if x['id']=='bench-vehicle-1'][0]
assert now == before and '0.0.1' not in json.dumps(now), (now, before)"
cp "$T/manifest.before" "$B/state/manifest.yaml"
expect 0 fetch "$ecuup" fetch --progress=none
check "fetch verified both downloads" bash -c "grep -q 'bms .*downloaded .*1.1.0' '$T/out' && grep -q 'gateway .*downloaded .*2.4.0' '$T/out'"
expect 0 "backup --read" "$ecuup" backup --read --progress=none
expect 0 flash "$ecuup" flash --progress=none
check "bms runs 1.1.0" test "$(image_version "$B/ecus/bms.flash")" = 1.1.0
check "gateway runs 2.4.0" test "$(image_version "$B/ecus/gateway.flash")" = 2.4.0
check "body untouched" test "$(image_version "$B/ecus/body.flash")" = 0.9.0
expect 0 backup "$ecuup" backup --progress=none
check "backup delivered the feedback" grep -q "delivered .* feedback" "$T/out" "$T/err"
expect 0 "status: nothing pending, nothing queued" "$ecuup" status --json
check "status json" python3 -c "
import json; j=json.load(open('$T/out')); assert j['pending'] is False and j['feedback_queued']==0, j"

srv_actions bench-vehicle-1
check "one action, bms + gateway, closed with success" python3 -c "
import json; a=json.load(open('$T/actions.json')); assert len(a)==1, a; a=a[0]
assert sorted(c['part']+'='+c['version'] for c in a['chunks'])==['bms=1.1.0','gateway=2.4.0'], a['chunks']
assert a['state']=='closed' and a['result']=='success', a"
check "history: proceeding feedback, then closed+success" python3 -c "
import json; h=[e for e in json.load(open('$T/actions.json'))[0]['history'] if e['kind']=='deployment']
ex=[(e['execution'], e['finished']) for e in h]
assert ('proceeding','none') in ex, ex
assert ex.index(('proceeding','none')) < ex.index(('closed','success')), ex
# One action for two ECUs: closed once, by the last ECU, after nothing else.
assert ex.count(('closed','success')) == 1 and ex[-1] == ('closed','success'), ex"
expect 0 "second report" "$ecuup" report --json --progress=none
check "second report: no tasks" python3 -c "
import json; j=json.load(open('$T/out')); assert all(e['result']=='up-to-date' for e in j['ecus']), j"
srv_vehicles
check "the server holds the new versions and no open action" python3 -c "
import json; v=[x for x in json.load(open('$T/vehicles.json')) if x['id']=='bench-vehicle-1'][0]
s=json.dumps(v); assert '1.1.0' in s and '2.4.0' in s and '1.0.0' not in s, s"
check "vehicles list: no open action" bash -c "'$ecuup_server' admin --data '$SRV_DATA' list vehicles | grep -q 'bench-vehicle-1 .* - .*bms 1.1.0'"
finish
