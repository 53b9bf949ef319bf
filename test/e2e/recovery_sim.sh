#!/usr/bin/env bash
# Never lose the way back, over UDS against ecuup-sim (issue 13):
#  1. kill -9 of ecuup right after the erase leaves the ECU in its boot loader (F189 answers BOOT):
#     status is not green, report keeps the task, and the next `ecuup update` finishes the flash;
#  6. an ECU that keeps refusing the programming session was never touched: exit 1, not 6;
#  8. a read-out whose image does not fit the regions read is no backup: exit 4, nothing kept;
#  9. a fault that fires once before anything was erased is retried, never answered by a restore;
#     a read-out is restored where it was read from, whatever the config's image settings say now.
source "$(dirname "$0")/sim_lib.bash"
need_ecuup_uds
sim_bench_dirs
{
  printf 'doip: {port: 0}\necus:\n'
  sim_ecu_yaml gw 10000 "erase_time_ms: 50, reset_time_ms: 100"
  sim_ecu_yaml bms 10000 "erase_time_ms: 50, reset_time_ms: 100"
} >"$WORK/sim.yaml"
write_bench() {
  vehicle_bench sim-vehicle-recovery >"$BENCH/ecuup.yaml"
}
manifest_field() {  # manifest_field ECU PYTHON_EXPR_ON_e
  python3 - "$BENCH/state/manifest.yaml" "$1" "$2" <<'PY'
import sys, yaml
e = yaml.safe_load(open(sys.argv[1]))['ecus'][sys.argv[2]]
print(eval(sys.argv[3]))
PY
}
is() {  # is ECU VERSION
  local v
  v=$(sim_version "$STATE" "$1")
  [[ $v == "$2" ]] && ok || fail "$1 runs $v (want $2)"
}

"$SIM" mkimage --version 1.1.0 --size 30000 --seed 31 -o "$WORK/gw-1.1.0.img"
"$SIM" mkimage --version 2.1.0 --size 30000 --seed 32 -o "$WORK/bms-2.1.0.img"
add_release "$BENCH/repository" gw 1.1.0 "$WORK/gw-1.1.0.img"
add_release "$BENCH/repository" bms 2.1.0 "$WORK/bms-2.1.0.img"
sim_restart

# --- Case 8: a read-out region smaller than the image its header describes is refused.
write_bench
sed -i '0,/size: 0x10000}\]/s//size: 0x1000}]/' "$BENCH/ecuup.yaml"   # gw reads 4 KiB of a 10000-byte image
ecuup_run 0 inventory
ecuup_run 4 backup --read --ecu gw
grep -qiE "incomplete|payload|length" "$WORK/ecuup.err" && ok || fail "case 8: cause not named: $(cat "$WORK/ecuup.err")"
[[ $(manifest_field gw "e.get('backup')") == None ]] && ok || fail "case 8: an incomplete backup was kept"
[[ -z $(find "$BENCH/state/backups" -name '*.img' 2>/dev/null) ]] && ok || fail "case 8: a backup file was left behind"
write_bench

ecuup_run 0 inventory
ecuup_run 0 report
ecuup_run 0 fetch
ecuup_run 0 backup --read

# --- Case 9: one refusal before anything was erased: tried again, flashed, no restore (exit 0).
sim_restart --fault "gw:nrc:0x27:0x22:once"
ecuup_run 0 flash --ecu gw
grep -qi "restor" "$WORK/ecuup.err" && fail "case 9: an untouched ECU was restored: $(cat "$WORK/ecuup.err")" || ok
is gw 1.1.0

# --- Case 6: an ECU that refuses the programming session every time was never touched: exit 1.
sim_restart --fault "bms:nrc:0x10:0x22:always"
ecuup_run 1 flash --ecu bms
is bms 2.0.0
ecuup_run 10 status
grep -q needs "$WORK/ecuup.out" && fail "case 6: status says bms needs a person" || ok

# --- Case 1: kill -9 right after the erase; the ECU answers from its boot loader.
sim_restart --fault "bms:silence:block=2:ms=4000"
began=$(grep -c "programming 2.1.0" "$BENCH/state/manifest.yaml" || true)
(cd "$BENCH" && exec "$ECUUP" update --progress none >"$WORK/update.out" 2>"$WORK/update.err") &
pid=$!
for _ in $(seq 300); do
  (($(grep -c "programming 2.1.0" "$BENCH/state/manifest.yaml" || true) > began)) && break
  sleep 0.05
done
sleep 1
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
sim_restart
is bms invalid
ecuup_run 10 status
grep -E '^bms' "$WORK/ecuup.out" | grep -q unfinished && ok || fail "case 1: status table: $(cat "$WORK/ecuup.out")"
ecuup_run 0 inventory
ecuup_run 0 report
[[ $(manifest_field bms "e['task']['target_version']") == 2.1.0 ]] && ok || fail "case 1: report dropped bms's task"
ecuup_run 0 update
is bms 2.1.0
[[ $(manifest_field bms "e['backup']['version']") == 2.1.0 ]] && ok || fail "case 1: bms's backup is not 2.1.0"
ecuup_run 0 status

# --- Case 9 (last part): a read-out goes back where it was read from, even after the config's
# image settings changed since.
ecuup_run 0 backup --read --ecu gw
[[ $(manifest_field gw "e['backup'].get('layout')") == raw@0x00000000 ]] && ok ||
  fail "the read-out's layout is not recorded: $(manifest_field gw "e['backup']")"
sed -i '0,/image: {format: raw, base_address: 0x0}/s//image: {format: raw, base_address: 0x4000}/' "$BENCH/ecuup.yaml"
ecuup_run 0 restore --ecu gw
is gw 1.1.0
sim_run_stop TERM
finish
