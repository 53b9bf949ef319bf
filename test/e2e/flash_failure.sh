#!/usr/bin/env bash
# Flash fails midway -> the backup is programmed back and verified: exit 5, backup intact.
source "$ECUUP_SRC/test/support/testlib.sh"
bench
prepare_flash
backup_file=$(ls "$B"/state/backups/bms/*.img)
backup_sum=$(sha256sum <"$backup_file")
mkdir -p "$B/faults"; echo "fail-write 1" >"$B/faults/bms"
expect 5 "flash fails and is restored" "$ecuup" flash --progress=jsonl
check "cause and restore named" err_has "injected write fault); restored backup 1.0.0 and verified it"
check "progress shows the restore as a restore, after the failed flash" \
  bash -c "grep -o '\"phase\":\"[a-z]*\"' '$T/err' '$T/out' | sed 's/.*://' | uniq | tr '\n' ' ' | grep -q '\"flash\" \"restore\"'"
check "ECU back on the backup version" test "$(image_version "$B/ecus/bms.flash")" = 1.0.0
check "ECU memory byte-identical to the backup" cmp -s "$B/ecus/bms.flash" "$backup_file"
check "backup file intact" test "$(sha256sum <"$backup_file")" = "$backup_sum"
check "gateway not flashed after bms failed (flash order)" test "$(image_version "$B/ecus/gateway.flash")" = 2.3.0
check "gateway reported as skipped" out_has "gateway .*skipped"
expect 5 "status says restored, work pending" "$ecuup" status
check "manifest: failed_restored" grep -q "state: failed_restored" "$B/state/manifest.yaml"
expect 0 "retrying converges" "$ecuup" flash
check "bms now on 1.1.0" test "$(image_version "$B/ecus/bms.flash")" = 1.1.0
check "attempts counted" grep -q "attempts: 2" "$B/state/manifest.yaml"
finish
