#!/usr/bin/env bash
# Feedback held while ecuup-server is down: flash and backup still work and queue their results in
# the manifest's feedback_queue; status keeps the queue and says so (a note, exit 0 per
# ecuup-status(1)); once the server is back, status delivers it in order and the server shows it.
source "$ECUUP_SRC/test/support/testlib.sh"
source "$ECUUP_SRC/test/support/ddi_server.sh"
srv_start || exit 1
srv_upload_bench
ddi_bench
srv_admin assign --part bms --version 1.1.0 --all >/dev/null
check "inventory, report, fetch, backup --read" prepare_flash
sed -i 's/^  max_attempts: .*/  max_attempts: 1/' "$B/ecuup.yaml"
srv_stop
expect 0 "flash while the server is down" "$ecuup" flash --progress=none
check "bms runs 1.1.0" test "$(image_version "$B/ecus/bms.flash")" = 1.1.0
check "proceeding feedback queued" bash -c "grep -A40 '^feedback_queue:' '$B/state/manifest.yaml' | grep -q 'execution: proceeding'"
expect 0 "backup while the server is down" "$ecuup" backup --progress=none
check "backup says the feedback is kept for later" grep -q "kept for later" "$T/out" "$T/err"
check "closed/success queued after proceeding" python3 -c "
t=open('$B/state/manifest.yaml').read(); q=t[t.index('feedback_queue:'):]
assert q.index('execution: proceeding') < q.index('execution: closed'), q
assert 'finished: success' in q, q"
expect 0 "status with the server down (delivery problems are notes)" "$ecuup" status --json
check "status: the queue is kept" python3 -c "
import json; j=json.load(open('$T/out')); assert j['feedback_queued'] >= 2, j
assert any('kept for later' in n for n in j['notes']), j['notes']"
check "the queue is still in the manifest" grep -q '^feedback_queue:' "$B/state/manifest.yaml"
srv_actions bench-vehicle-1
check "the server has not heard anything yet" python3 -c "
import json; a=json.load(open('$T/actions.json'))[0]; assert a['state']!='closed', a
assert not [h for h in a['history'] if h['execution'] in ('proceeding','closed')], a"

srv_restart || exit 1
expect 0 "status once the server is back" "$ecuup" status --json
check "status: queue empty, delivery noted" python3 -c "
import json; j=json.load(open('$T/out')); assert j['feedback_queued']==0, j
assert any('delivered' in n for n in j['notes']), j['notes']"
check "the manifest's queue is empty" bash -c "! grep -A2 '^feedback_queue:' '$B/state/manifest.yaml' | grep -q 'action_id'"
srv_actions bench-vehicle-1
check "the server shows proceeding then closed/success" python3 -c "
import json; a=json.load(open('$T/actions.json'))[0]
ex=[(h['execution'],h['finished']) for h in a['history'] if h['kind']=='deployment']
assert ex.index(('proceeding','none')) < ex.index(('closed','success')), ex
assert a['state']=='closed' and a['result']=='success', a"
expect 0 "a second status has nothing to deliver" "$ecuup" status --json
check "no delivery note" python3 -c "
import json; j=json.load(open('$T/out')); assert j['feedback_queued']==0 and not j['notes'], j"
finish
