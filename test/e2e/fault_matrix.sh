#!/usr/bin/env bash
# The fault matrix (issue 13): every ecuup-sim fault at several points, once and always, over DoIP
# (gw) and CAN (bms). `ecuup flash` may end only in 0, 1, 5 or 6, and each tells the truth about
# what the ECU runs afterwards, read from the simulator's own state:
#   0 the target; 1 the old version, untouched; 5 the backup (old) version; 6 neither.
# After each cell the ECU is put back (restore, or a clean flash) so the next cell starts equal.
source "$(dirname "$0")/sim_lib.bash"
need_ecuup_uds
sim_bench_dirs
{
  printf 'doip: {port: 0}\necus:\n'
  sim_ecu_yaml gw 6000 "erase_time_ms: 20, reset_time_ms: 50"
  sim_ecu_yaml bms 6000 "erase_time_ms: 20, reset_time_ms: 50"
} >"$WORK/sim.yaml"
write_bench() {
  vehicle_bench sim-fault-matrix >"$BENCH/ecuup.yaml"
  # Short windows keep a cell quick; the restore still gets seconds to get through.
  sed -i 's|^      image: {format: raw|      timeouts: {reset_timeout_ms: 3000, recovery_window_ms: 5000}\n      image: {format: raw|' \
    "$BENCH/ecuup.yaml"
  # A build whose uds driver does not know recovery_window_ms yet gets reset_timeout_ms only.
  grep -q recovery_window_ms "$ECUUP" || sed -i 's|, recovery_window_ms: 5000||' "$BENCH/ecuup.yaml"
}
declare -A OLD=([gw]=1.0.0 [bms]=2.0.0) NEW=([gw]=1.1.0 [bms]=2.1.0)

"$SIM" mkimage --version 1.1.0 --size 12000 --seed 41 -o "$WORK/gw-1.1.0.img"
"$SIM" mkimage --version 2.1.0 --size 12000 --seed 42 -o "$WORK/bms-2.1.0.img"
add_release "$BENCH/repository" gw 1.1.0 "$WORK/gw-1.1.0.img"
add_release "$BENCH/repository" bms 2.1.0 "$WORK/bms-2.1.0.img"
sim_restart
ecuup_run 0 inventory
ecuup_run 0 report
ecuup_run 0 fetch
ecuup_run 0 backup --read

# The faults this simulator knows (newer kinds are added to the matrix when present).
kinds=$("$SIM" run --help 2>&1 | sed -n '/^FAULTS/,$p' | awk '{print $1}' | cut -d: -f1 || true)
faults=(
  "nrc:0x10:0x22" "nrc:0x27:0x35" "nrc:0x31:0x22" "nrc:0x34:0x70" "nrc:0x36:0x72:block=2"
  "nrc:0x36:0x72:block=6" "nrc:0x37:0x72" "nrc:0x11:0x22"
  "silence:block=1:ms=400" "silence:block=5:ms=400"
  "drop:block=1" "drop:block=6"
  "power_loss:block=1" "power_loss:block=4" "power_loss:block=12"
  "slow_erase:ms=1500" "wrong_checksum"
)
grep -qx security_delay <<<"$kinds" && faults+=("security_delay:ms=800")
grep -qx slow_boot <<<"$kinds" && faults+=("slow_boot:ms=800")
grep -qx late <<<"$kinds" && faults+=("late:0x31:ms=300" "late:0x36:block=3:ms=300")

cells=0
for ecu in gw bms; do
  for fault in "${faults[@]}"; do
    for repeat in once always; do
      sim_restart --fault "$ecu:$fault:$repeat"
      ecuup_run_any flash --ecu "$ecu"
      rc=$ECUUP_RC
      now=$(sim_version "$STATE" "$ecu")
      grep -q "programming ${NEW[$ecu]}" "$WORK/ecuup.err" "$BENCH/state/manifest.yaml" ||
        fail "$ecu $fault:$repeat: flash never began programming (exit $rc)"
      cells=$((cells + 1))
      cell="$ecu $fault:$repeat -> exit $rc, runs $now"
      case $rc in
        0) [[ $now == "${NEW[$ecu]}" ]] && ok || fail "$cell (exit 0 must mean the target runs)" ;;
        1) [[ $now == "${OLD[$ecu]}" ]] && ok || fail "$cell (exit 1 must mean untouched)" ;;
        5) [[ $now == "${OLD[$ecu]}" ]] && ok || fail "$cell (exit 5 must mean the backup runs)" ;;
        6) [[ $now != "${OLD[$ecu]}" && $now != "${NEW[$ecu]}" ]] && ok ||
             fail "$cell (exit 6 must mean no known-good software)" ;;
        *) fail "$cell (only 0, 1, 5 or 6 may end a flash)"; sed 's/^/  | /' "$WORK/ecuup.err" >&2 ;;
      esac
      # Back to the old version for the next cell, with no fault.
      sim_restart
      if [[ $now != "${OLD[$ecu]}" ]]; then
        ecuup_run_any restore --ecu "$ecu"
        [[ $(sim_version "$STATE" "$ecu") == "${OLD[$ecu]}" ]] || fail "$cell: could not put $ecu back: $(cat "$WORK/ecuup.err")"
      fi
      ecuup_run_any inventory --ecu "$ecu"
    done
  done
done
echo "$cells cells"
sim_run_stop TERM
finish
