#!/usr/bin/env bash
# Faults declared in the simulator's YAML (`faults:` per ECU, no --fault on the command line) fire
# during `ecuup flash`: the flash fails and the ECU is restored from its backup (exit 5). They
# fire once, so the next flash on the same simulator process succeeds; an ECU without faults
# is untouched by them.
source "$(dirname "$0")/sim_lib.bash"
need_ecuup_uds
sim_bench_dirs
{
  printf 'doip: {port: 0}\necus:\n'
  sim_ecu_yaml gw 10000 "erase_time_ms: 100, reset_time_ms: 200" '    faults: ["nrc:0x36:0x72:block=3"]'
  sim_ecu_yaml bms 10000 "erase_time_ms: 100, reset_time_ms: 100" '    faults: ["power_loss:block=3:once"]'
  sim_ecu_yaml body 10000 "erase_time_ms: 100, reset_time_ms: 200"
} >"$WORK/sim.yaml"

sim_run_start "$WORK/sim.yaml" "$STATE" --bus "$BUS_SIM" || exit 1
{
  bench_config sim-yaml-faults
  uds_ecu gw doip 0x0010 0x0 0x10000
  uds_ecu bms can 0x7E0 0x7E8 0x10000 0x10000
  uds_ecu body doip 0x0011 0x0 0x10000
} >"$BENCH/ecuup.yaml"

"$SIM" mkimage --version 1.1.0 --size 30000 --seed 31 -o "$WORK/gw-1.1.0.img"
"$SIM" mkimage --version 2.1.0 --size 30000 --seed 32 -o "$WORK/bms-2.1.0.img"
"$SIM" mkimage --version 0.9.1 --size 30000 --seed 33 -o "$WORK/body-0.9.1.img"
add_release "$BENCH/repository" gw 1.1.0 "$WORK/gw-1.1.0.img"
add_release "$BENCH/repository" bms 2.1.0 "$WORK/bms-2.1.0.img"
add_release "$BENCH/repository" body 0.9.1 "$WORK/body-0.9.1.img"
ecuup_run 0 inventory
ecuup_run 0 report
ecuup_run 0 fetch
ecuup_run 0 backup --read

runs() {  # runs ECU VERSION: the simulated ECU runs VERSION
  local got
  got=$(sim_version "$STATE" "$1")
  [[ $got == "$2" ]] && ok || fail "$1 runs $got (want $2)"
}

# The ECU without faults: no fault of another ECU leaks into it.
ecuup_run 0 flash --ecu body
runs body 0.9.1

# gw's YAML fault: NRC 0x72 on TransferData block 3 aborts the transfer; the backup goes back.
ecuup_run 5 flash --ecu gw
grep -qiE '0x72|generalProgrammingFailure' "$WORK/ecuup.err" && ok ||
  fail "gw: the injected NRC is not named in: $(tr '\n' ' ' <"$WORK/ecuup.err")"
runs gw 1.0.0

# bms's YAML fault: power lost at block 3 over CAN; the ECU reboots into boot mode and is restored.
ecuup_run 5 flash --ecu bms
runs bms 2.0.0

# Both faults fired once: on the same simulator process the retry converges.
ecuup_run 0 flash
runs gw 1.1.0
runs bms 2.1.0
runs body 0.9.1
"$SIM" dump --state "$STATE" --ecu gw --image -o "$WORK/gw.dump"
cmp -s "$WORK/gw-1.1.0.img" "$WORK/gw.dump" && ok || fail "gw flash differs from the 1.1.0 image"

sim_run_stop TERM
finish
