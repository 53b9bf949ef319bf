#!/usr/bin/env bash
# Readers never wait for the writer (issue 11): while `flash` holds the manifest lock, status,
# backup --list and every --dry-run answer from the last committed manifest, never exit 7, ask
# no ECU and write nothing.
source "$ECUUP_SRC/test/support/testlib.sh"
bench
sed -i 's/write_speed_bps: 1048576/write_speed_bps: 30000/' "$B/ecuup.yaml"   # ~4 s per ECU
prepare_flash || { echo "not ok - bench setup"; exit 1; }
"$ecuup" flash --ecu bms --progress=none >"$T/flash.out" 2>&1 &
pid=$!
bg_pids+=("$pid")
for _ in $(seq 200); do grep -q "state: in_progress" "$B/state/manifest.yaml" 2>/dev/null && break; sleep 0.05; done
cp "$B/state/manifest.yaml" "$T/during.yaml"
ino=$(stat -c %i "$B/state/manifest.yaml")

expect 10 "status --no-sync shows the state while flash runs (work pending)" "$ecuup" status --no-sync
check "it shows bms's flash in progress" out_has "in_progress"
expect 10 "status (with sync) does not wait either" "$ecuup" status
check "it says another ecuup holds the lock, and that it delivered nothing" \
  bash -c "grep -q 'locked by another ecuup (pid $pid' $T/out $T/err && grep -q 'delivers nothing' $T/out $T/err"
expect 10 "status --json while flash runs" "$ecuup" status --json
check "its notes name the running ecuup" \
  python3 -c "import json,sys; j=json.load(open('$T/out')); sys.exit(0 if any('pid $pid' in n for n in j['notes']) else 1)"
check "its bms entry is the committed in-progress state" \
  python3 -c "import json,sys; j=json.load(open('$T/out')); e=[x for x in j['ecus'] if x['name']=='bms'][0]; sys.exit(0 if e['flash_state']=='in_progress' and e['unfinished'] else 1)"
expect 0 "backup --list while flash runs" "$ecuup" backup --list
check "it lists bms's backup" out_has "bms"
expect 0 "flash --dry-run while flash runs" "$ecuup" flash --dry-run --ecu gateway
check "the plan says the ECU was not asked" out_has "ECU not asked"
check "and names the running ecuup" out_has "pid $pid"
expect 0 "flash --dry-run of the very ECU being flashed" "$ecuup" flash --dry-run --ecu bms
expect 0 "inventory --dry-run while flash runs" "$ecuup" inventory --dry-run
check "inventory asked no ECU" out_has "not-asked"
expect 0 "update --dry-run while flash runs" "$ecuup" update --dry-run
check "backup --read --dry-run while flash runs" "$ecuup" backup --read --dry-run --progress=none
check "the flash was still running through all of it" kill -0 "$pid"
check "no reader wrote the manifest (same inode, same bytes)" \
  test "$(stat -c %i "$B/state/manifest.yaml")" = "$ino" -a -z "$(cmp "$B/state/manifest.yaml" "$T/during.yaml")"
# A writer is still refused: only readers go around the lock.
expect 7 "a second writer (inventory) is refused" "$ecuup" inventory
wait "$pid"; code=$?
check "the flash finished normally (exit $code)" test "$code" -eq 0
expect 0 "status after the flash takes the lock and keeps the new backup" "$ecuup" status --ecu bms
check "and says nothing of another ecuup" bash -c "! grep -q 'locked by another' '$T/err'"
finish
