#!/usr/bin/env bash
# "The right vehicle, or nothing": two simulators, vehicles A and B, on one machine. A config that
# names VIN A (`vin:`) but points at B's gateway makes `inventory` and `flash` exit 9 (wrong
# vehicle) before anything is touched: the manifest stays byte-identical and B's flash memory is
# unchanged (no erase or download reached it). Pointed at A, the same config reads and flashes.
source "$(dirname "$0")/sim_lib.bash"
need_ecuup_uds
sim_bench_dirs
VIN_A=WVWZZZ1KZAW00000A
VIN_B=WVWZZZ1KZAW00000B
sim_yaml() {
  cat <<YAML
vin: $1
doip: {port: 0, announce: none}
ecus:
  - name: gw
    doip_address: 0x0010
    memory: [{address: 0x00000000, size: 0x10000}]
    initial_image: {version: "1.0.0", size: 4096}
    timing: {erase_time_ms: 50, reset_time_ms: 100}
YAML
}
sim_yaml "$VIN_A" >"$WORK/sim-a.yaml"
sim_yaml "$VIN_B" >"$WORK/sim-b.yaml"
sim_run_start "$WORK/sim-a.yaml" "$STATE" || exit 1
PORT_A=$DOIP_PORT
"$SIM" run --config "$WORK/sim-b.yaml" --state "$WORK/sim-b-state" >"$WORK/run-b.out" 2>"$WORK/run-b.err" &
SIM_B_PID=$!
trap 'kill $SIM_B_PID 2>/dev/null; sim_cleanup' EXIT
for _ in $(seq 100); do grep -q '^ready' "$WORK/run-b.out" && break; sleep 0.1; done
PORT_B=$(sed -n 's/.*doip_port=\([0-9]*\).*/\1/p' "$WORK/run-b.out")
[[ -n $PORT_B ]] && ok || { fail "sim B did not start: $(cat "$WORK/run-b.err")"; finish; exit 1; }

# config_at PORT: the bench's config naming VIN A, its gateway at PORT.
config_at() {
  { printf 'vehicle: car-a\nvin: %s\nstate_dir: state\nserver: {kind: dir, path: repository}\necus:\n' "$VIN_A"
    DOIP_PORT=$1 uds_ecu gw doip 0x0010 0x0 0x10000; } >"$BENCH/ecuup.yaml"
}
"$SIM" mkimage --version 1.1.0 --size 8192 --seed 3 -o "$WORK/gw-1.1.0.img"
add_release "$BENCH/repository" gw 1.1.0 "$WORK/gw-1.1.0.img"
b_flash() { "$SIM" dump --state "$WORK/sim-b-state" --ecu gw -o "$WORK/b-flash.$1" && sha256sum <"$WORK/b-flash.$1"; }

# Vehicle A: the steps up to flashing, so that a flash has everything it needs.
config_at "$PORT_A"
ecuup_run 0 inventory
ecuup_run 0 report
ecuup_run 0 fetch
ecuup_run 0 backup --read
cp "$BENCH/state/manifest.yaml" "$WORK/manifest.before"
b_before=$(b_flash before)

# The same config pointed at vehicle B: refused, nothing touched.
config_at "$PORT_B"
ecuup_run 9 inventory
grep -q "the vehicle answering is VIN $VIN_B, the config names VIN $VIN_A: wrong vehicle; nothing was touched" \
  "$WORK/ecuup.err" && ok || fail "inventory's message: $(cat "$WORK/ecuup.err")"
cmp -s "$WORK/manifest.before" "$BENCH/state/manifest.yaml" && ok || fail "inventory changed the manifest"
ecuup_run 9 inventory --json
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["exit_code"]==9 and j["ecus"][0]["error"]["kind"]=="wrong_vehicle", j' \
  "$WORK/ecuup.out" && ok || fail "inventory --json: $(cat "$WORK/ecuup.out")"
ecuup_run 9 flash
grep -q "wrong vehicle" "$WORK/ecuup.err" && ok || fail "flash's message: $(cat "$WORK/ecuup.err")"
cmp -s "$WORK/manifest.before" "$BENCH/state/manifest.yaml" && ok || fail "flash changed the manifest"
[[ $(b_flash after) == "$b_before" ]] && ok || fail "flash changed vehicle B's ECU"
[[ $(sim_version "$WORK/sim-b-state" gw) == 1.0.0 ]] && ok || fail "vehicle B's gw no longer runs 1.0.0"
ecuup_run 9 update
cmp -s "$WORK/manifest.before" "$BENCH/state/manifest.yaml" && ok || fail "update changed the manifest"

# Back on vehicle A: the VIN matches, the flash goes through.
config_at "$PORT_A"
ecuup_run 0 flash
[[ $(sim_version "$STATE" gw) == 1.1.0 ]] && ok || fail "vehicle A's gw does not run 1.1.0"
[[ $(b_flash end) == "$b_before" ]] && ok || fail "vehicle B's ECU changed"
finish
