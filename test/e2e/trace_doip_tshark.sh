#!/usr/bin/env bash
# `--trace FILE.pcapng` against ecuup-sim: a DoIP flash traced as IPv4/TCP that tshark decodes as
# DoIP (routing activation, diagnostic messages and their acks) carrying the UDS programming
# sequence; a CAN flash traced on a SocketCAN interface that tshark decodes as ISO-TP + UDS; an
# inventory and a flash appending two sections to one file; a DoIP flash with a candump (.log)
# trace, which says once that DoIP needs .pcapng and writes no DoIP into the log; and a flash
# killed during a slow erase, whose trace already holds the erase request in whole blocks.
# Skipped (125) without tshark (Debian package tshark).
source "$(dirname "$0")/sim_lib.bash"
command -v tshark >/dev/null || { echo "skip: tshark not installed"; exit 125; }
need_ecuup_uds
pick_bus_ports
BENCH="$WORK/bench"
STATE="$WORK/sim-state"
mkdir -p "$BENCH" "$WORK/wireshark"
cat >"$WORK/sim.yaml" <<'YAML'
doip: {port: 0}
ecus:
  - name: gw
    doip_address: 0x0010
    memory: [{address: 0x00000000, size: 0x20000}]
    initial_image: {version: "1.0.0", size: 20000}
    timing: {erase_time_ms: 100, reset_time_ms: 200}
  - name: gw2
    doip_address: 0x0011
    memory: [{address: 0x00000000, size: 0x20000}]
    initial_image: {version: "1.0.0", size: 20000}
    timing: {erase_time_ms: 100, reset_time_ms: 200}
  - name: gw3
    doip_address: 0x0012
    memory: [{address: 0x00000000, size: 0x20000}]
    initial_image: {version: "1.0.0", size: 20000}
    timing: {erase_time_ms: 20000, reset_time_ms: 200}
  - name: bms
    can: {request_id: 0x7E0, response_id: 0x7E8}
    memory: [{address: 0x00010000, size: 0x20000}]
    initial_image: {version: "2.0.0", size: 10000}
    timing: {erase_time_ms: 100, reset_time_ms: 200}
YAML
sim_run_start "$WORK/sim.yaml" "$STATE" --bus "$BUS_SIM" || exit 1
cat >"$BENCH/ecuup.yaml" <<YAML
vehicle: sim-vehicle-1
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
  - name: gw2
    driver: uds
    uds:
      transport: doip
      doip: {port: $DOIP_PORT, ecu_address: 0x0011}
      security: {level: 1, key_command: "$SIM key {level} {seed}"}
      image: {format: raw, base_address: 0x0}
  - name: gw3
    driver: uds
    uds:
      transport: doip
      doip: {port: $DOIP_PORT, ecu_address: 0x0012}
      security: {level: 1, key_command: "$SIM key {level} {seed}"}
      image: {format: raw, base_address: 0x0}
  - name: bms
    driver: uds
    uds:
      transport: can
      can: {bus: "$BUS_TESTER", tx_id: 0x7E0, rx_id: 0x7E8}
      security: {level: 1, key_command: "$SIM key {level} {seed}"}
      image: {format: raw, base_address: 0x10000}
YAML
"$SIM" mkimage --version 1.1.0 --size 30000 --seed 21 -o "$WORK/gw-1.1.0.img"
"$SIM" mkimage --version 1.1.0 --size 30000 --seed 22 -o "$WORK/gw2-1.1.0.img"
"$SIM" mkimage --version 2.1.0 --size 20000 --seed 23 -o "$WORK/bms-2.1.0.img"  # 5 blocks of 4093
add_release "$BENCH/repository" gw 1.1.0 "$WORK/gw-1.1.0.img"
add_release "$BENCH/repository" gw2 1.1.0 "$WORK/gw2-1.1.0.img"
add_release "$BENCH/repository" gw3 1.1.0 "$WORK/gw2-1.1.0.img"
add_release "$BENCH/repository" bms 2.1.0 "$WORK/bms-2.1.0.img"

DOIP_TRACE="$WORK/doip.pcapng"
CAN_TRACE="$WORK/can.pcapng"
LOG_TRACE="$WORK/doip.log"
ecuup_run 0 inventory
ecuup_run 0 inventory --ecu gw --trace "$DOIP_TRACE"  # a first section in the DoIP trace
ecuup_run 0 report
ecuup_run 0 fetch
ecuup_run 0 flash --no-backup --ecu gw --trace "$DOIP_TRACE" --trace-append
ecuup_run 0 flash --no-backup --ecu bms --trace "$CAN_TRACE"
ecuup_run 0 flash --no-backup --ecu gw2 --trace "$LOG_TRACE" -v
cp "$WORK/ecuup.err" "$WORK/log-flash.err"
for ecu in gw gw2; do
  [[ $(sim_version "$STATE" $ecu) == 1.1.0 ]] && ok || fail "$ecu runs $(sim_version "$STATE" $ecu)"
done
[[ $(sim_version "$STATE" bms) == 2.1.0 ]] && ok || fail "bms runs $(sim_version "$STATE" bms)"

tshark_read() {
  local file=$1; shift
  # The trace records the gateway's real port: DoIP is decoded there.
  WIRESHARK_CONFIG_DIR="$WORK/wireshark" tshark -r "$file" -d "tcp.port==$DOIP_PORT,doip" "$@" 2>>"$WORK/tshark.err"
}

# --- killed while the ECU erases: what was traced up to ~200 ms before is on disk, whole ----------
KILL_TRACE="$WORK/killed.pcapng"
(cd "$BENCH" && exec "$ECUUP" flash --no-backup --ecu gw3 --trace "$KILL_TRACE" --progress none \
  >"$WORK/killed.out" 2>&1) &
flash_pid=$!
erase_seen=0
for _ in $(seq 1 100); do  # the erase takes 20 s; its request shows up long before
  if [[ -s $KILL_TRACE ]] && tshark_read "$KILL_TRACE" -Y 'uds.sid == 0x31 && uds.reply == 0' | grep -q .; then
    erase_seen=1
    break
  fi
  sleep 0.1
done
kill -KILL "$flash_pid" 2>/dev/null || true
wait "$flash_pid" 2>/dev/null || true
[[ $erase_seen -eq 1 ]] && ok || fail "the erase request of a running flash never reached the trace file"
if WIRESHARK_CONFIG_DIR="$WORK/wireshark" tshark -r "$KILL_TRACE" >/dev/null 2>"$WORK/killed-tshark.err"; then ok; else
  fail "tshark cannot read the killed run's trace: $(grep -v 'Running as user' "$WORK/killed-tshark.err" | head -2)"
fi
sim_run_stop TERM

# --- DoIP in pcapng ---------------------------------------------------------------------------
[[ -s $DOIP_TRACE ]] && ok || fail "no DoIP trace written"
[[ $(od -An -tx1 -N4 "$DOIP_TRACE" | tr -d ' ') == 0a0d0d0a ]] && ok || fail "DoIP trace does not start with a pcapng section header"
tshark_read "$DOIP_TRACE" >"$WORK/doip-all.txt" || fail "tshark cannot read the DoIP trace: $(tail -3 "$WORK/tshark.err")"
# No malformed packets, no TCP holes or retransmissions: the synthesized stream is consistent.
bad=$(tshark_read "$DOIP_TRACE" -Y '_ws.malformed || _ws.expert.severity >= warning' | wc -l)
[[ $bad -eq 0 ]] && ok || fail "tshark flags $bad DoIP trace packets: $(tshark_read "$DOIP_TRACE" -Y '_ws.malformed || _ws.expert.severity >= warning' | head -3)"
types=$(tshark_read "$DOIP_TRACE" -Y doip -T fields -e doip.type | tr 'A-F' 'a-f' | sort -u | tr '\n' ' ')
for type in 0x0005 0x0006 0x8001 0x8002; do
  [[ " $types" == *" $type "* ]] && ok || fail "tshark: no DoIP payload type $type in the trace (types: $types)"
done
# Two sections (inventory, then flash): the inventory's read of the version and the flash both decode.
sections=$(tshark_read "$DOIP_TRACE" -Y 'tcp.flags.syn == 1 && tcp.flags.ack == 0' | wc -l)
[[ $sections -ge 2 ]] && ok || fail "expected the inventory's and the flash's connections, tshark saw $sections"
tshark_read "$DOIP_TRACE" -Y uds >"$WORK/doip-uds.txt" || fail "tshark -Y uds failed on the DoIP trace"
for service in "Read Data By Identifier" "Diagnostic Session Control" "Security Access" "Routine Control" \
  "Request Download" "Transfer Data" "Request Transfer Exit" "ECU Reset"; do
  grep -q "Request *$service" "$WORK/doip-uds.txt" && ok || fail "tshark: no $service request over DoIP"
  grep -q "Reply *$service" "$WORK/doip-uds.txt" && ok || fail "tshark: no $service reply over DoIP"
done
ports=$(tshark_read "$DOIP_TRACE" -Y doip -T fields -e tcp.srcport -e tcp.dstport | tr '\t' '\n' | grep -c "^$DOIP_PORT\$" || true)
[[ $ports -gt 0 ]] && ok || fail "DoIP segments not on the gateway's real TCP port $DOIP_PORT"
# scripts/trace-decode decodes it in one step from the config (DoIP on the config's port, UDS on top).
"$ECUUP_SRC/scripts/trace-decode" -c "$BENCH/ecuup.yaml" "$DOIP_TRACE" >"$WORK/decode-doip.txt" 2>>"$WORK/tshark.err" ||
  fail "trace-decode failed on the DoIP trace: $(tail -3 "$WORK/tshark.err")"
grep -q "Request *Transfer Data" "$WORK/decode-doip.txt" && ok ||
  fail "trace-decode: no TransferData request in the DoIP trace: $(head -5 "$WORK/decode-doip.txt")"
"$ECUUP_SRC/scripts/trace-decode" -c "$BENCH/ecuup.yaml" "$CAN_TRACE" >"$WORK/decode-can.txt" 2>>"$WORK/tshark.err" ||
  fail "trace-decode failed on the CAN trace"
grep -q "Request *Transfer Data" "$WORK/decode-can.txt" && ok ||
  fail "trace-decode: no TransferData request in the CAN trace: $(head -5 "$WORK/decode-can.txt")"

# --- CAN in pcapng ----------------------------------------------------------------------------
[[ -s $CAN_TRACE ]] && ok || fail "no CAN trace written"
echo 'decode_as_entry: iso15765.subdissector,0,(none),UDS' >"$WORK/wireshark/decode_as_entries"
tshark_read "$CAN_TRACE" -o "iso15765.can.ids:0x7e0,0x7e8" -Y uds >"$WORK/can-uds.txt" ||
  fail "tshark failed on the CAN trace: $(tail -3 "$WORK/tshark.err")"
for service in "Diagnostic Session Control" "Security Access" "Routine Control" "Request Download" \
  "Transfer Data" "Request Transfer Exit" "ECU Reset"; do
  grep -q "Request *$service" "$WORK/can-uds.txt" && ok || fail "tshark: no $service request over CAN"
  grep -q "Reply *$service" "$WORK/can-uds.txt" && ok || fail "tshark: no $service reply over CAN"
done
blocks=$(tshark_read "$CAN_TRACE" -o "iso15765.can.ids:0x7e0,0x7e8" -Y 'uds.reply == 0 && uds.sid == 0x36' | wc -l)
[[ $blocks -eq 5 ]] && ok || fail "tshark reassembled $blocks TransferData requests over CAN (want 5)"
ids=$(tshark_read "$CAN_TRACE" -T fields -e can.id | sort -u | tr '\n' ' ')
[[ $ids == *0x000007e0* && $ids == *0x000007e8* ]] || [[ $ids == *2016* && $ids == *2024* ]] && ok ||
  fail "CAN ids in the pcapng trace: $ids (want 0x7e0 and 0x7e8)"

# --- DoIP into a candump log: a note, nothing bogus -------------------------------------------
n=$(grep -c 'DoIP traffic is not traced' "$WORK/log-flash.err" || true)
[[ $n -eq 1 ]] && ok || fail "the .log trace note appeared $n times (want once): $(cat "$WORK/log-flash.err")"
grep -q '\.pcapng' "$WORK/log-flash.err" && ok || fail "the note does not point at .pcapng"
if [[ -e $LOG_TRACE ]]; then
  bad=$(grep -cvE '^\([0-9]+\.[0-9]{6}\) \S+ [0-9A-F]{3}(#|##)' "$LOG_TRACE" || true)
  [[ $bad -eq 0 ]] && ok || fail "$bad lines in the candump trace are not CAN frames"
else
  ok
fi
finish
