#!/usr/bin/env bash
# A full disk under the state directory (a small tmpfs, in a mount namespace of the test's own):
# fetch, backup --read, flash and backup refuse what cannot fit before they write it, with exit 1,
# a message that says how much room is needed, a manifest that still reads, intact backups and
# untouched ECUs; with room again, the next run converges. Last, a read-only state directory.
if [ -z "${ECUUP_DISK_NS:-}" ]; then
  unshare -rm --propagation private true 2>/dev/null || { echo "SKIP: no mount namespace (unshare -rm)"; exit 125; }
  ECUUP_DISK_NS=1 exec unshare -rm --propagation private bash "$0" "$@"
fi
source "$ECUUP_SRC/test/support/testlib.sh"
bench
mkdir -p "$B/state"
mount -t tmpfs -o size=1200k tmpfs "$B/state" || { echo "SKIP: cannot mount a tmpfs"; exit 125; }
trap 'umount "$B/state" 2>/dev/null; cleanup' EXIT
room() { mount -o remount,size="$1" "$B/state"; }
used_k() { df -k --output=used "$B/state" | tail -1 | tr -d ' '; }
fill() { dd if=/dev/zero of="$B/state/filler" bs=4k 2>/dev/null; true; }
unfill() { rm -f "$B/state/filler"; }
manifest_reads() { "$ecuup" status --no-sync --progress=none >/dev/null 2>&1; [ $? -ne 2 ]; }
sum() { sha256sum <"$1"; }

expect 0 "inventory" "$ecuup" inventory --progress=none
expect 0 "report" "$ecuup" report --progress=none

# 1.2 MiB: room for bms's 128 KiB and the 1 MiB kept for the manifest, not for the gateway's too.
expect 1 "fetch with room for one artifact" "$ecuup" fetch --progress=none
check "bms downloaded" out_has "bms .*downloaded"
check "the gateway refused, naming the artifact and the room it needs" \
  err_has "not enough free space in $B/state for gateway-2.4.0.tar.gz: it needs 82319 bytes"
check "no partial gateway download started" bash -c "! ls '$B'/state/downloads/partial/*.part 2>/dev/null | grep -q ."
check "the manifest reads" manifest_reads

# Nothing free at all: the refusal is still told, and so is the manifest that could not record it.
fill
expect 1 "fetch on a full disk" "$ecuup" fetch --ecu gateway --progress=none
check "the room is named first" err_has "not enough free space in .* 0 are free"
check "then the manifest that could not record it" err_has "and the manifest could not record it: .*No space left on device"
expect 1 "backup --read on a full disk" "$ecuup" backup --read --progress=none
check "no read-out started" err_has "for a read-out of bms: 1048576 bytes are kept free for the manifest"
check "no read-out left behind" bash -c "! ls -A '$B'/state/backups 2>/dev/null | grep -q readout"
check "the manifest still reads" manifest_reads
expect 1 "status on a full disk: exit 1" "$ecuup" status --progress=none
check "it still shows every ECU" bash -c "grep -q '^bms ' '$T/out' && grep -q '^gateway ' '$T/out' && grep -q '^body ' '$T/out'"
check "and says the manifest could not be saved" bash -c "cat '$T/out' '$T/err' | grep -q 'cannot save the manifest: .*No space left on device'"
unfill

room 4m
expect 0 "fetch with room converges" "$ecuup" fetch --progress=none
check "bms kept from the first run" out_has "bms .*cached"
check "gateway downloaded" out_has "gateway .*downloaded"
expect 0 "backup --read with room" "$ecuup" backup --read --progress=none
bms_backup=$(ls "$B"/state/backups/bms/*.img)
bms_backup_sum=$(sum "$bms_backup")
bms_before=$(sum "$B/ecus/bms.flash")
check "a read-out is moved into the store, not copied: nothing else left" \
  bash -c "[ \$(ls -A '$B'/state/backups/bms | wc -l) = 1 ]"

# Room for the manifest, not for the new backup the flash would make: no ECU is touched.
room "$(( $(used_k) + 1024 + 64 ))k"
expect 1 "flash without room for the new backup" "$ecuup" flash --progress=none
check "bms refused before anything was sent" out_has "bms .*no-room"
check "the message names the new backup" err_has "not enough free space in $B/state for the new backup of bms: it needs 131136 bytes"
check "gateway not flashed after bms" out_has "gateway .*skipped"
check "bms untouched" test "$(sum "$B/ecus/bms.flash")" = "$bms_before"
check "gateway untouched" test "$(image_version "$B/ecus/gateway.flash")" = 2.3.0
check "the manifest reads" manifest_reads

# Room to flash; the disk fills before the backup step: the old backup stays, the next run keeps it.
room 4m
expect 0 "flash with room" "$ecuup" flash --progress=none
check "bms runs 1.1.0" test "$(image_version "$B/ecus/bms.flash")" = 1.1.0
fill
expect 1 "backup on a full disk" "$ecuup" backup --progress=none
check "the backup's room is named" err_has "for bms's backup: it needs 131136 bytes"
check "the old backup file is intact" test "$(sum "$bms_backup")" = "$bms_backup_sum"
check "the manifest still records the old backup" bash -c "grep -A2 'backup:' '$B/state/manifest.yaml' | grep -q 'version: 1.0.0'"
check "the manifest still reads" manifest_reads
unfill
expect 0 "backup with room converges" "$ecuup" backup --progress=none
expect 0 "status: nothing pending" "$ecuup" status --progress=none
check "bms's backup is 1.1.0" bash -c "'$ecuup' backup --list --ecu bms 2>/dev/null | grep -q '1.1.0'"

# A state directory that cannot be written (a read-only mount): readers show the last committed
# manifest with a note; a step that would change something says why it cannot.
manifest_sum=$(sum "$B/state/manifest.yaml")
mount -o remount,ro "$B/state"
expect 0 "status of a read-only state directory" "$ecuup" status --progress=none
check "it says the directory is not writable" bash -c "cat '$T/out' '$T/err' | grep -q 'state directory .* is not writable here (Read-only file system)'"
expect 0 "status --json too" "$ecuup" status --json --progress=none
expect 0 "a dry run plans from the manifest" "$ecuup" flash --dry-run --progress=none
expect 1 "inventory cannot record" "$ecuup" inventory --progress=none
check "and says why" err_has "Read-only file system"
mount -o remount,rw "$B/state"
check "the manifest is unchanged" test "$(sum "$B/state/manifest.yaml")" = "$manifest_sum"
umount "$B/state"
finish
