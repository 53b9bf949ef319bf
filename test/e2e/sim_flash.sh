#!/usr/bin/env bash
# ecuup against ecuup-sim: inventory, report, fetch, backup --read and flash over DoIP and over the
# UDP CAN bus, byte-exact read-back through `ecuup-sim dump`, an image of more than 256 blocks (the
# block counter wraps), persistence of the new versions across a simulator restart.
source "$(dirname "$0")/sim_lib.bash"
need_ecuup_uds
sim_bench_dirs
cat >"$WORK/sim.yaml" <<'YAML'
doip: {port: 0}
ecus:
  - name: gw
    doip_address: 0x0010
    memory: [{address: 0x00000000, size: 0x20000}]
    initial_image: {version: "1.0.0", size: 20000}
    max_block_length: 0x102     # 256 data bytes: the new image takes more than 256 blocks
    dids: {F18C: "GW-1"}
    timing: {erase_time_ms: 150, reset_time_ms: 200}
  - name: bms
    can: {request_id: 0x7E0, response_id: 0x7E8}
    memory: [{address: 0x00010000, size: 0x20000}]
    initial_image: {version: "2.0.0", size: 10000}
    timing: {erase_time_ms: 150, reset_time_ms: 200, write_bytes_per_s: 2000000}
YAML
sim_run_start "$WORK/sim.yaml" "$STATE" --bus "$BUS_SIM" || exit 1

cat >"$BENCH/ecuup.yaml" <<YAML
vehicle: sim-vehicle-1
state_dir: state
server: {kind: dir, path: repository}
ecus:
  - name: gw
    driver: uds
    order: 1
    uds:
      transport: doip
      doip: {port: $DOIP_PORT, ecu_address: 0x0010}
      security: {level: 1, key_command: "$SIM key {level} {seed}"}
      image: {format: raw, base_address: 0x0}
      read_out: {regions: [{address: 0x0, size: 0x20000}], format: raw}
  - name: bms
    driver: uds
    order: 2
    uds:
      transport: can
      can: {bus: "$BUS_TESTER", tx_id: 0x7E0, rx_id: 0x7E8}
      security: {level: 1, key_command: "$SIM key {level} {seed}"}
      image: {format: raw, base_address: 0x10000}
      read_out: {regions: [{address: 0x10000, size: 0x20000}], format: raw}
YAML
"$SIM" mkimage --version 1.1.0 --size 80000 --seed 11 -o "$WORK/gw-1.1.0.img"    # 313 blocks of 256
"$SIM" mkimage --version 2.1.0 --size 100000 --seed 12 -o "$WORK/bms-2.1.0.img"  # 25 blocks of 4093
add_release "$BENCH/repository" gw 1.1.0 "$WORK/gw-1.1.0.img"
add_release "$BENCH/repository" bms 2.1.0 "$WORK/bms-2.1.0.img"

ecuup_run 0 inventory --json
grep -q '1.0.0' "$WORK/ecuup.out" && grep -q '2.0.0' "$WORK/ecuup.out" && ok || fail "inventory: $(cat "$WORK/ecuup.out")"
ecuup_run 0 report
ecuup_run 0 fetch
ecuup_run 0 backup --read
# What backup --read stored is the ECU's memory, byte for byte (read_out covers the whole region).
for ecu in gw bms; do
  "$SIM" dump --state "$STATE" --ecu "$ecu" -o "$WORK/$ecu-old.mem"
  stored=("$BENCH"/state/backups/"$ecu"/*)
  [[ ${#stored[@]} -eq 1 ]] && cmp -s "${stored[0]}" "$WORK/$ecu-old.mem" && ok ||
    fail "$ecu: the backup read out (${stored[*]}) differs from the ECU's memory"
done
ecuup_run 0 flash
[[ $(sim_version "$STATE" gw) == 1.1.0 ]] && ok || fail "gw runs $(sim_version "$STATE" gw)"
[[ $(sim_version "$STATE" bms) == 2.1.0 ]] && ok || fail "bms runs $(sim_version "$STATE" bms)"
"$SIM" dump --state "$STATE" --ecu gw --image -o "$WORK/gw.dump"
cmp -s "$WORK/gw-1.1.0.img" "$WORK/gw.dump" && ok || fail "gw flash differs from the image"
"$SIM" dump --state "$STATE" --ecu bms --image -o "$WORK/bms.dump"
cmp -s "$WORK/bms-2.1.0.img" "$WORK/bms.dump" && ok || fail "bms flash differs from the image"

# The simulator restarts with the new software; ecuup agrees.
sim_run_stop TERM
[[ $SIM_RC -eq 0 ]] && ok || fail "simulator exit $SIM_RC on SIGTERM"
sim_run_start "$WORK/sim.yaml" "$STATE" --bus "$BUS_SIM" --doip-port "$DOIP_PORT" || exit 1
ecuup_run 0 inventory --json
grep -q '1.1.0' "$WORK/ecuup.out" && grep -q '2.1.0' "$WORK/ecuup.out" && ok || fail "inventory after restart: $(cat "$WORK/ecuup.out")"
ecuup_run 0 backup
ecuup_run 0 status
sim_run_stop TERM
finish
