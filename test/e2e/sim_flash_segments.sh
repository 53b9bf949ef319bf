#!/usr/bin/env bash
# ecuup against ecuup-sim with a multi-segment Intel HEX image: the application at 0x0 and a
# calibration set at 0x80000, two memory regions of one ECU. The simulator's check routine checks
# the image header of every region that has one, so a bad segment 2 fails the flash (exit 5,
# restored); a good file lands byte-exact in both regions, and `backup --read` reads both back.
source "$(dirname "$0")/sim_lib.bash"
need_ecuup_uds
command -v python3 >/dev/null || { echo "skip: python3 missing"; exit 125; }
sim_bench_dirs
cat >"$WORK/sim.yaml" <<'YAML'
doip: {port: 0}
ecus:
  - name: eps
    doip_address: 0x0030
    memory: [{address: 0x00000000, size: 0x10000}, {address: 0x00080000, size: 0x1000}]
    initial_image: {version: "3.0.0", size: 8000}
    max_block_length: 0x402
    timing: {erase_time_ms: 50, reset_time_ms: 100}
YAML
sim_run_start "$WORK/sim.yaml" "$STATE" --bus "$BUS_SIM" || exit 1
cat >"$BENCH/ecuup.yaml" <<YAML
vehicle: sim-vehicle-3
state_dir: state
server: {kind: dir, path: repository}
ecus:
  - name: eps
    driver: uds
    uds:
      transport: doip
      doip: {port: $DOIP_PORT, ecu_address: 0x0030}
      security: {level: 1, key_command: "$SIM key {level} {seed}"}
      image: {format: ihex}
      read_out:
        regions: [{address: 0x0, size: 0x10000}, {address: 0x80000, size: 0x1000}]
        format: ihex
YAML

# hex_write OUT ADDR=FILE...: an Intel HEX file, 16 data bytes a record, 04 records per 64 KiB.
hex_write() {
  python3 - "$@" <<'PY'
import sys
def rec(kind, addr, data):
    b = bytes([len(data), (addr >> 8) & 0xFF, addr & 0xFF, kind]) + data
    return ":" + b.hex().upper() + "%02X" % (-sum(b) & 0xFF)
out = []
for arg in sys.argv[2:]:
    at, path = arg.split("=", 1)
    base, data, upper = int(at, 0), open(path, "rb").read(), None
    for off in range(0, len(data), 16):
        a = base + off
        if a >> 16 != upper:
            upper = a >> 16
            out.append(rec(4, 0, upper.to_bytes(2, "big")))
        out.append(rec(0, a & 0xFFFF, data[off:off + 16]))
out.append(":00000001FF")
open(sys.argv[1], "w").write("\n".join(out) + "\n")
PY
}
# hex_region_equals HEX ADDR SIZE FILE: the HEX file's bytes at [ADDR, ADDR+SIZE) are FILE's.
hex_region_equals() {
  python3 - "$@" <<'PY'
import sys
path, base, size, want = sys.argv[1], int(sys.argv[2], 0), int(sys.argv[3], 0), open(sys.argv[4], "rb").read()
mem, upper = {}, 0
for line in open(path):
    b = bytes.fromhex(line.strip()[1:])
    n, addr, kind = b[0], b[1] << 8 | b[2], b[3]
    if kind == 4: upper = (b[4] << 8 | b[5]) << 16
    if kind == 0:
        for i in range(n): mem[upper + addr + i] = b[4 + i]
if len(want) < size or any(base + i not in mem for i in range(size)):
    sys.exit(1)
sys.exit(0 if bytes(mem[base + i] for i in range(size)) == want[:size] else 1)
PY
}

"$SIM" mkimage --version 3.0.9 --size 20000 --seed 30 -o "$WORK/app-3.0.9.img"
"$SIM" mkimage --version 3.1.0 --size 20000 --seed 31 -o "$WORK/app.img"
"$SIM" mkimage --version cal-7 --size 2000 --seed 32 -o "$WORK/cal.img"
# The same calibration set with one payload byte changed: its CRC-32 no longer matches.
python3 -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[100] ^= 0xFF; open(sys.argv[2], "wb").write(b)' \
  "$WORK/cal.img" "$WORK/cal-bad.img"
hex_write "$WORK/eps-3.0.9.hex" 0x0="$WORK/app-3.0.9.img" 0x80000="$WORK/cal-bad.img"
hex_write "$WORK/eps-3.1.0.hex" 0x0="$WORK/app.img" 0x80000="$WORK/cal.img"

add_release "$BENCH/repository" eps 3.0.9 "$WORK/eps-3.0.9.hex"
ecuup_run 0 inventory
ecuup_run 0 report
ecuup_run 0 fetch
ecuup_run 0 backup --read
"$SIM" dump --state "$STATE" --ecu eps --image -o "$WORK/installed.img"
backup=("$BENCH"/state/backups/eps/*)
hex_region_equals "${backup[0]}" 0x0 "$(stat -c %s "$WORK/installed.img")" "$WORK/installed.img" && ok ||
  fail "the read-out backup lacks the installed image"

# Segment 2 is corrupt: the check routine refuses it, the backup goes back (both regions).
ecuup_run 5 flash
grep -qiE "RoutineControl 0xFF01" "$WORK/ecuup.err" && ok || fail "bad segment 2: $(tr '\n' ' ' <"$WORK/ecuup.err")"
grep -q "region 2 at 0x00080000: payload CRC-32 mismatch" "$WORK/run.err" && ok ||
  fail "the simulator did not name segment 2: $(tail -3 "$WORK/run.err")"
[[ $(sim_version "$STATE" eps) == 3.0.0 ]] && ok || fail "eps runs $(sim_version "$STATE" eps) after restore"

# The next release is good: both segments land byte-exact, and a read-out gives both back.
rm -rf "$BENCH/repository"
add_release "$BENCH/repository" eps 3.1.0 "$WORK/eps-3.1.0.hex"
ecuup_run 0 report
ecuup_run 0 fetch
ecuup_run 0 flash
[[ $(sim_version "$STATE" eps) == 3.1.0 ]] && ok || fail "eps runs $(sim_version "$STATE" eps)"
"$SIM" dump --state "$STATE" --ecu eps -o "$WORK/region1.mem"
"$SIM" dump --state "$STATE" --ecu eps --address 0x80000 -o "$WORK/region2.mem"
cmp -s -n "$(stat -c %s "$WORK/app.img")" "$WORK/app.img" "$WORK/region1.mem" && ok || fail "region 1 differs from segment 1"
cmp -s -n "$(stat -c %s "$WORK/cal.img")" "$WORK/cal.img" "$WORK/region2.mem" && ok || fail "region 2 differs from segment 2"
ecuup_run 0 backup --read
newest=$(ls -t "$BENCH"/state/backups/eps/* | head -1)
hex_region_equals "$newest" 0x0 0x10000 "$WORK/region1.mem" && ok || fail "read-out of region 1 differs from the ECU's memory"
hex_region_equals "$newest" 0x80000 0x1000 "$WORK/region2.mem" && ok || fail "read-out of region 2 differs from the ECU's memory"
sim_run_stop TERM
finish
