#!/usr/bin/env bash
# ecuup against ecuup-sim with injected faults. A fault that fires once fails the flash and lets the
# restore succeed: exit 5, the ECU runs its old version again. A fault that fires always fails the
# restore too: exit 6 with the cause named. A later clean flash recovers the ECU.
source "$(dirname "$0")/sim_lib.bash"
need_ecuup_uds
pick_bus_ports
BENCH="$WORK/bench"
STATE="$WORK/sim-state"
mkdir -p "$BENCH"
cat >"$WORK/sim.yaml" <<'YAML'
doip: {port: 0}
ecus:
  - name: gw
    doip_address: 0x0010
    memory: [{address: 0x00000000, size: 0x10000}]
    initial_image: {version: "1.0.0", size: 10000}
    max_block_length: 0x402
    timing: {erase_time_ms: 100, reset_time_ms: 200}
  - name: bms
    can: {request_id: 0x7E0, response_id: 0x7E8}
    memory: [{address: 0x00010000, size: 0x10000}]
    initial_image: {version: "2.0.0", size: 10000}
    max_block_length: 0x402
    timing: {erase_time_ms: 100, reset_time_ms: 100}
YAML
write_bench() {
  cat >"$BENCH/ecuup.yaml" <<YAML
vehicle: sim-vehicle-2
state_dir: state
server: {kind: dir, path: repository}
ecus:
  - name: gw
    driver: uds
    uds:
      transport: doip
      doip: {port: $DOIP_PORT, ecu_address: 0x0010}
      security: {level: 1, key_command: "$SIM key {level} {seed}"}
      image: {format: raw, base_address: 0x0}
      read_out: {regions: [{address: 0x0, size: 0x10000}], format: raw}
  - name: bms
    driver: uds
    uds:
      transport: can
      can: {bus: "$BUS_TESTER", tx_id: 0x7E0, rx_id: 0x7E8}
      security: {level: 1, key_command: "$SIM key {level} {seed}"}
      image: {format: raw, base_address: 0x10000}
      read_out: {regions: [{address: 0x10000, size: 0x10000}], format: raw}
YAML
}
# restart_sim [--fault ...]: a fresh simulator process on the same state with these faults.
restart_sim() {
  sim_run_stop TERM
  sim_run_start "$WORK/sim.yaml" "$STATE" --bus "$BUS_SIM" "$@" || exit 1
  write_bench
}

"$SIM" mkimage --version 1.1.0 --size 30000 --seed 21 -o "$WORK/gw-1.1.0.img"
"$SIM" mkimage --version 2.1.0 --size 30000 --seed 22 -o "$WORK/bms-2.1.0.img"
add_release "$BENCH/repository" gw 1.1.0 "$WORK/gw-1.1.0.img"
add_release "$BENCH/repository" bms 2.1.0 "$WORK/bms-2.1.0.img"
restart_sim
ecuup_run 0 inventory
ecuup_run 0 report
ecuup_run 0 fetch
ecuup_run 0 backup --read

# flash_expect ECU RC [GREP]: flash one ECU, check the exit code, the cause in stderr, the version run.
flash_expect() {
  local ecu=$1 want=$2 cause=${3:-} old
  ecuup_run "$want" flash --ecu "$ecu"
  if [[ -n $cause ]]; then
    grep -qiE "$cause" "$WORK/ecuup.err" && ok || fail "flash $ecu: cause /$cause/ not named in: $(tr '\n' ' ' <"$WORK/ecuup.err")"
  fi
}
restored() {  # restored ECU OLD_VERSION
  [[ $(sim_version "$STATE" "$1") == "$2" ]] && ok || fail "$1 runs $(sim_version "$STATE" "$1") after restore (want $2)"
}

# Once: the flash fails, the restore succeeds (exit 5).
for fault in "nrc:0x36:0x72:block=3" "wrong_checksum" "drop:block=4" "silence:block=2:ms=300"; do
  restart_sim --fault "gw:$fault:once"
  flash_expect gw 5
  restored gw 1.0.0
done
for fault in "power_loss:block=3" "drop:block=2:ms=100" "silence:block=4:ms=200"; do
  restart_sim --fault "bms:$fault:once"
  flash_expect bms 5
  restored bms 2.0.0
done
# Power loss over DoIP closes the connection and the ECU reboots for reset_time_ms: the uds
# driver waits for the ECU to answer again before restoring, so the backup goes back (exit 5).
restart_sim --fault "gw:power_loss:block=5:once"
flash_expect gw 5
restored gw 1.0.0
restart_sim --fault "bms:nrc:0x34:0x70:once"
flash_expect bms 5 "0x70|uploadDownloadNotAccepted"
restored bms 2.0.0

# Always: the restore fails too (exit 6), and the cause is named.
restart_sim --fault "gw:nrc:0x36:0x72:block=2:always"
flash_expect gw 6 "0x72|generalProgrammingFailure"
[[ $(sim_version "$STATE" gw) == invalid ]] && ok || fail "gw after a failed restore runs $(sim_version "$STATE" gw)"
restart_sim --fault "bms:wrong_checksum:always"
flash_expect bms 6 "0x72|generalProgrammingFailure"

# Slow erase is only slow: 0x78 keeps the tester waiting, the flash succeeds. Then everything recovers.
restart_sim --fault "gw:slow_erase:ms=2500"
flash_expect gw 0
[[ $(sim_version "$STATE" gw) == 1.1.0 ]] && ok || fail "gw runs $(sim_version "$STATE" gw) after the slow erase"
restart_sim
flash_expect bms 0
[[ $(sim_version "$STATE" bms) == 2.1.0 ]] && ok || fail "bms runs $(sim_version "$STATE" bms)"
"$SIM" dump --state "$STATE" --ecu bms --image -o "$WORK/bms.dump"
cmp -s "$WORK/bms-2.1.0.img" "$WORK/bms.dump" && ok || fail "bms flash differs from the image"
sim_run_stop TERM
finish
