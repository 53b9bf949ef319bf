#!/usr/bin/env bash
# CLI contract of `ecuup update`, and its happy path on the example bench.
source "$ECUUP_SRC/test/support/testlib.sh"
source "$ECUUP_SRC/test/support/cli_contract.sh"
contract update
bench
"$ecuup" inventory >/dev/null 2>&1
expect 0 "update --dry-run" "$ecuup" update --dry-run
check "dry run flashes nothing" test "$(image_version "$B/ecus/bms.flash")" = 1.0.0
expect 0 "update runs every step, reading backups it lacks" "$ecuup" update --progress=none
check "bms on 1.1.0" test "$(image_version "$B/ecus/bms.flash")" = 1.1.0
check "gateway on 2.4.0" test "$(image_version "$B/ecus/gateway.flash")" = 2.4.0
check "status shown last" out_has "status of bench-vehicle-1"
expect 0 "a second update has nothing to do" "$ecuup" update --json
check "JSON lists all steps" bash -c "python3 -c 'import json,sys; j=json.load(sys.stdin); assert [s[\"step\"] for s in j[\"steps\"]]==[\"inventory\",\"report\",\"fetch\",\"flash\",\"backup\"]' <'$T/out'"
finish
