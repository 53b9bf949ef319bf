#!/usr/bin/env bash
# DoIP vehicle discovery (ISO 13400-2, UDP) between ecuup and ecuup-sim on loopback: `ecuup
# discover` finds the simulator's entity at its address and port and at loopback's broadcast
# address 127.255.255.255 (the limited broadcast 255.255.255.255 leaves by the default route, not
# loopback: tried and reported, not required), filters by VIN and EID, and exits 1 when nothing
# answers; two simulators without a configured identity are two vehicles (VIN, EID); and a config
# that names its gateway by VIN (`doip: {vin: ...}`) finds it at connect time.
source "$(dirname "$0")/sim_lib.bash"
need_ecuup_uds
sim_bench_dirs
VIN=WVWZZZ1KZAW000042
EID=02:00:00:00:00:42
cat >"$WORK/sim.yaml" <<YAML
vin: $VIN
doip: {port: 0, eid: "$EID", announce: none}
ecus:
  - name: gw
    doip_address: 0x0010
    memory: [{address: 0x00000000, size: 0x10000}]
    initial_image: {version: "1.0.0", size: 4096}
YAML
sim_run_start "$WORK/sim.yaml" "$STATE" || exit 1
grep -q " vin=$VIN" "$WORK/run.out" && ok || fail "ready line lacks the VIN: $(cat "$WORK/run.out")"

ecuup_run 0 discover --address "127.0.0.1:$DOIP_PORT"
grep -qE "^$VIN +127\.0\.0\.1:$DOIP_PORT +0x0010 +$EID" "$WORK/ecuup.out" && ok || fail "discover table: $(cat "$WORK/ecuup.out")"

ecuup_run 0 discover --address "127.0.0.1:$DOIP_PORT" --json
python3 - "$WORK/ecuup.out" "$VIN" "$EID" "$DOIP_PORT" <<'PY' && ok || fail "discover --json: $(cat "$WORK/ecuup.out")"
import json, sys
j = json.load(open(sys.argv[1]))
e = j["entities"]
assert j["exit_code"] == 0 and len(e) == 1, j
e = e[0]
assert e["vin"] == sys.argv[2] and e["eid"] == sys.argv[3] and e["gid"] == sys.argv[3], e
assert e["logical_address"] == "0x0010" and e["address"] == "127.0.0.1" and e["port"] == int(sys.argv[4]), e
assert e["further_action"] == 0 and e["sync_status"] == 0, e
PY

# Filters: the request with VIN (0x0003) or EID (0x0002) is answered by the match only.
ecuup_run 0 discover --address "127.0.0.1:$DOIP_PORT" --vin "$VIN"
ecuup_run 0 discover --address "127.0.0.1:$DOIP_PORT" --eid "${EID//:/}"
ecuup_run 1 discover --address "127.0.0.1:$DOIP_PORT" --vin WVWZZZ1KZAW999999 --timeout 300
grep -q "no DoIP entity answered" "$WORK/ecuup.out" && ok || fail "no-answer line: $(cat "$WORK/ecuup.out")"
ecuup_run 2 discover --vin SHORT
ecuup_run 2 discover --address "127.0.0.1:0"

# Broadcast on loopback: 127.255.255.255 reaches every simulator listening on that port.
ecuup_run 0 discover --address "127.255.255.255:$DOIP_PORT"
grep -q "$VIN" "$WORK/ecuup.out" && ok || fail "loopback broadcast: $(cat "$WORK/ecuup.out")"
ecuup_run_any discover --address "255.255.255.255:$DOIP_PORT" --timeout 300
echo "  note: discover --address 255.255.255.255:$DOIP_PORT exited $ECUUP_RC (the limited broadcast leaves by the default route; loopback does not see it)"

# A second simulator with no identity configured: a VIN and an EID of its own (random per start).
cat >"$WORK/sim2.yaml" <<'YAML'
doip: {port: 0, announce: none}
ecus:
  - name: gw
    doip_address: 0x0010
    memory: [{address: 0x00000000, size: 0x10000}]
    initial_image: {version: "2.0.0", size: 4096}
YAML
"$SIM" run --config "$WORK/sim2.yaml" --state "$WORK/sim2-state" >"$WORK/run2.out" 2>"$WORK/run2.err" &
SIM2_PID=$!
trap 'kill $SIM2_PID 2>/dev/null; sim_cleanup' EXIT
for _ in $(seq 100); do grep -q '^ready' "$WORK/run2.out" && break; sleep 0.1; done
PORT2=$(sed -n 's/.*doip_port=\([0-9]*\).*/\1/p' "$WORK/run2.out")
VIN2=$(sed -n 's/.* vin=\([^ ]*\).*/\1/p' "$WORK/run2.out")
[[ -n $PORT2 && $VIN2 == ECUUPSIM* && ${#VIN2} -eq 17 ]] && ok || fail "second sim: $(cat "$WORK/run2.out" "$WORK/run2.err")"
ecuup_run 0 discover --address "127.0.0.1:$PORT2" --json
python3 - "$WORK/ecuup.out" "$VIN2" "$EID" <<'PY' && ok || fail "second sim's identity: $(cat "$WORK/ecuup.out")"
import json, sys
e = json.load(open(sys.argv[1]))["entities"][0]
assert e["vin"] == sys.argv[2] and e["eid"] != sys.argv[3], e
assert int(e["eid"].split(":")[0], 16) & 0x02, e  # a locally administered address
PY

# A config naming its gateway by VIN: found at connect time over UDP, then TCP at its port.
cat >"$BENCH/ecuup.yaml" <<YAML
vehicle: by-vin
state_dir: state
server: {kind: dir, path: repository}
ecus:
  - name: gw
    driver: uds
    uds:
      transport: doip
      doip: {vin: $VIN, discovery_address: "127.255.255.255:$DOIP_PORT", ecu_address: 0x0010}
YAML
mkdir -p "$BENCH/repository"
echo "releases: {}" >"$BENCH/repository/releases.yaml"
ecuup_run 0 inventory --json
grep -q '"detail": "1.0.0"' "$WORK/ecuup.out" && ok || fail "inventory by VIN: $(cat "$WORK/ecuup.out")"
# The other simulator's VIN on the first one's port: nothing answers, as with an unplugged vehicle.
sed -i "s/vin: $VIN/vin: $VIN2/" "$BENCH/ecuup.yaml"
ecuup_run 3 inventory
grep -q "no DoIP entity answered" "$WORK/ecuup.err" && ok || fail "unknown VIN: $(cat "$WORK/ecuup.err")"

# Diagnostic power mode (0x4003 over UDP) before the TCP connection: a vehicle that says "not
# ready" (ignition off) is refused before the TCP connection that would carry UDS.
sim_run_stop TERM
cat >"$WORK/off.yaml" <<'YAML'
doip: {power_mode: not_ready}
ecus:
  - name: gw
    doip_address: 0x0010
    memory: [{address: 0x00000000, size: 0x10000}]
    initial_image: {version: "1.0.0", size: 1000}
YAML
sim_run_start "$WORK/off.yaml" "$WORK/off-state" --doip-port 0 || exit 1
cat >"$BENCH/ecuup.yaml" <<YAML
vehicle: by-vin
state_dir: state
server: {kind: dir, path: repository}
ecus:
  - name: gw
    driver: uds
    uds:
      transport: doip
      doip: {host: 127.0.0.1, port: $DOIP_PORT, ecu_address: 0x0010}
YAML
ecuup_run 1 inventory
grep -q "diagnostic power mode 'not ready'" "$WORK/ecuup.err" && ok || fail "power mode not ready: $(cat "$WORK/ecuup.err")"
sim_run_stop TERM
finish
