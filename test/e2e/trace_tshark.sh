#!/usr/bin/env bash
# `ecuup flash --trace FILE` over the udp CAN bus writes a candump log that tshark reads and decodes
# as ISO-TP + UDS: every line is "(sec.usec) iface ID#DATA", and the services of the programming
# sequence appear in the decoded trace. Skipped (125) without tshark (Debian package tshark).
source "$(dirname "$0")/sim_lib.bash"
command -v tshark >/dev/null || { echo "skip: tshark not installed"; exit 125; }
need_ecuup_uds
pick_bus_ports
BENCH="$WORK/bench"
STATE="$WORK/sim-state"
TRACE="$WORK/flash.log"
mkdir -p "$BENCH"
cat >"$WORK/sim.yaml" <<'YAML'
ecus:
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
  - name: bms
    driver: uds
    uds:
      transport: can
      can: {bus: "$BUS_TESTER", tx_id: 0x7E0, rx_id: 0x7E8}
      security: {level: 1, key_command: "$SIM key {level} {seed}"}
      image: {format: raw, base_address: 0x10000}
YAML
"$SIM" mkimage --version 2.1.0 --size 20000 --seed 5 -o "$WORK/bms-2.1.0.img"  # 5 blocks of 4093
add_release "$BENCH/repository" bms 2.1.0 "$WORK/bms-2.1.0.img"
ecuup_run 0 inventory
ecuup_run 0 report
ecuup_run 0 fetch
echo "(0.000000) stale 123#00" >"$TRACE"   # --trace replaces what the file held
ecuup_run 0 flash --no-backup --trace "$TRACE"
[[ $(sim_version "$STATE" bms) == 2.1.0 ]] && ok || fail "bms runs $(sim_version "$STATE" bms)"
# --trace-append keeps the earlier run's frames (checked below).
first_line=$(head -1 "$TRACE")
flash_lines=$(wc -l <"$TRACE")
cp "$TRACE" "$WORK/flash-only.log"
ecuup_run 0 inventory --trace "$TRACE" --trace-append
appended=$(wc -l <"$TRACE")
cp "$WORK/flash-only.log" "$TRACE"   # the decode checks below count the flash's frames
sim_run_stop TERM

# candump log format: (seconds.microseconds) interface ID#DATA, classic frames only on this bus.
[[ -s $TRACE ]] && ok || fail "no trace written"
bad=$(grep -cvE '^\([0-9]+\.[0-9]{6}\) [A-Za-z0-9_.-]+ [0-9A-F]{3}#([0-9A-F]{2}){0,8}$' "$TRACE" || true)
[[ $bad -eq 0 ]] && ok || fail "$bad trace lines not in candump format, e.g. $(grep -vE '^\([0-9]+\.[0-9]{6}\) \S+ [0-9A-F]{3}#' "$TRACE" | head -1)"
fields=$(awk '{print NF}' "$TRACE" | sort -u | tr '\n' ' ')
[[ $fields == "3 " ]] && ok || fail "trace lines have $fields fields (want 3)"
grep -q ' 7E0#' "$TRACE" && grep -q ' 7E8#' "$TRACE" && ok || fail "trace lacks one direction (7E0/7E8)"

# tshark reads candump logs itself; ISO-TP on the two ids, UDS on top (a decode-as entry: the
# iso15765.subdissector table has no selector, so -d cannot name it).
mkdir -p "$WORK/wireshark"
echo 'decode_as_entry: iso15765.subdissector,0,(none),UDS' >"$WORK/wireshark/decode_as_entries"
tshark_uds() {
  WIRESHARK_CONFIG_DIR="$WORK/wireshark" tshark -r "$TRACE" -o "iso15765.can.ids:0x7e0,0x7e8" "$@" 2>>"$WORK/tshark.err"
}
tshark_uds -Y uds >"$WORK/decoded.txt" || fail "tshark failed: $(tail -3 "$WORK/tshark.err")"
for service in "Diagnostic Session Control" "Security Access" "Routine Control" "Request Download" \
  "Transfer Data" "Request Transfer Exit" "ECU Reset"; do
  grep -q "Request *$service" "$WORK/decoded.txt" && ok || fail "tshark: no $service request in the decoded trace"
  grep -q "Reply *$service" "$WORK/decoded.txt" && ok || fail "tshark: no $service reply in the decoded trace"
done
# The request SIDs in the order of the programming sequence (uds.sid is the service without the reply bit).
sids=$(tshark_uds -Y 'uds.reply == 0' -T fields -e uds.sid | awk '{print tolower($1)}' | uniq | tr '\n' ' ')
[[ $sids == *"0x27 0x31 0x34 0x36 0x37 0x31 0x11"* ]] && ok || fail "request SIDs out of order: $sids"
blocks=$(tshark_uds -Y 'uds.reply == 0 && uds.sid == 0x36' | wc -l)
[[ $blocks -eq 5 ]] && ok || fail "tshark reassembled $blocks TransferData requests (want 5)"
! grep -q stale "$TRACE" && ok || fail "--trace kept what the file held before the run"
# scripts/trace-decode: the same decode in one step, the CAN ids taken from the config.
decoded=$("$ECUUP_SRC/scripts/trace-decode" -c "$BENCH/ecuup.yaml" "$TRACE" -Y 'uds.reply == 0 && uds.sid == 0x36' 2>>"$WORK/tshark.err" | wc -l)
[[ $decoded -eq 5 ]] && ok || fail "trace-decode found $decoded TransferData requests (want 5)"
[[ $appended -gt $flash_lines ]] && [[ $(head -1 "$TRACE") == "$first_line" ]] && ok ||
  fail "--trace-append did not keep the earlier frames ($flash_lines lines, then $appended)"
finish
