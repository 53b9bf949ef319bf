#!/usr/bin/env bash
# The backup rule: flash touches an ECU only with a verified backup of the software it runs now
# (or --no-backup); the version read back after programming must be the target's; the store keeps
# the last K backups.
source "$ECUUP_SRC/test/support/testlib.sh"
bench
bms_before=$(sha256sum <"$B/ecus/bms.flash")
bms_untouched() { test "$(sha256sum <"$B/ecus/bms.flash")" = "$bms_before"; }
in_progress_none() { ! grep -q "state: in_progress" "$B/state/manifest.yaml"; }

# 1. No backup: refused before anything is touched.
"$ecuup" inventory --progress=none >/dev/null 2>&1 && "$ecuup" report --progress=none >/dev/null 2>&1 &&
  "$ecuup" fetch --progress=none >/dev/null 2>&1
expect 1 "flash without a backup is refused" "$ecuup" flash --ecu bms --json --progress=none
check "result word no-backup" test "$(json_get "$T/out" 'j["ecus"][0]["result"]')" = "no-backup"
check "error kind no_backup" test "$(json_get "$T/out" 'j["ecus"][0]["error"]["kind"]')" = "no_backup"
check "the message says how to make one" err_has "backup --read --ecu bms"
check "ECU untouched" bms_untouched
check "no flash started" in_progress_none

# 2. A backup of another version than the ECU runs: refused at import once inventory knows the version...
printf 'not the installed software\n' >"$T/other.img"
expect 4 "import of another version than the ECU runs is refused" "$ecuup" backup --import "bms=$T/other.img" --version 9.9.9
check "names what the ECU runs" err_has "bms runs 1.0.0"
check "nothing stored" test ! -e "$B/state/backups/bms"
# ...and at flash when it came in before anything was known (a fresh manifest).
mv "$B/state" "$T/state.saved"
expect 0 "import into a fresh manifest is taken" "$ecuup" backup --import "bms=$T/other.img" --version 9.9.9
"$ecuup" inventory --progress=none >/dev/null 2>&1 && "$ecuup" report --progress=none >/dev/null 2>&1 &&
  "$ecuup" fetch --progress=none >/dev/null 2>&1
expect 1 "flash refuses a backup that is no way back" "$ecuup" flash --ecu bms --json --progress=none
check "result word backup-mismatch" test "$(json_get "$T/out" 'j["ecus"][0]["result"]')" = "backup-mismatch"
check "names both versions" err_has "the backup holds 9.9.9 but the ECU runs 1.0.0"
check "ECU untouched" bms_untouched
check "no flash started" in_progress_none

# 3. A corrupt backup: exit 4, untouched.
rm -rf "$B/state"; mv "$T/state.saved" "$B/state"
"$ecuup" backup --read --ecu bms --progress=none >/dev/null 2>&1
backup_file=$(ls "$B"/state/backups/bms/*.img)
cp "$backup_file" "$T/good-backup"
printf 'X' | dd of="$backup_file" bs=1 seek=100 conv=notrunc 2>/dev/null
expect 4 "flash with a corrupt backup is refused" "$ecuup" flash --ecu bms --json --progress=none
check "result word backup-corrupt" test "$(json_get "$T/out" 'j["ecus"][0]["result"]')" = "backup-corrupt"
check "ECU untouched" bms_untouched
cp "$T/good-backup" "$backup_file"

# 4. --no-backup: flashes without one; a failure then cannot be restored (exit 6, named).
mkdir -p "$B/faults"; echo "fail-write 1" >"$B/faults/gateway"
expect 6 "--no-backup flash that fails needs a person" "$ecuup" flash --ecu gateway --no-backup --progress=none
check "says which ECU needs attention" err_has "gateway.*needs attention"
expect 6 "status says so too" "$ecuup" status --ecu gateway --json --progress=none
check "status JSON: failed_unrestored" grep -q '"failed_unrestored"' "$T/out"
expect 0 "--no-backup flash that works" "$ecuup" flash --ecu gateway --no-backup --progress=none
check "gateway on 2.4.0" test "$(image_version "$B/ecus/gateway.flash")" = 2.4.0

# 5. The version read back after programming must be the target's: a tool that "succeeds"
#    without programming is caught, and the backup goes back on.
"$ECUUP_BIN/ecuup-sim" mkimage --version 0.8.0 --size 4096 -o "$B/ecus/body.flash" >/dev/null
for step in inventory report fetch "backup --read"; do "$ecuup" $step --ecu body --progress=none >/dev/null 2>&1; done
sed -i 's|flash: tools/body-tool flash ecus/body.flash {image}|flash: "true {image}"|' "$B/ecuup.yaml"
body_before=$(image_version "$B/ecus/body.flash")
expect 5 "a flash whose version does not read back is a failure" "$ecuup" flash --ecu body --progress=none
check "names the version it found" err_has "reports version $body_before after programming, expected 0.9.0"
check "body back on $body_before" test "$(image_version "$B/ecus/body.flash")" = "$body_before"

# 6. keep: 2 -> the store holds the current backup and one older; a third pushes the oldest out.
for v in a b c; do
  head -c 4096 /dev/urandom >"$T/$v.bin"
done
rm -rf "$B/state"
expect 0 "import a" "$ecuup" backup --import "bms=$T/a.bin" --version 1.0.0
expect 0 "import b" "$ecuup" backup --import "bms=$T/b.bin" --version 1.0.0
expect 0 "import c" "$ecuup" backup --import "bms=$T/c.bin" --version 1.0.0
sha_of() { sha256sum <"$1" | cut -d' ' -f1; }
check "two files kept (default keep 2)" test "$(ls "$B"/state/backups/bms | wc -l)" -eq 2
check "the oldest is gone" bash -c "! ls '$B/state/backups/bms' | grep -q $(sha_of "$T/a.bin")"
check "the newest is current" grep -q "sha256: $(sha_of "$T/c.bin")" "$B/state/manifest.yaml"
expect 0 "backup --list" "$ecuup" backup --list --ecu bms
check "lists current and older" bash -c "grep -q current '$T/out' && grep -q older '$T/out'"
finish
