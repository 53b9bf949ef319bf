#!/usr/bin/env bash
# Never lose the way back, on the image bench (issue 13): whatever stops an update (kill -9,
# SIGINT, SIGTERM, SIGHUP, a second signal, the backup step never running), `status` tells the
# truth meanwhile and the next `ecuup update` converges. A restore refuses a backup outside the
# state directory or one naming another version, before touching the ECU.
source "$ECUUP_SRC/test/support/testlib.sh"
bench
slow() { sed -i "s/write_speed_bps: [0-9]*/write_speed_bps: $1/" "$B/ecuup.yaml"; }
manifest_field() {  # manifest_field ECU PYTHON_EXPR_ON_e
  python3 - "$B/state/manifest.yaml" "$1" "$2" <<'PY'
import sys, yaml
e = yaml.safe_load(open(sys.argv[1]))['ecus'][sys.argv[2]]
print(eval(sys.argv[3]))
PY
}
# wait_programming VERSION: until the manifest records that programming VERSION began.
wait_programming() {
  for _ in $(seq 200); do grep -q "programming $1" "$B/state/manifest.yaml" 2>/dev/null && return 0; sleep 0.05; done
  return 1
}
backup_matches() {  # backup_matches ECU: the current backup file hashes to its recorded sha256
  local path sha
  path=$(manifest_field "$1" "e['backup']['path']")
  sha=$(manifest_field "$1" "e['backup']['sha256']")
  [ "$(sha256sum "$B/state/$path" | cut -d' ' -f1)" = "$sha" ]
}

# --- Case 1: kill -9 mid-flash; status is not green while the ECU holds half an image; update converges.
prepare_flash
slow 40000
"$ecuup" update --progress=none >"$T/update.out" 2>&1 &
pid=$!
wait_programming 1.1.0 || not_ok "update never began programming bms"
sleep 0.6
kill -9 "$pid"; wait "$pid" 2>/dev/null
check "bms holds half an image" bash -c "! '$ecuup' inventory --ecu bms --json 2>/dev/null | grep -q '\"result\": \"read\"'"
expect 10 "status is not green while bms's flash is unfinished" "$ecuup" status
check "status does not show the old version as installed" bash -c "grep '^bms' '$T/out' | grep -q unfinished"
expect 0 "inventory reports the unfinished flash instead of failing" "$ecuup" inventory --ecu bms
check "inventory names it unfinished" out_has "unfinished"
expect 0 "report keeps the task of the unfinished flash" "$ecuup" report
check "bms still has its task" test "$(manifest_field bms "e['task']['target_version']")" = 1.1.0
slow 0
expect 0 "the next update converges" "$ecuup" update
check "bms runs 1.1.0" test "$(image_version "$B/ecus/bms.flash")" = 1.1.0
check "bms's backup is 1.1.0" test "$(manifest_field bms "e['backup']['version']")" = 1.1.0
check "bms's backup file is intact" backup_matches bms
expect 0 "status is green" "$ecuup" status

# --- Case 5: SIGINT, SIGTERM, SIGHUP while programming: the ECU is put back on its backup before
# exit 130; the manifest says failed_restored and the next update converges.
for sig in INT TERM HUP; do
  rm -rf "$B/state" && cp "$ECUUP_SRC/examples/bench/ecus/"* "$B/ecus/"
  prepare_flash
  slow 30000
  old=$(image_version "$B/ecus/gateway.flash")
  "$ecuup" flash --ecu gateway --progress=none >"$T/out" 2>"$T/err" &
  pid=$!
  wait_programming 2.4.0 || not_ok "SIG$sig: gateway programming never began"
  sleep 0.4
  kill -"$sig" "$pid"; wait "$pid"; code=$?
  check "SIG$sig -> exit 130 (got $code)" test "$code" -eq 130
  check "SIG$sig: gateway runs its backup $old again" test "$(image_version "$B/ecus/gateway.flash")" = "$old"
  check "SIG$sig: manifest says failed_restored" test "$(manifest_field gateway "e['flash']['state']")" = failed_restored
  check "SIG$sig: the message says it was put back" err_has "restored backup"
  slow 0
  expect 0 "SIG$sig: the next update converges" "$ecuup" update
  check "SIG$sig: gateway runs 2.4.0" test "$(image_version "$B/ecus/gateway.flash")" = 2.4.0
done

# A second signal exits at once (130, not death by signal); the manifest says in_progress and the
# next run finishes the job.
rm -rf "$B/state" && cp "$ECUUP_SRC/examples/bench/ecus/"* "$B/ecus/"
prepare_flash
slow 20000
"$ecuup" flash --ecu gateway --progress=none >"$T/out" 2>"$T/err" &
pid=$!
wait_programming 2.4.0 || not_ok "gateway programming never began"
sleep 0.3
kill -INT "$pid"; sleep 0.2; kill -INT "$pid"; wait "$pid"; code=$?
check "second SIGINT -> exit 130 (got $code)" test "$code" -eq 130
check "manifest parses and says in_progress" test "$(manifest_field gateway "e['flash']['state']")" = in_progress
slow 0
expect 0 "the next update converges" "$ecuup" update
check "gateway runs 2.4.0" test "$(image_version "$B/ecus/gateway.flash")" = 2.4.0

# --- Case 9: the flash succeeded but the backup step never ran: the next run keeps the new
# software as the backup, so the next release still has its way back.
rm -rf "$B/state" && cp "$ECUUP_SRC/examples/bench/ecus/"* "$B/ecus/"
prepare_flash
expect 0 "flash alone" "$ecuup" flash --ecu bms
check "the backup still holds the old version" test "$(manifest_field bms "e['backup']['version']")" != 1.1.0
expect 0 "any next step finishes the backup (inventory)" "$ecuup" inventory
check "bms's backup follows what it runs: 1.1.0" test "$(manifest_field bms "e['backup']['version']")" = 1.1.0
check "bms's backup file is intact" backup_matches bms
cp "$ECUUP_SRC/examples/bench/repository-next/"* "$B/repository/"
expect 0 "the next release is flashed" "$ecuup" update --ecu bms
check "bms runs 1.2.0" test "$(image_version "$B/ecus/bms.flash")" = 1.2.0

# A restore refuses a backup outside the state directory, and one whose image names another
# version, before touching the ECU.
before=$(sha256sum "$B/ecus/bms.flash" | cut -d' ' -f1)
cp "$B/state/manifest.yaml" "$T/manifest.good"
sed -i "0,/path: backups\/bms\//s|path: backups/bms/|path: ../../../../etc/bms/|" "$B/state/manifest.yaml"
expect 4 "restore refuses a backup path outside state/" "$ecuup" restore --ecu bms
check "bms untouched" test "$(sha256sum "$B/ecus/bms.flash" | cut -d' ' -f1)" = "$before"
cp "$T/manifest.good" "$B/state/manifest.yaml"
python3 - "$B/state/manifest.yaml" <<'PY'
import sys, yaml
m = yaml.safe_load(open(sys.argv[1]))
m['ecus']['bms']['backup']['version'] = '9.9.9'
open(sys.argv[1], 'w').write(yaml.safe_dump(m, sort_keys=False))
PY
expect 4 "restore refuses a backup whose image names another version" "$ecuup" restore --ecu bms
check "says which version the image holds" err_has "holds version 1.2.0"
check "bms untouched" test "$(sha256sum "$B/ecus/bms.flash" | cut -d' ' -f1)" = "$before"
cp "$T/manifest.good" "$B/state/manifest.yaml"
finish
