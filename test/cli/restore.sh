#!/usr/bin/env bash
# CLI contract of `ecuup restore`, and its happy path on the example bench.
source "$ECUUP_SRC/test/support/testlib.sh"
source "$ECUUP_SRC/test/support/cli_contract.sh"
contract restore
bench
expect 2 "restore without --ecu" "$ecuup" restore
"$ecuup" inventory >/dev/null 2>&1
expect 1 "restore without a backup" "$ecuup" restore --ecu bms
prepare_flash; "$ecuup" flash >/dev/null 2>&1
check "bms on 1.1.0 before restore" test "$(image_version "$B/ecus/bms.flash")" = 1.1.0
expect 0 "restore --dry-run" "$ecuup" restore --ecu bms --dry-run
check "dry run leaves 1.1.0" test "$(image_version "$B/ecus/bms.flash")" = 1.1.0
expect 0 "restore" "$ecuup" restore --ecu bms
check "bms back on its backup 1.0.0" test "$(image_version "$B/ecus/bms.flash")" = 1.0.0
mkdir -p "$B/faults"; echo "fail-write 3" >"$B/faults/bms"  # each of its 3 attempts fails
expect 6 "a restore whose 3 attempts fail needs a person" "$ecuup" restore --ecu bms
check "and says so" err_has "needs attention"
finish
