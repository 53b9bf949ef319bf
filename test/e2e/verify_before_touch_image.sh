#!/usr/bin/env bash
# Issue 13, case 7: an image ecuup cannot parse is refused at fetch, before any ECU is touched.
# A dir repository releases malformed Intel HEX and S-record files for a UDS ECU on ecuup-sim (one
# defect each: record checksum, byte count, a non-hex digit in the data or the checksum, missing end
# record, data after it, overlapping records, data past 4 GiB, an unknown record type). Each time
# `ecuup fetch` exits 4, `ecuup status` shows no verified download, and the ECU's memory is
# byte-identical; `ecuup update` (cron) stops at fetch with exit 4, and `ecuup flash` touches nothing.
# A well-formed file of the same release then fetches and flashes.
source "$(dirname "$0")/sim_lib.bash"
need_ecuup_uds
command -v python3 >/dev/null || { echo "skip: python3 missing"; exit 125; }
sim_bench_dirs
cat >"$WORK/sim.yaml" <<'YAML'
doip: {port: 0}
ecus:
  - name: eps
    doip_address: 0x0031
    memory: [{address: 0x00000000, size: 0x10000}]
    initial_image: {version: "3.0.0", size: 6000}
    timing: {erase_time_ms: 20, reset_time_ms: 50}
YAML
sim_run_start "$WORK/sim.yaml" "$STATE" --bus "$BUS_SIM" || exit 1
{
  bench_config sim-vehicle-7
  cat <<YAML
  - name: eps
    driver: uds
    uds:
      transport: doip
      doip: {port: $DOIP_PORT, ecu_address: 0x0031}
      security: {level: 1, key_command: "$SIM key {level} {seed}"}
      image: {format: auto}
      read_out: {regions: [{address: 0x0, size: 0x10000}], format: srec}
YAML
} >"$BENCH/ecuup.yaml"

"$SIM" mkimage --version 3.1.0 --size 9000 --seed 71 -o "$WORK/app.img"

# write_image FORMAT DEFECT OUT: app.img at 0x0 as Intel HEX (ihex) or S-records (srec), 32 data
# bytes a record, with one defect ("none" for a sound file).
write_image() {
  python3 - "$1" "$2" "$WORK/app.img" "$3" <<'PY'
import sys
fmt, defect, src, out = sys.argv[1:]
data = open(src, "rb").read()

def ihex(kind, addr, payload, count=None):
    b = bytes([len(payload) if count is None else count, (addr >> 8) & 0xFF, addr & 0xFF, kind]) + payload
    return ":" + b.hex().upper() + "%02X" % (-sum(b) & 0xFF)

def srec(kind, addr, payload, count=None):
    width = {"0": 2, "1": 2, "5": 2, "9": 2, "2": 3, "6": 3, "8": 3}.get(kind, 4)
    b = bytes([width + len(payload) + 1 if count is None else count]) + addr.to_bytes(width, "big") + payload
    return "S" + kind + b.hex().upper() + "%02X" % (~sum(b) & 0xFF)

rec = ihex if fmt == "ihex" else srec
dat = (lambda a, p, count=None: ihex(0, a, p, count)) if fmt == "ihex" else (lambda a, p, count=None: srec("3", a, p, count))
body = [dat(off, data[off:off + 32]) for off in range(0, len(data), 32)]
end = ":00000001FF" if fmt == "ihex" else srec("7", 0, b"")
head = [] if fmt == "ihex" else [srec("0", 0, b"ecuup")]
n = 5  # the record to spoil
if defect == "checksum":
    body[n] = body[n][:-2] + "%02X" % (int(body[n][-2:], 16) ^ 0x5A)
elif defect == "byte_count":
    # The count/length byte says one more byte than the line holds; the checksum matches it.
    body[n] = dat(n * 32, data[n * 32:n * 32 + 32], 33 if fmt == "ihex" else 4 + 32 + 2)
elif defect == "nonhex_data":
    body[n] = body[n][:15] + "G" + body[n][16:]
elif defect == "nonhex_checksum":
    body[n] = body[n][:-1] + "x"
elif defect == "missing_end":
    end = None
elif defect == "after_end":
    # The last data record moved after the end record: a reader that stops there loses it.
    body, late = body[:-1], body[-1]
elif defect == "overlap":
    body.append(dat(n * 32 + 16, bytes(16)))
elif defect == "past_4gib":
    body += [ihex(4, 0, b"\xff\xff"), ihex(0, 0xFFF8, bytes(16))] if fmt == "ihex" else [srec("3", 0xFFFFFFF8, bytes(16))]
elif defect == "unknown_type":
    body.append(ihex(6, 0, b"") if fmt == "ihex" else srec("4", 0x1000, b"\x01"))
lines = head + body + ([end] if end else [])
if defect == "after_end":
    lines.append(late)
open(out, "w").write("\n".join(lines) + "\n")
PY
}

# release FILE: the repository's only release is eps 3.1.0 = FILE.
release() {
  rm -rf "$BENCH/repository"
  add_release "$BENCH/repository" eps 3.1.0 "$1"
}
# ecu_snapshot: the simulated ECU's whole state (memory, validity), to compare.
ecu_snapshot() { (cd "$STATE" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
verified() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ecus"][0]["verified"])' "$WORK/ecuup.out"; }

ecuup_run 0 inventory
ecuup_run 0 backup --read
before=$(ecu_snapshot)

for fmt in ihex srec; do
  for defect in checksum byte_count nonhex_data nonhex_checksum missing_end after_end overlap past_4gib unknown_type; do
    echo "# $fmt: $defect"
    write_image "$fmt" "$defect" "$WORK/eps.$fmt"
    release "$WORK/eps.$fmt"
    ecuup_run 0 report
    ecuup_run 4 fetch
    grep -qE ':[0-9]+(:[0-9]+)?: ' "$WORK/ecuup.err" && ok || fail "$fmt $defect: no file:line in: $(cat "$WORK/ecuup.err")"
    ecuup_run_any status --json
    [[ $(verified) == False ]] && ok || fail "$fmt $defect: status shows the download verified"
    [[ $(ecu_snapshot) == "$before" ]] && ok || fail "$fmt $defect: the ECU changed during fetch"
  done
done

# The cron command stops at fetch: exit 4, nothing read, erased or written.
ecuup_run 4 update
[[ $(ecu_snapshot) == "$before" ]] && ok || fail "update touched the ECU"
# flash has no verified download to program: it refuses and touches nothing either.
ecuup_run_any flash
[[ $ECUUP_RC -ne 0 && $ECUUP_RC -ne 5 && $ECUUP_RC -ne 6 ]] && ok || fail "flash exited $ECUUP_RC"
[[ $(ecu_snapshot) == "$before" ]] && ok || fail "flash touched the ECU"
[[ $(sim_version "$STATE" eps) == 3.0.0 ]] && ok || fail "eps runs $(sim_version "$STATE" eps)"

# The same release, well-formed: fetched, verified and flashed.
for fmt in ihex srec; do
  write_image "$fmt" none "$WORK/eps.$fmt"
  release "$WORK/eps.$fmt"
  ecuup_run 0 report
  ecuup_run 0 fetch
  ecuup_run_any status --json
  [[ $(verified) == True ]] && ok || fail "a sound $fmt file is not verified"
done
ecuup_run 0 flash
[[ $(sim_version "$STATE" eps) == 3.1.0 ]] && ok || fail "eps runs $(sim_version "$STATE" eps) after the flash"
sim_run_stop TERM
finish
