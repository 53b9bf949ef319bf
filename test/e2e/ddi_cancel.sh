#!/usr/bin/env bash
# Cancel from ecuup-server. Before flashing: the next report accepts it (cancelAction feedback
# closed/success, in that same report), the tasks are dropped. After flashing started: the report
# rejects it, keeps the tasks, and the action carries on to closed/success.
source "$ECUUP_SRC/test/support/testlib.sh"
source "$ECUUP_SRC/test/support/ddi_server.sh"
srv_start || exit 1
srv_upload_bench
ddi_bench
assign() {
  srv_admin assign --part bms --version 1.1.0 --all >/dev/null
  srv_admin assign --part gateway --version 2.4.0 --all >/dev/null
}
tasks() { grep -c 'target_version:' "$B/state/manifest.yaml"; }
assign
expect 0 inventory "$ecuup" inventory --progress=none
expect 0 report "$ecuup" report --progress=none
check "two tasks" test "$(tasks)" -eq 2
expect 0 "fetch" "$ecuup" fetch --progress=none
first=$(grep -m1 'action_id:' "$B/state/manifest.yaml" | awk '{print $2}')

# Before flashing.
srv_admin cancel --vehicle bench-vehicle-1 >/dev/null
expect 0 "report after the cancel" "$ecuup" report --progress=none
check "report says the cancel was accepted" grep -q "cancelled action $first: accepted" "$T/out" "$T/err"
check "the tasks are dropped" test "$(tasks)" -eq 0
check "the report delivered the answer at once" python3 -c "
import json,sys; a=[a for a in json.load(sys.stdin) if str(a['id'])=='$first'][0]
h=[(e['kind'],e['execution'],e['finished']) for e in a['history']]
assert ('cancel','closed','success') in h, h
assert a['state']=='closed', a" < <(srv_admin --json list actions --vehicle bench-vehicle-1)
check "the feedback queue is empty" bash -c "! grep -A2 '^feedback_queue:' '$B/state/manifest.yaml' | grep -q action_id"
expect 0 "another report: no tasks, no cancel" "$ecuup" report --progress=none
check "nothing more to cancel" bash -c "! grep -q cancel '$T/out' '$T/err'"
expect 0 "flash: nothing to do" "$ecuup" flash --progress=none
check "bms untouched" test "$(image_version "$B/ecus/bms.flash")" = 1.0.0

# After flashing started: bms is flashed, gateway is not yet.
assign
expect 0 "report: a new action" "$ecuup" report --progress=none
second=$(grep -m1 'action_id:' "$B/state/manifest.yaml" | awk '{print $2}')
check "a new action id ($first -> $second)" test -n "$second" -a "$second" != "$first"
check "fetch, backup --read" bash -c "'$ecuup' fetch --progress=none >/dev/null 2>&1 && '$ecuup' backup --read --progress=none >/dev/null 2>&1"
expect 0 "flash bms only" "$ecuup" flash --ecu bms --progress=none
srv_admin cancel --vehicle bench-vehicle-1 >/dev/null
expect 0 "report after the late cancel" "$ecuup" report --progress=none
check "report says the cancel was rejected" grep -q "rejected, flashing already started" "$T/out" "$T/err"
check "both tasks kept" test "$(tasks)" -eq 2
check "the server got cancel feedback rejected and keeps the action open" python3 -c "
import json,sys; a=[a for a in json.load(sys.stdin) if str(a['id'])=='$second'][0]
h=[(e['kind'],e['execution']) for e in a['history']]
assert ('cancel','rejected') in h, h
assert a['state']=='open', a" < <(srv_admin --json list actions --vehicle bench-vehicle-1)
expect 0 "flash the rest" "$ecuup" flash --progress=none
check "gateway runs 2.4.0" test "$(image_version "$B/ecus/gateway.flash")" = 2.4.0
expect 0 backup "$ecuup" backup --progress=none
check "the action ends closed/success" python3 -c "
import json,sys; a=[a for a in json.load(sys.stdin) if str(a['id'])=='$second'][0]
assert a['state']=='closed' and a['result']=='success', a" < <(srv_admin --json list actions --vehicle bench-vehicle-1)
finish
