#!/usr/bin/env bash
# CLI contract of `ecuup backup`, and its happy path on the example bench.
source "$ECUUP_SRC/test/support/testlib.sh"
source "$ECUUP_SRC/test/support/cli_contract.sh"
contract backup
bench
"$ecuup" inventory >/dev/null 2>&1
expect 0 "backup --list with no backups" "$ecuup" backup --list
check "says none" out_has "bms .*none"
expect 2 "--import without --version" "$ecuup" backup --import "bms=$B/repository/bms-1.1.0.img"
expect 2 "--import of a missing file" "$ecuup" backup --import "bms=$B/nope.img" --version 1.0.0
expect 4 "--import with the wrong version is refused" "$ecuup" backup --import "bms=$B/ecus/bms.flash" --version 9.9.9
cp "$B/ecus/bms.flash" "$T/bms-backup.img"
expect 0 "--import" "$ecuup" backup --import "bms=$T/bms-backup.img" --version 1.0.0
check "imported" out_has "bms .*imported .*1.0.0"
cp "$B/state/manifest.yaml" "$T/manifest.before"
expect 0 "--read --dry-run" "$ecuup" backup --read --dry-run --ecu gateway
check "would read" out_has "gateway .*would-read .*2.3.0"
check "dry run: manifest byte-identical" cmp -s "$B/state/manifest.yaml" "$T/manifest.before"
check "dry run: nothing stored" test ! -e "$B/state/backups/gateway"
expect 0 "--read" "$ecuup" backup --read --ecu gateway --ecu body
check "read both" out_has "body .*read .*0.9.0"
expect 0 "--list" "$ecuup" backup --list
check "lists the store" out_has "gateway .*current .*2.3.0"
expect 0 "backup with nothing flashed is a no-op" "$ecuup" backup
check "nothing new" out_has "bms .*nothing-new"
# The store is content-addressed: a corrupt backup is detected.
f=$(ls "$B"/state/backups/bms/*.img); echo x >>"$f"
expect 4 "a corrupt backup shows in --list" "$ecuup" backup --list --ecu bms
finish
