#!/usr/bin/env bash
# A two-file VBF release (secondary boot loader + EXE, in a tar) flashed into ecuup-sim over DoIP
# and over the UDP CAN bus. The simulated ECUs refuse to erase or program flash until a boot loader
# runs (sbl.required), so the flash only succeeds when ecuup downloads the SBL to RAM and starts it
# at its call address first. The memory must equal the EXE's image byte for byte. Then:
#   - the flashed container becomes the backup (`ecuup backup`), and a next release whose EXE
#     fails the ECU's check is rolled back by programming that container again (exit 5);
#   - flash steps without `sbl` refuse a release with an SBL (exit 2), nothing touched;
#   - the dry run lists the boot loader, the erase range and the segment.
source "$(dirname "$0")/sim_lib.bash"
need_ecuup_uds
sim_bench_dirs
REPO_TOOL="$ECUUP_BIN/ecuup-repo"
cat >"$WORK/sim.yaml" <<'YAML'
doip: {port: 0}
ecus:
  - name: eng
    doip_address: 0x0050
    memory: [{address: 0x00000000, size: 0x20000}]
    sbl: {address: 0x20000000, size: 0x1000, required: true}
    initial_image: {version: "1.0.0", size: 6000}
    timing: {erase_time_ms: 20, reset_time_ms: 50}
  - name: tcm
    can: {request_id: 0x7E2, response_id: 0x7EA}
    memory: [{address: 0x00000000, size: 0x20000}]
    sbl: {address: 0x20000000, size: 0x1000, required: true}
    initial_image: {version: "1.0.0", size: 6000}
    timing: {erase_time_ms: 20, reset_time_ms: 50}
YAML
sim_run_start "$WORK/sim.yaml" "$STATE" --bus "$BUS_SIM" || exit 1
ecu_entry() {  # NAME LINK [STEPS]
  cat <<YAML
  - name: $1
    driver: uds
    uds:
      transport: ${2%%:*}
      ${2#*:}
      security: {level: 1, key_command: "$SIM key {level} {seed}"}
      memory: {ranges: [{address: 0x0, size: 0x20000}, {address: 0x20000000, size: 0x1000}]}
${3:-}
YAML
}
write_config() {  # [STEPS for eng]
  { bench_config sim-vbf
    ecu_entry eng "doip:doip: {port: $DOIP_PORT, ecu_address: 0x0050}" "${1:-}"
    ecu_entry tcm "can:can: {bus: \"$BUS_TESTER\", tx_id: 0x7E2, rx_id: 0x7EA}"
  } >"$BENCH/ecuup.yaml"
}
write_config

# release ECU VERSION IMAGE OUT: SBL + EXE VBFs in a tar.
head -c 2048 /dev/urandom >"$WORK/sbl.bin"
release() {
  local ecu=$1 version=$2 image=$3 out=$4 dir="$WORK/rel-$1-$2"
  mkdir -p "$dir"
  "$REPO_TOOL" pack vbf --out "$dir/sbl.vbf" --type sbl --part-number SBL-7 --call 0x20000000 --base 0x20000000 \
    --ecu-address 0x50 "$WORK/sbl.bin" >/dev/null
  "$REPO_TOOL" pack vbf --out "$dir/exe.vbf" --type exe --part-number APP-7 --version "$version" --erase 0x0:0x20000 \
    --base 0 --ecu-address 0x50 "$image" >/dev/null
  tar -C "$dir" -cf "$out" sbl.vbf exe.vbf
}
"$SIM" mkimage --version 2.0.0 --size 30000 --seed 21 -o "$WORK/app-2.0.0.img"
"$SIM" mkimage --version 2.1.0 --size 30000 --seed 22 -o "$WORK/app-2.1.0.img"
# 2.1.0 with one payload byte changed: the ECU's check routine fails it after the download.
python3 -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[500] ^= 0xFF; open(sys.argv[2], "wb").write(b)' \
  "$WORK/app-2.1.0.img" "$WORK/app-2.1.0-bad.img"
for ecu in eng tcm; do
  release $ecu 2.0.0 "$WORK/app-2.0.0.img" "$WORK/$ecu-2.0.0.tar"
  add_release "$BENCH/repository" $ecu 2.0.0 "$WORK/$ecu-2.0.0.tar"
  "$SIM" dump --state "$STATE" --ecu $ecu -o "$WORK/$ecu-1.0.0.mem"
done
ecuup_run 0 inventory
ecuup_run 0 report
ecuup_run 0 fetch
for ecu in eng tcm; do ecuup_run 0 backup --import $ecu="$WORK/$ecu-1.0.0.mem" --version 1.0.0; done

# Steps without `sbl`: refused before anything is sent.
write_config '      steps: [extended_session, programming_session, security_access, erase, download, check_dependencies, reset, read_version]'
ecuup_run 2 flash --ecu eng
grep -q "no 'sbl' step before 'erase'" "$WORK/ecuup.err" && ok || fail "steps without sbl: $(cat "$WORK/ecuup.err")"
[[ $(sim_version "$STATE" eng) == 1.0.0 ]] && ok || fail "eng runs $(sim_version "$STATE" eng) after a refused flash"
"$SIM" dump --state "$STATE" --ecu eng -o "$WORK/eng-refused.mem"
cmp -s "$WORK/eng-1.0.0.mem" "$WORK/eng-refused.mem" && ok || fail "eng's memory changed"
write_config

ecuup_run 0 flash --dry-run
grep -q "boot loader: start sbl.vbf at 0x20000000 (RoutineControl 0x0301)" "$WORK/ecuup.out" && ok ||
  fail "dry run lacks the boot loader step: $(cat "$WORK/ecuup.out")"
grep -q "erase 0x00000000 131072 bytes" "$WORK/ecuup.out" && ok || fail "dry run lacks the erase range"
grep -q "download 0x00000000 30064 bytes \[exe.vbf\]" "$WORK/ecuup.out" && ok || fail "dry run lacks the EXE segment"

ecuup_run 0 flash
for ecu in eng tcm; do
  [[ $(sim_version "$STATE" $ecu) == 2.0.0 ]] && ok || fail "$ecu runs $(sim_version "$STATE" $ecu)"
  "$SIM" dump --state "$STATE" --ecu $ecu -o "$WORK/$ecu.mem"
  cmp -s -n "$(stat -c %s "$WORK/app-2.0.0.img")" "$WORK/app-2.0.0.img" "$WORK/$ecu.mem" && ok ||
    fail "$ecu's memory differs from the EXE's image"
  grep -q "ecuup-sim: $ecu: boot loader started at 0x20000000" "$WORK/run.err" && ok || fail "$ecu: no boot loader was started"
done
ecuup_run 0 backup

# A next release whose EXE fails the check: the container backup (2.0.0) goes back in, SBL first.
rm -rf "$BENCH/repository"
release eng 2.1.0 "$WORK/app-2.1.0-bad.img" "$WORK/eng-2.1.0.tar"
add_release "$BENCH/repository" eng 2.1.0 "$WORK/eng-2.1.0.tar"
add_release "$BENCH/repository" tcm 2.0.0 "$WORK/tcm-2.0.0.tar"
ecuup_run 0 report
ecuup_run 0 fetch
ecuup_run 5 flash --ecu eng
[[ $(sim_version "$STATE" eng) == 2.0.0 ]] && ok || fail "eng runs $(sim_version "$STATE" eng) after the restore"
"$SIM" dump --state "$STATE" --ecu eng -o "$WORK/eng-restored.mem"
cmp -s -n "$(stat -c %s "$WORK/app-2.0.0.img")" "$WORK/app-2.0.0.img" "$WORK/eng-restored.mem" && ok ||
  fail "eng's memory after the restore differs from 2.0.0"
[[ $(grep -c "ecuup-sim: eng: boot loader started" "$WORK/run.err") -ge 3 ]] && ok ||
  fail "the restore did not start the boot loader again"

# The same kind of set compressed (tar.gz): fetch keeps it whole and flash reads it as a VBF set,
# not as a raw image of gzip bytes.
rm -rf "$BENCH/repository"
release tcm 2.1.0 "$WORK/app-2.1.0.img" "$WORK/tcm-2.1.0.tar"
gzip -9 -c "$WORK/tcm-2.1.0.tar" >"$WORK/tcm-2.1.0.tar.gz"
add_release "$BENCH/repository" tcm 2.1.0 "$WORK/tcm-2.1.0.tar.gz"
add_release "$BENCH/repository" eng 2.0.0 "$WORK/eng-2.0.0.tar"
ecuup_run 0 report
ecuup_run 0 fetch
ecuup_run 0 flash --ecu tcm --dry-run
grep -q "download 0x00000000 30064 bytes \[exe.vbf\]" "$WORK/ecuup.out" && ok ||
  fail "the tar.gz set is not planned as VBF segments: $(cat "$WORK/ecuup.out")"
ecuup_run 0 flash --ecu tcm
[[ $(sim_version "$STATE" tcm) == 2.1.0 ]] && ok || fail "tcm runs $(sim_version "$STATE" tcm) after the tar.gz set"
"$SIM" dump --state "$STATE" --ecu tcm -o "$WORK/tcm-2.1.0.mem"
cmp -s -n "$(stat -c %s "$WORK/app-2.1.0.img")" "$WORK/app-2.1.0.img" "$WORK/tcm-2.1.0.mem" && ok ||
  fail "tcm's memory differs from the 2.1.0 EXE's image"
sim_run_stop TERM
finish
