#!/usr/bin/env bash
# A download whose sha256 does not match: exit 4, nothing recorded as verified, the ECU untouched.
source "$ECUUP_SRC/test/support/testlib.sh"
bench
"$ecuup" inventory >/dev/null 2>&1; "$ecuup" report >/dev/null 2>&1; "$ecuup" backup --read >/dev/null 2>&1
printf '\x00' | dd of="$B/repository/bms-1.1.0.img" bs=1 seek=1000 conv=notrunc 2>/dev/null
before=$(sha256sum "$B/ecus/bms.flash")
expect 4 "fetch of a corrupt artifact" "$ecuup" fetch --ecu bms
check "names the mismatch" err_has "sha256 mismatch"
check "no verified download recorded" bash -c "! grep -q 'verified: true' '$B/state/manifest.yaml'"
check "the bad bytes are discarded" bash -c "! ls '$B'/state/downloads/partial/*.part 2>/dev/null | grep -q ."
expect 1 "flash refuses what is not verified" "$ecuup" flash --ecu bms
check "flash says fetch first" err_has "run \`ecuup fetch\`"
check "ECU untouched" test "$(sha256sum "$B/ecus/bms.flash")" = "$before"
# The image changing after fetch verified it is caught right before flashing.
git -C "$ECUUP_SRC" show HEAD:examples/bench/repository/bms-1.1.0.img >"$B/repository/bms-1.1.0.img" 2>/dev/null ||
  cp "$ECUUP_SRC/examples/bench/repository/bms-1.1.0.img" "$B/repository/bms-1.1.0.img"
expect 0 "fetch of the good artifact" "$ecuup" fetch --ecu bms
img=$(ls "$B"/state/downloads/* -d | grep -v partial | head -1)
echo tamper >>"$img"
expect 4 "flash of a tampered image" "$ecuup" flash --ecu bms
check "ECU still untouched" test "$(sha256sum "$B/ecus/bms.flash")" = "$before"
finish
