#!/usr/bin/env bash
# Issue 13, case 4: an ECU that refuses SecurityAccess with requiredTimeDelayNotExpired (0x37) for a
# while is waited out, not failed at `7F 27 37`. The simulator's lockout after a wrong key stands in
# for the delay real ECUs have after power-on: flash right after it succeeds (exit 0); before, the
# flash and its restore both stopped at 0x37 (exit 6).
source "$(dirname "$0")/sim_lib.bash"
need_ecuup_uds
sim_bench_dirs
{
  printf 'doip: {port: 0}\necus:\n'
  sim_ecu_yaml gw 10000 "erase_time_ms: 50, reset_time_ms: 100, security_delay_ms: 2500" '    security_attempts: 1'
} >"$WORK/sim.yaml"
sim_run_start "$WORK/sim.yaml" "$STATE" || exit 1
{
  bench_config sim-vehicle-delay
  uds_ecu gw doip 0x0010 0x0 0x10000
} >"$BENCH/ecuup.yaml"
"$SIM" mkimage --version 1.1.0 --size 30000 --seed 41 -o "$WORK/gw-1.1.0.img"
add_release "$BENCH/repository" gw 1.1.0 "$WORK/gw-1.1.0.img"
ecuup_run 0 inventory
ecuup_run 0 report
ecuup_run 0 fetch
ecuup_run 0 backup --read

# One wrong key locks SecurityAccess for 2.5 s.
sim_client_start doip "$DOIP_PORT" 0x0010
expect "extended session" 1003 "5003*"
expect "seed" 2701 "6701*"
expect "a wrong key" 270200000000 "7f2736"
expect "locked" 2701 "7f2737"
sim_console_stop

start=$(date +%s%N)
ecuup_run 0 flash --ecu gw -v
[[ $(sim_version "$STATE" gw) == 1.1.0 ]] && ok || fail "gw runs $(sim_version "$STATE" gw) (want 1.1.0)"
(($(date +%s%N) - start >= 1500000000)) && ok || fail "the flash did not wait for the delay"
grep -qi "requiredTimeDelayNotExpired" "$WORK/ecuup.err" && ok || fail "-v does not note the waiting"
finish
