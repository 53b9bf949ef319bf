#!/usr/bin/env bash
# Flash fails and every restore attempt fails too (ecuup tries three times): exit 6, and the ECU
# that needs a person is named. `ecuup restore` then puts the backup back the same way: a first
# attempt that fails half-way is made again.
source "$ECUUP_SRC/test/support/testlib.sh"
bench
prepare_flash
mkdir -p "$B/faults"; echo "fail-write 4" >"$B/faults/bms"
expect 6 "flash and restore fail" "$ecuup" flash
check "says the ECU needs attention" err_has "RESTORE FAILED.*ECU bms needs attention"
expect 6 "status keeps saying so" "$ecuup" status --json
check "JSON flash_state failed_unrestored" bash -c "python3 -c 'import json,sys; j=json.load(sys.stdin); assert [e for e in j[\"ecus\"] if e[\"name\"]==\"bms\"][0][\"flash_state\"]==\"failed_unrestored\"' <'$T/out'"
check "backup still there" test -n "$(ls "$B"/state/backups/bms/*.img)"
echo "fail-write 1" >"$B/faults/bms"
expect 0 "restore makes a second attempt after a failed write" "$ecuup" restore --ecu bms -v
check "says the first attempt failed" err_has "restore attempt 1 failed.*trying again"
check "bms on 1.0.0 after the second attempt" test "$(image_version "$B/ecus/bms.flash")" = 1.0.0
expect 10 "status: nothing needs attention, the task is still pending" "$ecuup" status
expect 0 "a person runs restore once the fault is gone" "$ecuup" restore --ecu bms
check "bms back on 1.0.0" test "$(image_version "$B/ecus/bms.flash")" = 1.0.0
finish
