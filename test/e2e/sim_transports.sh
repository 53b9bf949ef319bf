#!/usr/bin/env bash
# `ecuup-sim run` over its real transports: DoIP on TCP and ISO-TP on the UDP CAN bus at the same
# time, an ECU reachable both ways, multi-frame flashing, 0x78 over the wire, a DoIP drop fault,
# persistence across a restart, clean shutdown on SIGTERM and SIGINT.
source "$(dirname "$0")/sim_lib.bash"
pick_bus_ports
cat >"$WORK/sim.yaml" <<YAML
bus: udp:1:2    # replaced by --bus
doip: {port: 13400}
ecus:
  - name: gw
    doip_address: 0x0010
    initial_image: {version: "1.0.0", size: 3000}
    dids: {F18C: "GW-1"}
    timing: {erase_time_ms: 150, p2_star_ms: 100}
  - name: bms
    can: {request_id: 0x7E0, response_id: 0x7E8}
    memory: [{address: 0x00010000, size: 0x10000}]
    initial_image: {version: "2.0.0", size: 3000}
    timing: {erase_time_ms: 20}
  - name: body
    doip_address: 0x0011
    can: {request_id: 0x7E1, response_id: 0x7E9}
    initial_image: {version: "3.0.0", size: 100}
YAML
STATE="$WORK/state"
ascii_hex() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }

program() {  # program IMAGE ADDR
  expect "extended" 1003 "5003*"
  expect "programming" 1002 "5002*"
  unlock 01
  expect "erase" 3101ff00 7101ff0000
  download "$1" "$2"
  [[ $DL_RESULT == ok ]] && ok || fail "download: $DL_RESULT"
  expect "check" 3101ff01 7101ff0100
  expect "reset" 1101 5101
  sim_sleep_ms 300
}

sim_run_start "$WORK/sim.yaml" "$STATE" --bus "$BUS_SIM" --doip-port 0
[[ -n $DOIP_PORT && $DOIP_PORT != 13400 ]] && ok || fail "ready line without an ephemeral DoIP port: $(cat "$WORK/run.out")"

"$SIM" mkimage --version 1.1.0 --size 20000 --seed 3 -o "$WORK/gw.bin"
sim_client_start doip "$DOIP_PORT" 0x0010
expect "gw version over DoIP" 22f189 "62f189$(ascii_hex 1.0.0)"
expect "gw DID" 22f18c "62f18c$(ascii_hex GW-1)"
expect "extended" 1003 "5003*"
expect "programming" 1002 "5002*"
unlock 01
expect "erase over DoIP" 3101ff00 7101ff0000
((PENDING_COUNT >= 2)) && ok || fail "erase over DoIP: $PENDING_COUNT pendings"
download "$WORK/gw.bin" 00000000
[[ $DL_RESULT == ok && $DL_BLOCKS -eq 5 ]] && ok || fail "DoIP download: $DL_RESULT, $DL_BLOCKS blocks (want 5 of 4096)"
expect "check" 3101ff01 7101ff0100
expect "new version" 22f189 "62f189$(ascii_hex 1.1.0)"
sim_console_stop

"$SIM" mkimage --version 2.1.0 --size 10000 --seed 4 -o "$WORK/bms.bin"
sim_client_start can "$BUS_TESTER" 0x7E0 0x7E8
expect "bms version over CAN" 22f189 "62f189$(ascii_hex 2.0.0)"
program "$WORK/bms.bin" 00010000
[[ $DL_BLOCKS -eq 3 ]] && ok || fail "CAN download took $DL_BLOCKS blocks (want 3 of 4093)"
expect "bms new version" 22f189 "62f189$(ascii_hex 2.1.0)"
sim_console_stop

# One ECU, two ways in: a session opened over CAN is visible over DoIP.
sim_client_start can "$BUS_TESTER" 0x7E1 0x7E9
expect "body over CAN" 22f189 "62f189$(ascii_hex 3.0.0)"
expect "body extended over CAN" 1003 "5003*"
sim_console_stop
sim_client_start doip "$DOIP_PORT" 0x0011
expect "body session over DoIP" 22f186 62f18603
sim_console_stop

sim_run_stop TERM
[[ $SIM_RC -eq 0 ]] && ok || fail "SIGTERM exit $SIM_RC"
"$SIM" dump --state "$STATE" --ecu gw --image -o "$WORK/gw.dump"
cmp -s "$WORK/gw.bin" "$WORK/gw.dump" && ok || fail "gw flash differs from the image"
"$SIM" dump --state "$STATE" --ecu bms --image -o "$WORK/bms.dump"
cmp -s "$WORK/bms.bin" "$WORK/bms.dump" && ok || fail "bms flash differs from the image"

# Restart: versions persist. A DoIP drop after block 2 closes the connection; the ECU is back in default.
sim_run_start "$WORK/sim.yaml" "$STATE" --bus "$BUS_SIM" --doip-port 0 --fault gw:drop:block=2:ms=100
sim_client_start doip "$DOIP_PORT" 0x0010
expect "gw version after restart" 22f189 "62f189$(ascii_hex 1.1.0)"
expect "extended" 1003 "5003*"
expect "programming" 1002 "5002*"
unlock 01
expect "erase" 3101ff00 7101ff0000
download "$WORK/gw.bin" 00000000
[[ $DL_RESULT == "block 2 -> drop" ]] && ok || fail "drop fault: $DL_RESULT"
sim_sleep_ms 150
expect "reconnected, default session" 22f186 62f18601
expect "boot marker after the interrupted flash" 22f189 "62f189$(ascii_hex BOOT)"
program "$WORK/gw.bin" 00000000
expect "recovered" 22f189 "62f189$(ascii_hex 1.1.0)"
sim_console_stop
sim_client_start can "$BUS_TESTER" 0x7E0 0x7E8
expect "bms version after restart" 22f189 "62f189$(ascii_hex 2.1.0)"
sim_console_stop
sim_run_stop INT
[[ $SIM_RC -eq 0 ]] && ok || fail "SIGINT exit $SIM_RC"

# examples/sim/bench.yaml serves what it says (ports moved out of the way of other tests).
sim_run_start "$ECUUP_SRC/examples/sim/bench.yaml" "$WORK/bench-state" --bus "$BUS_SIM" --doip-port 0 \
  --trace "$WORK/bench.log"
sim_client_start doip "$DOIP_PORT" 0x0010
expect "bench gateway over DoIP" 22f18c "62f18c$(ascii_hex GW-000001)"
sim_console_stop
sim_client_start can "$BUS_TESTER" 0x7E0 0x7E8
expect "bench bms over CAN" 22f189 "62f189$(ascii_hex 2.3.0)"
expect "bench bms security level 0x11" 1003 "5003*"
unlock 11
sim_console_stop
sim_client_start doip "$DOIP_PORT" 0x0011
expect "bench body over DoIP" 22f189 "62f189$(ascii_hex 0.9.1)"
sim_console_stop
sim_run_stop TERM
grep -qE '^\([0-9]+\.[0-9]{6}\) [^ ]+ 7E8#' "$WORK/bench.log" && ok || fail "no candump trace of the bms answers: $(head -3 "$WORK/bench.log")"

# Config errors exit 2 with file:line:col.
printf 'ecus:\n  - name: x\n    doip_address: 0x10\n    colour: red\n' >"$WORK/bad.yaml"
rc=0; "$SIM" run --config "$WORK/bad.yaml" --state "$STATE" 2>"$WORK/bad.err" || rc=$?
[[ $rc -eq 2 ]] && grep -q 'bad.yaml:4:5: unknown key' "$WORK/bad.err" && ok || fail "bad config: exit $rc, $(cat "$WORK/bad.err")"
finish
