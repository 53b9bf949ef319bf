#!/usr/bin/env bash
# Compressed transfer: with memory.data_format 0x10 ecuup compresses the image with zlib (method 1),
# names its uncompressed size in RequestDownload and sends fewer bytes; ecuup-sim decompresses as
# the blocks arrive. The memory must equal the image byte for byte, and progress counts
# uncompressed bytes. A config asking for encryption or an unknown method is refused (exit 2)
# before any ECU is asked.
source "$(dirname "$0")/sim_lib.bash"
need_ecuup_uds
sim_bench_dirs
cat >"$WORK/sim.yaml" <<'YAML'
doip: {port: 0}
ecus:
  - name: bcm
    doip_address: 0x0040
    memory: [{address: 0x00000000, size: 0x40000}]
    initial_image: {version: "1.0.0", size: 4000}
    timing: {erase_time_ms: 20, reset_time_ms: 50}
YAML
sim_run_start "$WORK/sim.yaml" "$STATE" --bus "$BUS_SIM" || exit 1
ecu_entry() {  # NAME ADDRESS DATA_FORMAT
  cat <<YAML
  - name: $1
    driver: uds
    uds:
      transport: doip
      doip: {port: $DOIP_PORT, ecu_address: $2}
      security: {level: 1, key_command: "$SIM key {level} {seed}"}
      image: {format: raw, base_address: 0}
      memory: {data_format: $3}
YAML
}
{ bench_config sim-compressed; ecu_entry bcm 0x0040 0x10; } >"$BENCH/ecuup.yaml"

# A compressible image: a header, then long runs (ECU software compresses well too).
"$SIM" mkimage --version 2.0.0 --size 120000 --seed 7 -o "$WORK/random.img"
python3 - "$WORK/random.img" "$WORK/app.img" <<'PY'
import sys, zlib, struct
raw = bytearray(open(sys.argv[1], "rb").read())
payload = bytes((i // 97) & 0xFF for i in range(len(raw) - 64))
raw[64:] = payload
struct.pack_into(">I", raw, 44, zlib.crc32(payload))  # the header's payload CRC-32 (sw_image.hpp)
open(sys.argv[2], "wb").write(raw)
PY
"$SIM" dump --state "$STATE" --ecu bcm -o "$WORK/before.mem"
add_release "$BENCH/repository" bcm 2.0.0 "$WORK/app.img"
ecuup_run 0 inventory
ecuup_run 0 report
ecuup_run 0 fetch
ecuup_run 0 backup --import bcm="$WORK/before.mem" --version 1.0.0
ecuup_run 0 flash --dry-run --ecu bcm
grep -q "data format 0x10 (zlib: [0-9]* bytes sent)" "$WORK/ecuup.out" && ok ||
  fail "dry run does not show the compressed segment: $(cat "$WORK/ecuup.out")"
ecuup_run 0 flash --ecu bcm --json
[[ $(sim_version "$STATE" bcm) == 2.0.0 ]] && ok || fail "bcm runs $(sim_version "$STATE" bcm)"
"$SIM" dump --state "$STATE" --ecu bcm -o "$WORK/after.mem"
cmp -s -n "$(stat -c %s "$WORK/app.img")" "$WORK/app.img" "$WORK/after.mem" && ok ||
  fail "the ECU's memory differs from the image after a compressed download"
bytes=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["ecus"][0]["facts"].get("bytes", -1))' "$WORK/ecuup.out")
[[ $bytes == "$(stat -c %s "$WORK/app.img")" ]] && ok || fail "facts.bytes $bytes: progress must count uncompressed bytes"

# Encryption or an unknown compression method in the config: exit 2, no ECU asked.
for format in 0x11 0x20; do
  { bench_config sim-compressed; ecu_entry bcm 0x0040 "$format"; } >"$BENCH/ecuup.yaml"
  ecuup_run 2 inventory
  grep -q "data_format $format" "$WORK/ecuup.err" && ok || fail "data_format $format: $(cat "$WORK/ecuup.err")"
done
sim_run_stop TERM
finish
