#!/usr/bin/env bash
# ecuup against ecuup-sim with injected faults. A fault that fires once fails the flash and lets the
# restore succeed: exit 5, the first failure named (not the ECU's answer to a repeated block), the
# ECU runs its old version again. A power loss leaves the flash half-written until a restore. A
# fault that fires always fails the restore too: exit 6, the cause named, the ECU named as needing
# a person, `status --json` showing it. A later clean flash recovers the ECU.
source "$(dirname "$0")/sim_lib.bash"
need_ecuup_uds
sim_bench_dirs
{
  printf 'doip: {port: 0}\necus:\n'
  sim_ecu_yaml gw 10000 "erase_time_ms: 100, reset_time_ms: 200"
  sim_ecu_yaml bms 10000 "erase_time_ms: 100, reset_time_ms: 100"
} >"$WORK/sim.yaml"
write_bench() {
  vehicle_bench sim-vehicle-2 >"$BENCH/ecuup.yaml"
  # A fault that fires always is retried for the whole recovery window: keep it short here.
  sed -i 's|^      image: {format: raw|      timeouts: {recovery_window_ms: 4000}\n      image: {format: raw|' "$BENCH/ecuup.yaml"
}
# sim_restart [--fault ...]: a fresh simulator process on the same state with these faults.

"$SIM" mkimage --version 1.1.0 --size 30000 --seed 21 -o "$WORK/gw-1.1.0.img"
"$SIM" mkimage --version 2.1.0 --size 30000 --seed 22 -o "$WORK/bms-2.1.0.img"
add_release "$BENCH/repository" gw 1.1.0 "$WORK/gw-1.1.0.img"
add_release "$BENCH/repository" bms 2.1.0 "$WORK/bms-2.1.0.img"
sim_restart
ecuup_run 0 inventory
ecuup_run 0 report
ecuup_run 0 fetch
ecuup_run 0 backup --read

# flash_expect ECU RC [GREP]: flash one ECU, check the exit code and the cause named in stderr.
flash_expect() {
  local ecu=$1 want=$2 cause=${3:-}
  ecuup_run "$want" flash --ecu "$ecu"
  if [[ -n $cause ]]; then
    grep -qiE "$cause" "$WORK/ecuup.err" && ok || fail "flash $ecu: cause /$cause/ not named in: $(tr '\n' ' ' <"$WORK/ecuup.err")"
  fi
}
restored() {  # restored ECU OLD_VERSION
  [[ $(sim_version "$STATE" "$1") == "$2" ]] && ok || fail "$1 runs $(sim_version "$STATE" "$1") after restore (want $2)"
}
# A repeated block's refusal (the ECU reset meanwhile) is context, never the cause: the first
# failure of the block is.
not_masked() {
  ! grep -qiE "TransferData block [0-9]+: ECU answered (serviceNotSupportedInActiveSession|requestSequenceError)" \
    "$WORK/ecuup.err" && ok ||
    fail "the cause is an answer to a repeated block: $(tr '\n' ' ' <"$WORK/ecuup.err")"
}
# once ECU FAULT OLD_VERSION CAUSE: the fault fires once; exit 5, the cause named, the old version back.
once() {
  sim_restart --fault "$1:$2:once"
  flash_expect "$1" 5 "$4"
  not_masked
  restored "$1" "$3"
}
# always ECU FAULT CAUSE: the fault hits the restore too: exit 6, the ECU named as needing a person,
# the cause named, and `status --json` shows the ECU's flash needing attention.
always() {
  local ecu=$1
  sim_restart --fault "$ecu:$2:always"
  flash_expect "$ecu" 6 "$3"
  grep -qiE "needs (attention|a person)" "$WORK/ecuup.err" && grep -q "$ecu" "$WORK/ecuup.err" && ok ||
    fail "flash $ecu exit 6 does not say $ecu needs a person: $(tr '\n' ' ' <"$WORK/ecuup.err")"
  ecuup_run 6 status --json
  jq -e --arg e "$ecu" '.exit_code == 6 and any(.ecus[]; .name == $e and .flash_state == "failed_unrestored")' \
    "$WORK/ecuup.out" >/dev/null && ok || fail "status --json after $2: $(cat "$WORK/ecuup.out")"
}

# Once: the flash fails, the restore succeeds (exit 5), and the error names the first failure.
once gw "nrc:0x36:0x72:block=3" 1.0.0 "TransferData block 3.*(0x72|generalProgrammingFailure)"
once gw "wrong_checksum" 1.0.0 "RoutineControl 0xFF01"
once gw "drop:block=4" 1.0.0 "TransferData block 4"
once gw "silence:block=2:ms=300" 1.0.0 "TransferData block 3"
# Over CAN a power loss, a drop or silence is a block without an answer; the repeat then meets an
# ECU back in the default session (0x7F): the silence is the cause, the NRC the context.
once bms "power_loss:block=3" 2.0.0 "TransferData block 3"
once bms "drop:block=2:ms=100" 2.0.0 "TransferData block 2"
once bms "silence:block=4:ms=200" 2.0.0 "TransferData block 5"
# Power loss over DoIP closes the connection and the ECU reboots for reset_time_ms: the uds
# driver waits for the ECU to answer again before restoring, so the backup goes back (exit 5).
once gw "power_loss:block=5" 1.0.0 "TransferData block 5"
once bms "nrc:0x34:0x70" 2.0.0 "RequestDownload.*(0x70|uploadDownloadNotAccepted)"

# A power loss leaves the flash half-written: seen from a second bench without a backup (so
# nothing restores), then the first bench restores its backup.
"$SIM" dump --state "$STATE" --ecu bms -o "$WORK/bms-old.mem"
BENCH1=$BENCH
BENCH="$WORK/bench-nobackup"
mkdir -p "$BENCH"
cp -r "$BENCH1/repository" "$BENCH/"
sim_restart --fault "bms:power_loss:block=3:once"
ecuup_run 0 inventory
ecuup_run 0 report
ecuup_run 0 fetch --ecu bms
ecuup_run 6 flash --ecu bms --no-backup
grep -qiE "TransferData block 3" "$WORK/ecuup.err" && ok || fail "power loss: $(tr '\n' ' ' <"$WORK/ecuup.err")"
"$SIM" dump --state "$STATE" --ecu bms -o "$WORK/bms-half.mem"
[[ $(sim_version "$STATE" bms) == invalid ]] && ok || fail "bms after a power loss runs $(sim_version "$STATE" bms)"
new_size=$(stat -c %s "$WORK/bms-2.1.0.img")
! cmp -s "$WORK/bms-old.mem" "$WORK/bms-half.mem" && ok || fail "bms memory unchanged by the power loss"
! cmp -s -n "$new_size" "$WORK/bms-2.1.0.img" "$WORK/bms-half.mem" && ok || fail "bms holds the whole new image"
# 1024-byte blocks: blocks 1-2 and half of block 3 were written, the rest of block 3 was not.
cmp -s -n 2560 "$WORK/bms-2.1.0.img" "$WORK/bms-half.mem" && ok || fail "bms lacks the blocks written before the power loss"
! cmp -s -i 2560 -n 512 "$WORK/bms-2.1.0.img" "$WORK/bms-half.mem" && ok || fail "bms holds all of block 3"
BENCH=$BENCH1
sim_restart
ecuup_run 0 restore --ecu bms
restored bms 2.0.0

# Always: the restore fails too (exit 6), and the cause is named.
always gw "nrc:0x36:0x72:block=2" "0x72|generalProgrammingFailure"
[[ $(sim_version "$STATE" gw) == invalid ]] && ok || fail "gw after a failed restore runs $(sim_version "$STATE" gw)"
always bms "wrong_checksum" "0x72|generalProgrammingFailure"
always bms "power_loss:block=3" "TransferData block 3"
always gw "drop:block=2" "TransferData block 2"
always bms "silence:block=4:ms=200" "TransferData block 5"

# Slow erase is only slow: 0x78 keeps the tester waiting, the flash succeeds. Then everything recovers.
sim_restart --fault "gw:slow_erase:ms=2500"
flash_expect gw 0
[[ $(sim_version "$STATE" gw) == 1.1.0 ]] && ok || fail "gw runs $(sim_version "$STATE" gw) after the slow erase"
sim_restart
flash_expect bms 0
[[ $(sim_version "$STATE" bms) == 2.1.0 ]] && ok || fail "bms runs $(sim_version "$STATE" bms)"
"$SIM" dump --state "$STATE" --ecu bms --image -o "$WORK/bms.dump"
cmp -s "$WORK/bms-2.1.0.img" "$WORK/bms.dump" && ok || fail "bms flash differs from the image"
sim_run_stop TERM
finish
