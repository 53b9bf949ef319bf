#!/usr/bin/env bash
# The whole method, step by step, on the example bench (image + command drivers, dir repository).
source "$ECUUP_SRC/test/support/testlib.sh"
bench
expect 0 inventory "$ecuup" inventory
expect 0 report "$ecuup" report
expect 0 fetch "$ecuup" fetch
expect 0 "backup --read seeds the backups" "$ecuup" backup --read
expect 0 flash "$ecuup" flash
check "bms runs 1.1.0" test "$(image_version "$B/ecus/bms.flash")" = 1.1.0
check "gateway runs 2.4.0 (from the archive's package.yaml)" test "$(image_version "$B/ecus/gateway.flash")" = 2.4.0
check "body untouched" test "$(image_version "$B/ecus/body.flash")" = 0.9.0
expect 0 backup "$ecuup" backup
check "the new software is the new backup" out_has "bms .*kept .*1.1.0"
bms_backup=$(ls "$B"/state/backups/bms/*.img | wc -l)
check "old backup kept too (keep: 2)" test "$bms_backup" -eq 2
check "new backup is byte-identical to the flashed image" cmp -s "$B/state/backups/bms/$(sha256sum "$B/repository/bms-1.1.0.img" | cut -d' ' -f1).img" "$B/repository/bms-1.1.0.img"
expect 0 "status: nothing pending" "$ecuup" status --json
check "installed = backup version for every flashed ECU" bash -c "python3 -c '
import json,sys
j=json.load(sys.stdin)
for e in j[\"ecus\"]:
    assert e[\"installed\"]==e[\"backup\"], e
' <'$T/out'"
check "feedback reached the repository" grep -q '"finished":"success"' "$B/repository/feedback/bench-vehicle-1.jsonl"
check "manifest parses as YAML and keeps events" python3 -c "
import sys
t=open('$B/state/manifest.yaml').read()
assert 'schema: 1' in t and 'events:' in t and 'flashed 1.1.0' in t"
# A third backup of the same ECU rotates the oldest away.
cp "$B/repository/bms-1.1.0.img" "$T/again.img"
"$ecuup" backup --import "gateway=$B/ecus/gateway.flash" --version 2.4.0 >/dev/null 2>&1
check "gateway still keeps two backups" test "$(ls "$B"/state/backups/gateway/*.img | wc -l)" -eq 2
finish
