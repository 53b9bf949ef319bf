#!/usr/bin/env bash
# Readers that change nothing write nothing: `status` with nothing to deliver (run all day by cron),
# dry runs and `backup --list` leave state/manifest.yaml as it was: same inode, same mtime, same
# bytes. A status that has something to do (a flash to keep as the backup) still writes.
source "$ECUUP_SRC/test/support/testlib.sh"

bench
M=$B/state/manifest.yaml
expect 0 "update" "$ecuup" update --progress=none
stamp() { stat -c '%i %Y.%y' "$M"; }
before=$(stamp)
sum=$(sha256sum <"$M")
sleep 1.1  # an mtime written now would differ
expect 0 "status with nothing pending" "$ecuup" status --progress=none
expect 0 "status --json" "$ecuup" status --json
expect 0 "status --no-sync" "$ecuup" status --no-sync
expect 0 "backup --list" "$ecuup" backup --list
expect 0 "flash --dry-run" "$ecuup" flash --dry-run --progress=none
expect 0 "update --dry-run" "$ecuup" update --dry-run --progress=none
check "the manifest kept its inode and mtime" [ "$(stamp)" = "$before" ]
check "the manifest kept its bytes" [ "$(sha256sum <"$M")" = "$sum" ]
check "no temp file was left beside it" [ "$(find "$B/state" -maxdepth 1 -name '*.tmp*' | wc -l)" -eq 0 ]

# A step that changes something still writes, with its time.
expect 0 "inventory (records when each ECU was read)" "$ecuup" inventory --progress=none
check "inventory wrote the manifest" [ "$(stamp)" != "$before" ]

# status that finishes work (a flash not yet kept as the backup) writes.
bench "$T/b2"
M=$B/state/manifest.yaml
prepare_flash || not_ok "prepare_flash"
expect 0 "flash (without the backup step)" "$ecuup" flash --progress=none
before=$(stamp)
sleep 1.1
expect 0 "status keeps the flashed software as the backup" "$ecuup" status --progress=none
check "that status wrote the manifest" [ "$(stamp)" != "$before" ]
check "and says so" grep -q 'kept' "$T/out" "$T/err"
finish
