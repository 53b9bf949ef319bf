#!/usr/bin/env bash
# ODX-F in a PDX flashed into ecuup-sim over DoIP: two DATABLOCKs (application at 0x0, calibration
# at 0x10000), a CRC-32 FW-CHECKSUM each, and an EXPECTED-IDENT on the hardware part number, which
# ecuup reads from the DID `identification` names before it touches the ECU. Both segments must
# land byte for byte. A PDX for other hardware is refused with exit 4 and the memory unchanged;
# a zlib-compressed PDX (data format 0x10) lands byte for byte too.
source "$(dirname "$0")/sim_lib.bash"
need_ecuup_uds
sim_bench_dirs
REPO_TOOL="$ECUUP_BIN/ecuup-repo"
cat >"$WORK/sim.yaml" <<'YAML'
doip: {port: 0}
ecus:
  - name: bcm
    doip_address: 0x0060
    memory: [{address: 0x00000000, size: 0x20000}]
    initial_image: {version: "1.0.0", size: 6000}
    dids: {F191: "BCM-HW-1"}
    timing: {erase_time_ms: 20, reset_time_ms: 50}
YAML
sim_run_start "$WORK/sim.yaml" "$STATE" --bus "$BUS_SIM" || exit 1
{ bench_config sim-pdx
  cat <<YAML
  - name: bcm
    driver: uds
    uds:
      transport: doip
      doip: {port: $DOIP_PORT, ecu_address: 0x0060}
      security: {level: 1, key_command: "$SIM key {level} {seed}"}
      identification: {HW_PART_NUMBER: 0xF191}
      memory: {ranges: [{address: 0x0, size: 0x20000}]}
YAML
} >"$BENCH/ecuup.yaml"

# pdx VERSION HW OUT [pack options...]
pdx() {
  local version=$1 hw=$2 out=$3; shift 3
  "$SIM" mkimage --version "$version" --size 30000 --seed 40 -o "$WORK/app-$version.img"
  "$REPO_TOOL" pack pdx --out "$out" --ecu bcm --version "$version" --expect-ident HW_PART_NUMBER="$hw" --crc32 \
    --block code:"$WORK/app-$version.img@0x0" --block data:"$WORK/cal.img@0x10000" "$@" >/dev/null
}
"$SIM" mkimage --version cal-4 --size 3000 --seed 41 -o "$WORK/cal.img"
expect_memory() {  # VERSION
  "$SIM" dump --state "$STATE" --ecu bcm -o "$WORK/mem"
  cmp -s -n "$(stat -c %s "$WORK/app-$1.img")" "$WORK/app-$1.img" "$WORK/mem" && ok || fail "$1: application segment differs"
  cmp -s -n "$(stat -c %s "$WORK/cal.img")" -i 0:$((0x10000)) "$WORK/cal.img" "$WORK/mem" && ok ||
    fail "$1: calibration segment differs"
}
publish() {  # VERSION FILE
  rm -rf "$BENCH/repository"
  add_release "$BENCH/repository" bcm "$1" "$2"
  ecuup_run 0 report
  ecuup_run 0 fetch
}

"$SIM" dump --state "$STATE" --ecu bcm -o "$WORK/before.mem"
ecuup_run 0 inventory
ecuup_run 0 backup --import bcm="$WORK/before.mem" --version 1.0.0
pdx 3.0.0 BCM-HW-1 "$WORK/bcm-3.0.0.pdx"
publish 3.0.0 "$WORK/bcm-3.0.0.pdx"
ecuup_run 0 flash --dry-run
grep -q "download 0x00010000 3064 bytes" "$WORK/ecuup.out" && ok || fail "dry run lacks segment 2: $(cat "$WORK/ecuup.out")"
ecuup_run 0 flash
[[ $(sim_version "$STATE" bcm) == 3.0.0 ]] && ok || fail "bcm runs $(sim_version "$STATE" bcm)"
expect_memory 3.0.0

# For other hardware: refused before anything changes.
pdx 3.0.1 BCM-HW-2 "$WORK/bcm-3.0.1.pdx"
publish 3.0.1 "$WORK/bcm-3.0.1.pdx"
"$SIM" dump --state "$STATE" --ecu bcm -o "$WORK/mem-before-refusal"
ecuup_run 4 flash
grep -q "ident HW_PART_NUMBER (DID 0xF191) is 'BCM-HW-1', the container expects 'BCM-HW-2'" "$WORK/ecuup.err" && ok ||
  fail "expected ident: $(cat "$WORK/ecuup.err")"
"$SIM" dump --state "$STATE" --ecu bcm -o "$WORK/mem-after-refusal"
cmp -s "$WORK/mem-before-refusal" "$WORK/mem-after-refusal" && ok || fail "the refused PDX changed the memory"
[[ $(sim_version "$STATE" bcm) == 3.0.0 ]] && ok || fail "bcm runs $(sim_version "$STATE" bcm) after the refusal"
ecuup_run 10 status --json
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$WORK/ecuup.out" && ok || fail "status --json after the refusal"

# Compressed (zlib, data format 0x10): the ECU decompresses; the memory is the plain bytes.
pdx 3.0.2 BCM-HW-1 "$WORK/bcm-3.0.2.pdx" --data-format 0x10
publish 3.0.2 "$WORK/bcm-3.0.2.pdx"
ecuup_run 0 flash
[[ $(sim_version "$STATE" bcm) == 3.0.2 ]] && ok || fail "bcm runs $(sim_version "$STATE" bcm)"
expect_memory 3.0.2
sim_run_stop TERM
finish
