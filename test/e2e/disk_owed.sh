#!/usr/bin/env bash
# Room owed to new backups: every ECU flash programs becomes that ECU's backup later (the backup
# step, or the next step's settle), so the room one ECU needs is its own image plus the images of
# ECUs flashed before it and not yet kept -- one after another, and side by side in one flash
# order (--jobs 2). With room for one new backup and not for two, the second ECU is refused
# (no-room) untouched, and with room again the next run converges.
if [ -z "${ECUUP_DISK_NS:-}" ]; then
  unshare -rm --propagation private true 2>/dev/null || { echo "SKIP: no mount namespace (unshare -rm)"; exit 125; }
  ECUUP_DISK_NS=1 exec unshare -rm --propagation private bash "$0" "$@"
fi
source "$ECUUP_SRC/test/support/testlib.sh"
trap 'umount "$T"/*/state 2>/dev/null; cleanup' EXIT
sum() { sha256sum <"$1"; }

# A bench whose state directory is a tmpfs, prepared up to flash (downloads and backups made).
tmpfs_bench() {
  bench "$1"
  mkdir -p "$B/state"
  mount -t tmpfs -o size=8m tmpfs "$B/state" || { echo "SKIP: cannot mount a tmpfs"; exit 125; }
  prepare_flash || { echo "preparing $1 failed"; exit 1; }
}
room() { mount -o remount,size="$1" "$B/state"; }
used_k() { df -k --output=used "$B/state" | tail -1 | tr -d ' '; }
# Room for the 1 MiB reserve and bms's new backup (131136 bytes: 33 pages), not for the gateway's
# as well.
room_for_one() { room "$(( $(used_k) + 1024 + 132 + 16 ))k"; }

# One after another: bms (order 1) is flashed, and its image is owed to its backup when the
# gateway (order 2) asks for room.
tmpfs_bench "$T/seq"
gateway_before=$(sum "$B/ecus/gateway.flash")
room_for_one
expect 1 "flash with room for one new backup" "$ecuup" flash --progress=none
check "bms flashed" out_has "bms .*flashed"
check "the gateway refused" out_has "gateway .*no-room"
check "the message counts bms's owed backup" \
  err_has "for the new backup of gateway and the 131136 bytes owed to new backups of other ECUs not yet kept"
check "the gateway untouched" test "$(sum "$B/ecus/gateway.flash")" = "$gateway_before"
room 8m
expect 0 "with room, the next flash converges" "$ecuup" flash --progress=none
check "bms's new software kept as its backup first" out_has "bms .*kept"
check "the gateway flashed" out_has "gateway .*flashed"
expect 0 "backup" "$ecuup" backup --progress=none
expect 0 "status: nothing pending" "$ecuup" status --progress=none
umount "$B/state"

# Side by side: bms and the gateway in one flash order, two lanes. Whichever asks first holds its
# room; the other is refused. The lanes' order is not fixed, so the test counts.
tmpfs_bench "$T/par"
sed -i '/name: gateway/,/order:/ s/order: 2/order: 1/' "$B/ecuup.yaml"
grep -A3 'name: gateway' "$B/ecuup.yaml" | grep -q 'order: 1' || { echo "could not move the gateway to order 1"; exit 1; }
room_for_one
expect 1 "two lanes with room for one new backup" "$ecuup" flash --jobs 2 --progress=none
check "one of them flashed" test "$(grep -cE '^(bms|gateway) .*flashed' "$T/out")" = 1
check "the other refused for room" test "$(grep -cE '^(bms|gateway) .*no-room' "$T/out")" = 1
check "the refusal counts the other's room" err_has "bytes owed to new backups of other ECUs not yet kept"
room 8m
expect 0 "with room, the next flash converges" "$ecuup" flash --jobs 2 --progress=none
expect 0 "backup" "$ecuup" backup --progress=none
expect 0 "status: nothing pending" "$ecuup" status --progress=none
check "bms runs 1.1.0" test "$(image_version "$B/ecus/bms.flash")" = 1.1.0
check "the gateway runs 2.4.0" test "$(image_version "$B/ecus/gateway.flash")" = 2.4.0
umount "$B/state"
finish
