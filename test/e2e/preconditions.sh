#!/usr/bin/env bash
# "A flash that starts on a weak battery bricks ECUs": an ECU's preconditions (battery voltage,
# vehicle speed and engine state DIDs, the checkProgrammingPreconditions routine 31 01 0203, a bench
# command) run before flash sends anything that changes the ECU. Against ecuup-sim's low_battery
# and moving faults and a failing bench command: exit 11, the sim's flash memory byte-identical,
# the task kept, the manifest still valid. --force-preconditions flashes and records the
# override; checks that pass flash as usual; --dry-run lists the checks and runs none; bad
# precondition config is exit 2 with file:line:col.
source "$(dirname "$0")/sim_lib.bash"
need_ecuup_uds
sim_bench_dirs
cat >"$WORK/sim.yaml" <<'YAML'
doip: {port: 0, announce: none}
ecus:
  - name: gw
    doip_address: 0x0010
    memory: [{address: 0x00000000, size: 0x10000}]
    initial_image: {version: "1.0.0", size: 4096}
    timing: {erase_time_ms: 20, reset_time_ms: 50}
YAML
CHECKS_FILE="$BENCH/checks.yaml"
# The bench command leaves a mark when it runs (a dry run must not run it) and fails while
# stop-bench exists, as a bench power supply that is switched off would.
cat >"$CHECKS_FILE" <<'YAML'
    preconditions:
      - name: battery
        did: 0xF442
        bytes: 2
        scale: 0.001
        unit: V
        decimals: 1
        min: 12.0
        hint: charge the battery or connect a power supply
      - {name: speed, did: 0xF40D, unit: km/h, max: 0, hint: stop the vehicle}
      - {name: engine, did: 0x0100, values: {0: "off", 2: running}, equals: "off"}
      - name: programming preconditions
        routine: 0x0203
        codes: {0x01: engine running, 0x02: vehicle moving, 0x03: voltage low}
      - name: bench supply
        command: "touch bench-ran; if [ -e stop-bench ]; then echo 'psu: output off' >&2; exit 3; fi"
        timeout_s: 10
YAML
# write_config [CHECKS]: the bench's config for the simulator now running (its port changes with
# every start), with the preconditions in CHECKS (default: all of the above).
write_config() {
  { bench_config car; uds_ecu gw doip 0x0010 0x0 0x10000; cat "${1:-$CHECKS_FILE}"; } >"$BENCH/ecuup.yaml"
}
# restart_sim [--fault F]...: the same simulated ECU (its flash persists in $STATE) with other faults.
restart_sim() {
  sim_run_stop
  sim_run_start "$WORK/sim.yaml" "$STATE" "$@" || { finish; exit 1; }
  write_config "${CONFIG_CHECKS:-}"
}
sim_flash() { "$SIM" dump --state "$STATE" --ecu gw -o "$WORK/gw.$1" && sha256sum <"$WORK/gw.$1"; }
json_valid() {
  local rc=0
  python3 "$ECUUP_SRC/test/support/json_check.py" "$ECUUP_SRC/man/json" "$1" "$WORK/ecuup.out" || rc=$?
  [[ $rc -eq 0 || $rc -eq 125 ]]
}
manifest_ok() { python3 -c 'import sys, yaml; yaml.safe_load(open(sys.argv[1]))' "$BENCH/state/manifest.yaml"; }

restart_sim
"$SIM" mkimage --version 1.1.0 --size 8192 --seed 5 -o "$WORK/gw-1.1.0.img"
add_release "$BENCH/repository" gw 1.1.0 "$WORK/gw-1.1.0.img"
ecuup_run 0 inventory
ecuup_run 0 report
ecuup_run 0 fetch
ecuup_run 0 backup --read
before=$(sim_flash before)

# --- bad config: exit 2 at the item's line and column, before anything runs.
cat >"$WORK/bad-checks.yaml" <<'YAML'
    preconditions:
      - {name: battery, did: 0xF442, min: twelve}
YAML
write_config "$WORK/bad-checks.yaml"
ecuup_run 2 flash
grep -qE "ecuup.yaml:[0-9]+:[0-9]+: 'min' must be a number" "$WORK/ecuup.err" && ok || fail "bad min: $(cat "$WORK/ecuup.err")"
printf '    preconditions:\n      - {routine: 0x0203, session: programming}\n' >"$WORK/bad-checks.yaml"
write_config "$WORK/bad-checks.yaml"
ecuup_run 2 flash
grep -qE "ecuup.yaml:[0-9]+:[0-9]+: 'session' must be" "$WORK/ecuup.err" && ok || fail "bad session: $(cat "$WORK/ecuup.err")"
write_config

# --- dry run: names the checks, runs none (the bench command leaves no mark).
ecuup_run 0 flash --dry-run
grep -q "would-flash" "$WORK/ecuup.out" && grep -q "preconditions battery, speed, engine, programming preconditions, bench supply (not run" "$WORK/ecuup.out" \
  && ok || fail "dry run: $(cat "$WORK/ecuup.out")"
ecuup_run 0 flash --dry-run --json
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); p=j["ecus"][0]["facts"]["preconditions"]
assert [c["name"] for c in p]==["battery","speed","engine","programming preconditions","bench supply"] and all("met" not in c for c in p), p' \
  "$WORK/ecuup.out" && ok || fail "dry run JSON: $(cat "$WORK/ecuup.out")"
json_valid step.schema.json && ok || fail "dry run JSON does not match step.schema.json"
[[ ! -e $BENCH/bench-ran ]] && ok || fail "the dry run ran the bench command"

# --- a weak battery: refused by the DID and the routine, exit 11, nothing touched.
restart_sim --fault gw:low_battery
cp "$BENCH/state/manifest.yaml" "$WORK/manifest.before"
ecuup_run 11 flash
grep -q "gw: precondition 'battery' failed: 10.9 V is below the minimum 12.0 V; precondition 'programming preconditions' failed: the ECU lists conditions not met: 0x03 (voltage low); charge the battery or connect a power supply; make the vehicle safe for programming, then run again (or pass --force-preconditions)" \
  "$WORK/ecuup.err" && ok || fail "low battery message: $(cat "$WORK/ecuup.err")"
grep -q "preconditions-not-met" "$WORK/ecuup.out" && ok || fail "low battery result: $(cat "$WORK/ecuup.out")"
[[ $(sim_flash low) == "$before" ]] && ok || fail "the refused flash changed the ECU's memory"
[[ $(sim_version "$STATE" gw) == 1.0.0 ]] && ok || fail "gw no longer runs 1.0.0"
manifest_ok && ok || fail "manifest unreadable after the refusal"
grep -q "target_version: 1.1.0" "$BENCH/state/manifest.yaml" && ok || fail "the task is gone"
grep -q "in_progress" "$BENCH/state/manifest.yaml" && fail "the refusal left a flash in_progress" || ok
grep -q "preconditions NOT met: battery: 10.9 V is below the minimum 12.0 V" "$BENCH/state/manifest.yaml" \
  && ok || fail "no event for the refusal in the manifest"
[[ -e $BENCH/bench-ran ]] && ok || fail "every check runs, the bench command too"
ecuup_run 11 flash --json
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); e=j["ecus"][0]
assert j["exit_code"]==11 and e["exit_code"]==11 and e["error"]["kind"]=="preconditions", j
p={c["name"]: c for c in e["facts"]["preconditions"]}
assert p["battery"]["met"] is False and p["battery"]["value"]=="10.9 V" and p["speed"]["met"] and p["bench supply"]["met"], p
assert e["facts"]["preconditions_overridden"] is False' "$WORK/ecuup.out" && ok || fail "low battery JSON: $(cat "$WORK/ecuup.out")"
json_valid step.schema.json && ok || fail "refusal JSON does not match step.schema.json"
ecuup_run 11 update
[[ $(sim_flash low-update) == "$before" ]] && ok || fail "the refused update changed the ECU's memory"

# --- a moving vehicle, seen by the routine alone: exit 11, nothing touched.
printf '    preconditions:\n      - {routine: 0x0203, codes: {0x02: vehicle moving}}\n' >"$WORK/routine-only.yaml"
CONFIG_CHECKS="$WORK/routine-only.yaml" restart_sim --fault gw:moving
ecuup_run 11 flash
grep -q "gw: precondition 'routine 0x0203' failed: the ECU lists conditions not met: 0x02 (vehicle moving)" "$WORK/ecuup.err" \
  && ok || fail "moving vehicle message: $(cat "$WORK/ecuup.err")"
[[ $(sim_flash moving) == "$before" ]] && ok || fail "the refused flash changed the moving vehicle's ECU"

# --- the bench command fails: exit 11 with its stderr's last line.
restart_sim
touch "$BENCH/stop-bench"
ecuup_run 11 flash
grep -q "precondition 'bench supply' failed: the command ended with exit status 3: psu: output off" "$WORK/ecuup.err" \
  && ok || fail "bench command message: $(cat "$WORK/ecuup.err")"
[[ $(sim_flash bench) == "$before" ]] && ok || fail "the refused flash changed the ECU's memory"
rm -f "$BENCH/stop-bench"

# --- every check passes: flashed as usual, the checks in the facts and the manifest.
ecuup_run 0 flash --json
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); e=j["ecus"][0]
assert e["result"]=="flashed" and all(c["met"] for c in e["facts"]["preconditions"]) and not e["facts"]["preconditions_overridden"], e' \
  "$WORK/ecuup.out" && ok || fail "passing checks: $(cat "$WORK/ecuup.out")"
json_valid step.schema.json && ok || fail "flash JSON does not match step.schema.json"
[[ $(sim_version "$STATE" gw) == 1.1.0 ]] && ok || fail "gw does not run 1.1.0"
grep -q "preconditions met: battery 12.6 V; speed 0 km/h; engine off (0)" "$BENCH/state/manifest.yaml" \
  && ok || fail "no event for the checks that passed"
ecuup_run 0 backup

# --- --force-preconditions on a weak battery: flashed, the override recorded.
"$SIM" mkimage --version 1.2.0 --size 8192 --seed 6 -o "$WORK/gw-1.2.0.img"
rm -f "$BENCH/repository/releases.yaml"
add_release "$BENCH/repository" gw 1.2.0 "$WORK/gw-1.2.0.img"
restart_sim --fault gw:low_battery
ecuup_run 11 update
ecuup_run 0 flash --force-preconditions --json
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); e=j["ecus"][0]
assert j["exit_code"]==0 and e["result"]=="flashed" and e["facts"]["preconditions_overridden"] is True, e' \
  "$WORK/ecuup.out" && ok || fail "forced flash: $(cat "$WORK/ecuup.out")"
[[ $(sim_version "$STATE" gw) == 1.2.0 ]] && ok || fail "gw does not run 1.2.0 after --force-preconditions"
grep -q "preconditions NOT met, overridden by --force-preconditions: battery: 10.9 V is below the minimum 12.0 V" \
  "$BENCH/state/manifest.yaml" && ok || fail "the manifest does not record the override"
finish
