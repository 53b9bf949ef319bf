#!/usr/bin/env bash
# ecuup-sim's secondary boot loader RAM and compressed downloads through `ecuup-sim console`: with
# sbl.required the erase routine and downloads to flash are refused (conditionsNotCorrect) until a
# boot loader downloaded to RAM is started at its call address; the start needs something there;
# a reset forgets it. A download with dataFormatIdentifier 0x10 is zlib, decompressed as it
# arrives, and lands byte-exact; corrupt, cut-short or over-long streams, encryption, and other
# methods are refused. zlib streams are made here by Python's zlib (not ecuup's code).
source "$(dirname "$0")/sim_lib.bash"
command -v python3 >/dev/null || { echo "skip: python3 missing"; exit 125; }
cat >"$WORK/sim.yaml" <<'YAML'
ecus:
  - name: ecu1
    can: {request_id: 0x7E0, response_id: 0x7E8}
    memory: [{address: 0x00010000, size: 0x10000}]
    initial_image: {version: "1.0.0", size: 1000}
    max_block_length: 0x102
    sbl: {address: 0x20000000, size: 0x1000, required: true}
    timing: {erase_time_ms: 20, reset_time_ms: 100}
  - name: ecu2
    can: {request_id: 0x7E1, response_id: 0x7E9}
    memory: [{address: 0x00010000, size: 0x10000}]
    initial_image: {version: "1.0.0", size: 1000}
    compression: none
    timing: {erase_time_ms: 20, reset_time_ms: 100}
YAML
STATE="$WORK/state"
zlib_hex() { python3 -c 'import sys, zlib; sys.stdout.write(zlib.compress(open(sys.argv[1], "rb").read(), 9).hex())' "$1"; }
# send_blocks HEX MAX: TransferData blocks of at most MAX-2 bytes; sets R to the last answer.
send_blocks() {
  local hex=$1 chunk=$((($2 - 2) * 2)) off=0 counter=1 cnt
  while ((off < ${#hex})); do
    cnt=$(printf '%02x' $((counter & 0xff)))
    uds "36$cnt${hex:off:chunk}"
    [[ $R == "76$cnt" ]] || return 0
    off=$((off + chunk))
    counter=$((counter + 1))
  done
}

head -c 3000 /dev/urandom >"$WORK/sbl.bin"
python3 -c 'import sys; open(sys.argv[1], "wb").write(bytes((i // 13) & 0xFF for i in range(20000)))' "$WORK/app.bin"

sim_console_start "$WORK/sim.yaml" "$STATE" ecu1
expect "extended" 1003 "5003*"
expect "programming" 1002 "5002*"
unlock 01
expect "erase before the boot loader" 3101ff00440001000000001000 7f3122
expect "download to flash before the boot loader" 3400440001000000001000 7f3422
expect "start with nothing in RAM" 3101030120000000 7f3124
download "$WORK/sbl.bin" 20000000
[[ $DL_RESULT == ok ]] && ok || fail "boot loader download: $DL_RESULT"
expect "call address outside what was loaded" 3101030120000f00 7f3124
expect "start the boot loader" 3101030120000000 7101030100
expect "erase with the boot loader running" 3101ff00440001000000010000 "7101ff0000"

# A zlib download: 34 with DFI 0x10 and the uncompressed size; the memory gets the plain bytes.
z=$(zlib_hex "$WORK/app.bin")
expect "compressed RequestDownload" "341044000100000000$(printf '%04x' 20000)" "7420*"
max=$((0x${R:4:4}))
send_blocks "$z" "$max"
[[ ${R:0:2} == 76 ]] && ok || fail "compressed blocks: $R"
expect "transfer exit" 37 77
# Encryption and unknown methods; a stream that is cut short; corrupt data.
expect "encryption refused" 3401440001000000000010 7f3431
expect "method 2 refused" 3420440001000000000010 7f3431
expect "compressed again" "341044000100000000$(printf '%04x' 20000)" "7420*"
send_blocks "${z:0:200}" "$max"
expect "stream cut short" 37 7f3724
# A new session ends the transfer; the boot loader keeps running outside the default session.
expect "extended" 1003 "5003*"
expect "programming" 1002 "5002*"
unlock 01
expect "compressed again" "341044000100000000$(printf '%04x' 20000)" "7420*"
expect "corrupt stream" 3601ffffffffffffffff 7f3672
# The stream without its Adler-32 trailer: every byte arrived, the stream did not end.
expect "compressed again" "341044000100000000$(printf '%04x' 20000)" "7420*"
send_blocks "${z:0:$((${#z} - 8))}" "$max"
expect "stream without its end" 37 7f3772
# More data than announced: a stream of 20000 bytes in a download of 100.
expect "short announcement" 3410440001000000000064 "7420*"
send_blocks "$z" "$max"
[[ $R == 7f3672 || $R == 7f3671 ]] && ok || fail "over-long stream: $R"
expect "reset" 1101 5101
sim_sleep_ms 300
expect "extended after reset" 1003 "5003*"
expect "programming after reset" 1002 "5002*"
unlock 01
expect "the reset forgot the boot loader" 3101ff00440001000000001000 7f3122
sim_console_stop
"$SIM" dump --state "$STATE" --ecu ecu1 --address 0x10000 -o "$WORK/mem.bin"
cmp -s -n 20000 "$WORK/app.bin" "$WORK/mem.bin" && ok || fail "decompressed memory differs from the plain image"

sim_console_start "$WORK/sim.yaml" "$STATE" ecu2
expect "extended" 1003 "5003*"
expect "programming" 1002 "5002*"
unlock 01
expect "compression: none refuses 0x10" 3410440001000000000010 7f3431
sim_console_stop
finish
