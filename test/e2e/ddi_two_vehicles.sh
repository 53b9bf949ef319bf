#!/usr/bin/env bash
# Two vehicles on one ecuup-server with the same assignment but different reported versions get
# different deployments: A (bms 1.0.0) gets bms + gateway, B (already bms 1.1.0) gets gateway only.
source "$ECUUP_SRC/test/support/testlib.sh"
source "$ECUUP_SRC/test/support/ddi_server.sh"
srv_start || exit 1
srv_upload_bench
ddi_bench "$T/a" VEH-A token-a-123456; A=$B
ddi_bench "$T/b" VEH-B token-b-654321
cp "$ECUUP_SRC/examples/bench/repository/bms-1.1.0.img" "$T/b/ecus/bms.flash"
srv_admin assign --part bms --version 1.1.0 --all >/dev/null
srv_admin assign --part gateway --version 2.4.0 --all >/dev/null

run_as() { # run_as DIR TOKEN CMD...
  local dir=$1 token=$2; shift 2
  ECUUP_CONFIG="$dir/ecuup.yaml" ECUUP_DDI_TOKEN=$token "$@"
}
tasks() { python3 -c "
import json; j=json.load(open('$T/out')); print(' '.join(sorted(e['name'] for e in j['ecus'] if e['result']=='task')))"; }
expect 0 "A: inventory" run_as "$A" token-a-123456 "$ecuup" inventory --progress=none
expect 0 "B: inventory" run_as "$T/b" token-b-654321 "$ecuup" inventory --progress=none
expect 0 "A: report" run_as "$A" token-a-123456 "$ecuup" report --json --progress=none
a_tasks=$(tasks)
check "A has tasks for bms and gateway ($a_tasks)" test "$a_tasks" = "bms gateway"
expect 0 "B: report" run_as "$T/b" token-b-654321 "$ecuup" report --json --progress=none
b_tasks=$(tasks)
check "B has a task for gateway only ($b_tasks)" test "$b_tasks" = "gateway"
expect 8 "A's token does not work for B (refused)" run_as "$T/b" token-a-123456 "$ecuup" report --progress=none
srv_admin --json list actions >"$T/actions.json"
check "the server has one action per vehicle with different chunks" python3 -c "
import json; acts=json.load(open('$T/actions.json'))
by={a['vehicle']: a for a in acts if a['state']!='closed'}
assert set(by)=={'VEH-A','VEH-B'}, acts
assert by['VEH-A']['id']!=by['VEH-B']['id']
parts=lambda a: sorted(c['part'] for c in a['chunks'])
assert parts(by['VEH-A'])==['bms','gateway'] and parts(by['VEH-B'])==['gateway'], (parts(by['VEH-A']), parts(by['VEH-B']))"
check "A and B record different action ids" bash -c "
a=\$(grep -m1 'action_id:' '$A/state/manifest.yaml'); b=\$(grep -m1 'action_id:' '$T/b/state/manifest.yaml'); [ -n \"\$a\" ] && [ \"\$a\" != \"\$b\" ]"
expect 0 "B: fetch" run_as "$T/b" token-b-654321 "$ecuup" fetch --progress=none
check "B downloaded gateway only" bash -c "grep -q 'gateway .*downloaded' '$T/out' && grep -q 'bms .*no-task' '$T/out'"
finish
