#!/usr/bin/env bash
# rollback: vehicle (issue 13): when an ECU of a run fails and is restored, the ECUs that run
# flashed before it are put back on their backups, last flashed first; the vehicle ends on the
# versions it started with, all verified, exit 5; manifest, status and the server's feedback say
# so. rollback: ecu (the default) keeps today's behaviour. A bad value is a config error.
source "$ECUUP_SRC/test/support/testlib.sh"
bench
sed -i 's/write_speed_bps: [0-9]*/write_speed_bps: 0/' "$B/ecuup.yaml"
manifest_field() {
  python3 - "$B/state/manifest.yaml" "$1" "$2" <<'PY'
import sys, yaml
e = yaml.safe_load(open(sys.argv[1]))['ecus'][sys.argv[2]]
print(eval(sys.argv[3]))
PY
}
bms0=$(image_version "$B/ecus/bms.flash")
gw0=$(image_version "$B/ecus/gateway.flash")
body0=$("$B/tools/body-tool" version "$B/ecus/body.flash" 2>/dev/null || true)

# The default (rollback: ecu): bms keeps its new software when gateway fails.
prepare_flash
mkdir -p "$B/faults" && echo "fail-write 1" >"$B/faults/gateway"
expect 5 "rollback: ecu: gateway fails and is restored" "$ecuup" flash
check "rollback: ecu: bms keeps 1.1.0" test "$(image_version "$B/ecus/bms.flash")" = 1.1.0
check "rollback: ecu: gateway runs $gw0 again" test "$(image_version "$B/ecus/gateway.flash")" = "$gw0"

# rollback: vehicle in the config.
rm -rf "$B/state" "$B/repository/feedback" && cp "$ECUUP_SRC/examples/bench/ecus/"* "$B/ecus/"
sed -i 's/^allow_downgrade: false/allow_downgrade: false\nrollback: vehicle/' "$B/ecuup.yaml"
prepare_flash
echo "fail-write 1" >"$B/faults/gateway"
expect 5 "rollback: vehicle: gateway fails, the run is undone" "$ecuup" flash --json
check "bms is rolled back" test "$(json_get "$T/out" "[e['result'] for e in j['ecus'] if e['name']=='bms'][0]")" = rolled-back
check "gateway is restored" test "$(json_get "$T/out" "[e['result'] for e in j['ecus'] if e['name']=='gateway'][0]")" = restored
check "body (a later order, no task) is not flashed" test "$(json_get "$T/out" "[e['result'] for e in j['ecus'] if e['name']=='body'][0]")" != flashed
check "bms runs $bms0 again" test "$(image_version "$B/ecus/bms.flash")" = "$bms0"
check "gateway runs $gw0 again" test "$(image_version "$B/ecus/gateway.flash")" = "$gw0"
check "bms's manifest: failed_restored, installed $bms0" \
  test "$(manifest_field bms "e['flash']['state'] + ' ' + e['installed']['version']")" = "failed_restored $bms0"
check "bms's backup is still $bms0" test "$(manifest_field bms "e['backup']['version']")" = "$bms0"
expect 5 "status says the flashes failed and were put back" "$ecuup" status
check "status names the rollback" out_has "rollback"
check "the server heard a failure for bms" \
  python3 -c "
import json, sys
lines = [json.loads(l) for l in open('$B/repository/feedback/bench-vehicle-1.jsonl')]
sys.exit(0 if any(l['finished'] == 'failure' and any('bms' in d and 'rollback' in d for d in l['details']) for l in lines) else 1)"
expect 0 "the next update converges" "$ecuup" update
check "bms runs 1.1.0" test "$(image_version "$B/ecus/bms.flash")" = 1.1.0
check "gateway runs 2.4.0" test "$(image_version "$B/ecus/gateway.flash")" = 2.4.0

# --rollback on the command line overrides the config.
rm -rf "$B/state" && cp "$ECUUP_SRC/examples/bench/ecus/"* "$B/ecus/"
prepare_flash
echo "fail-write 1" >"$B/faults/gateway"
expect 5 "--rollback=ecu overrides the config" "$ecuup" flash --rollback=ecu
check "bms keeps 1.1.0" test "$(image_version "$B/ecus/bms.flash")" = 1.1.0
expect 2 "--rollback=car is a usage error" "$ecuup" flash --rollback=car
sed -i 's/^rollback: vehicle/rollback: fleet/' "$B/ecuup.yaml"
expect 2 "rollback: fleet is a config error" "$ecuup" status
check "with the line and column" err_has "ecuup.yaml:[0-9]*:[0-9]*:.*rollback"
finish
