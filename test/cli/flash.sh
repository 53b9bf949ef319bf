#!/usr/bin/env bash
# CLI contract of `ecuup flash`, and its happy path on the example bench.
source "$ECUUP_SRC/test/support/testlib.sh"
source "$ECUUP_SRC/test/support/cli_contract.sh"
contract flash
bench
prepare_flash
sum_before=$(sha256sum "$B/ecus/bms.flash")
expect 0 "flash --dry-run" "$ecuup" flash --dry-run
check "plan shows version, bytes and backup" out_has "bms .*would-flash .*1.0.0 -> 1.1.0, 131136 bytes, backup 1.0.0 (verified)"
check "dry run leaves the ECU untouched" test "$(sha256sum "$B/ecus/bms.flash")" = "$sum_before"
expect 0 "flash" "$ecuup" flash --progress=none
check "bms flashed" out_has "bms .*flashed .*1.0.0 -> 1.1.0"
check "ECU memory holds 1.1.0" test "$(image_version "$B/ecus/bms.flash")" = 1.1.0
expect 0 "flash again is idempotent" "$ecuup" flash
check "already flashed" out_has "already flashed"
finish
