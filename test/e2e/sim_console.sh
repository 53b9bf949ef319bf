#!/usr/bin/env bash
# ecuup-sim's UDS server through `ecuup-sim console`: sessions, S3, security, NRCs, erase with 0x78,
# download with repeated/wrong blocks, check, reset, persistence across restarts, upload, boot mode.
source "$(dirname "$0")/sim_lib.bash"

cat >"$WORK/sim.yaml" <<'YAML'
ecus:
  - name: ecu1
    can: {request_id: 0x7E0, response_id: 0x7E8}
    memory:
      - {address: 0x00010000, size: 0x10000}
      - {address: 0x00040000, size: 0x100}
    initial_image: {version: "1.0.0", size: 1000}
    dids:
      F18C: "SN-0001"
      F190: {hex: "5756"}
      "0100": {ascii: "cal", writable: true}
    security_levels: [1, 3]
    programming_level: 3
    security_attempts: 2
    max_block_length: 0x102
    timing: {erase_time_ms: 120, reset_time_ms: 600, s3_timeout_ms: 2000, security_delay_ms: 300, p2_star_ms: 100}
YAML
STATE="$WORK/state"
ascii_hex() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
ADDR=00010000

sim_console_start "$WORK/sim.yaml" "$STATE" ecu1
expect "initial version" 22f189 "62f189$(ascii_hex 1.0.0)"
expect "two DIDs" 22f18cf190 "62f18c$(ascii_hex SN-0001)f1905756"
expect "unknown DID" 22f1aa 7f2231
expect "odd-length 22" 22f1 7f2213
expect "unknown service" 2300 7f2311
expect "27 in default" 2701 7f277f
expect "34 in default" 3400441234567800000010 7f347f
expect "10 02 from default" 1002 7f1022
expect "bad session" 1005 7f1012
expect "tester present" 3e00 7e00
expect "suppressed tester present" 3e80 -
expect "extended" 1003 "50030032000a"
expect "session DID" 22f186 62f18603
expect "key before seed" 2704 7f2724
expect "unknown level" 2705 7f2712
uds 2703; [[ $R == 6703???????? ]] && ok || fail "seed $R"
expect "invalid key" 270400000000 7f2735
uds 2703
expect "second invalid key locks" 270400000000 7f2736
expect "delay running" 2703 7f2737
sim_sleep_ms 350
unlock 03
expect "unlocked: zero seed" 2703 670300000000
expect "write DID" 2e0100414243 6e0100
expect "read written DID" 22f1860100 "62f18603010041424""3"
expect "write read-only DID" 2ef18c41 7f2e31
expect "comm control" 280301 6803
expect "comm control length" 2803 7f2813
expect "dtc off" 8502 c502
expect "dtc info" 19020f 5902ff
sim_sleep_ms 2100
expect "S3 back to default" 22f186 62f18601
expect "after S3 27 refused" 2701 7f277f

# Programming
expect "extended" 1003 "5003*"
expect "programming" 1002 "5002*"
expect "erase without security" 3101ff00 7f3133
unlock 01
expect "erase with the wrong level" 3101ff00 7f3133
unlock 03
expect "download before erase" "340044${ADDR}00000100" 7f3470
expect "erase out of range" 3101ff004400020000ffffffff 7f3131
expect "erase bad option length" 3101ff004400010000 7f3113
expect "erase" "3101ff0044${ADDR}00010000" 7101ff0000
((PENDING_COUNT >= 2)) && ok || fail "erase sent $PENDING_COUNT 0x78 pendings (want >= 2 at P2*/2 = 50 ms over 120 ms)"
expect "F189 after erase" 22f189 "62f189$(ascii_hex BOOT)"
expect "check on erased flash" 3101ff01 7f3172
expect "36 without 34" 360100 7f3624
expect "37 without 34" 37 7f3724
expect "download past the region" "340044${ADDR}00010001" 7f3431
expect "download with compression" "341144${ADDR}00000100" 7f3431
expect "download bad length" "340044${ADDR}0000" 7f3413

"$SIM" mkimage --version 2.0.0-rc1 --size 2000 --seed 7 -o "$WORK/img2.bin"
IMG_HEX=$(file_hex "$WORK/img2.bin")
IMG_SIZE=$(stat -c %s "$WORK/img2.bin")
expect "request download" "340044${ADDR}$(printf '%08x' "$IMG_SIZE")" 74200102
expect "download twice" "340044${ADDR}00000010" 7f3422
expect "wrong first counter" "3602${IMG_HEX:0:20}" 7f3673
expect "block too long" "3601${IMG_HEX:0:516}" 7f3613
expect "empty block" 3601 7f3613
expect "block 1" "3601${IMG_HEX:0:512}" 7601
expect "repeated block 1 (different data, not written)" "3601$(printf '00%.0s' {1..256})" 7601
expect "skipped counter" "3603${IMG_HEX:512:512}" 7f3673
off=512; counter=2
while ((off < IMG_SIZE * 2)); do
  c=$(printf '%02x' $counter)
  expect "block $counter" "36$c${IMG_HEX:off:512}" "76$c"
  off=$((off + 512)); counter=$((counter + 1))
done
expect "too much data" "36$(printf '%02x' $counter)00" 7f3671
expect "transfer exit" 37 77
expect "check" 3101ff01 7101ff0100
expect "check results" 3103ff01 7103ff0100
expect "version after check" 22f189 "62f189$(ascii_hex 2.0.0-rc1)"
expect "reset" 1101 5101
expect "silent while rebooting" 3e00 -
sim_sleep_ms 700
expect "default after reset" 22f186 62f18601
sim_console_stop
"$SIM" dump --state "$STATE" --ecu ecu1 --image -o "$WORK/dump.bin"
cmp "$WORK/img2.bin" "$WORK/dump.bin" && ok || fail "dump --image differs from the flashed image"
"$SIM" dump --state "$STATE" --ecu ecu1 -o "$WORK/dump-all.bin"
[[ $(stat -c %s "$WORK/dump-all.bin") -eq 65536 ]] && ok || fail "dump of the whole region has the wrong size"
"$SIM" dump --state "$STATE" --ecu ecu1 --address 0x40000 -o "$WORK/dump-r2.bin"
[[ $(stat -c %s "$WORK/dump-r2.bin") -eq 256 ]] && ok || fail "dump --address of region 2 has the wrong size"

# The state survives a restart; upload reads the image back.
sim_console_start "$WORK/sim.yaml" "$STATE" ecu1
expect "version after restart" 22f189 "62f189$(ascii_hex 2.0.0-rc1)"
expect "extended" 1003 "5003*"
expect "upload without security" "350044${ADDR}00000040" 7f3533
unlock 03
expect "request upload" "350044${ADDR}$(printf '%08x' "$IMG_SIZE")" 75200102
got=""
for c in $(seq 1 9); do
  uds "36$(printf '%02x' $c)"
  [[ $R == 76$(printf '%02x' $c)* ]] || { fail "upload block $c -> ${R:0:10}"; break; }
  if [[ $c -eq 2 ]]; then
    again=$R; uds 3602; [[ $R == "$again" ]] && ok || fail "repeated upload block differs"
  fi
  got+=${R:4}
done
[[ $got == "$IMG_HEX" ]] && ok || fail "uploaded bytes differ from the image"
expect "upload exhausted" 360a 7f3624
expect "upload exit" 37 77
sim_console_stop

# Power loss at block 3: boot mode until a complete flash passes the check.
sim_console_start "$WORK/sim.yaml" "$STATE" ecu1 --fault ecu1:power_loss:block=3
expect "extended" 1003 "5003*"
expect "programming" 1002 "5002*"
unlock 03
expect "erase" 3101ff00 7101ff0000
download "$WORK/img2.bin" "$ADDR"
[[ $DL_RESULT == "block 3 -> drop" ]] && ok || fail "power loss: $DL_RESULT"
expect "silent after power loss" 22f189 -
sim_sleep_ms 700
expect "boot marker" 22f189 "62f189$(ascii_hex BOOT)"
expect "programming straight from default in boot mode" 1002 "5002*"
unlock 03
expect "upload refused in boot mode" "350044${ADDR}00000040" 7f3522
expect "erase" 3101ff00 7101ff0000
download "$WORK/img2.bin" "$ADDR"
[[ $DL_RESULT == ok ]] && ok || fail "flash after power loss: $DL_RESULT"
expect "check" 3101ff01 7101ff0100
expect "recovered" 22f189 "62f189$(ascii_hex 2.0.0-rc1)"
sim_console_stop

# nrc at a block (once), wrong checksum (once), silence after a block.
sim_console_start "$WORK/sim.yaml" "$STATE" ecu1 --fault ecu1:nrc:0x36:0x72:block=2 --fault ecu1:wrong_checksum \
  --fault ecu1:silence:block=4:ms=300:once
expect "extended" 1003 "5003*"
expect "programming" 1002 "5002*"
unlock 03
expect "erase" 3101ff00 7101ff0000
download "$WORK/img2.bin" "$ADDR"
[[ $DL_RESULT == "block 2 -> 7f3672" ]] && ok || fail "nrc fault: $DL_RESULT"
download "$WORK/img2.bin" "$ADDR"
[[ $DL_RESULT == "block 5 -> -" && $DL_BLOCKS -eq 4 ]] && ok || fail "silence fault: $DL_RESULT after $DL_BLOCKS blocks"
sim_sleep_ms 350
expect "back in default after silence" 22f186 62f18601
expect "extended" 1003 "5003*"
expect "programming" 1002 "5002*"
unlock 03
expect "erase" 3101ff00 7101ff0000
download "$WORK/img2.bin" "$ADDR"
[[ $DL_RESULT == ok ]] && ok || fail "download after faults: $DL_RESULT"
expect "wrong checksum fault" 3101ff01 7f3172
expect "still boot" 22f189 "62f189$(ascii_hex BOOT)"
expect "check again (fault was once)" 3101ff01 7101ff0100
sim_console_stop

# Usage errors
rc=0
"$SIM" console --config "$WORK/sim.yaml" --state "$STATE" --ecu nope </dev/null 2>/dev/null || rc=$?
[[ $rc -eq 2 ]] && ok || fail "unknown ECU exit $rc (want 2)"
rc=0
"$SIM" console --config "$WORK/sim.yaml" --state "$STATE" --ecu ecu1 --fault ecu1:bogus </dev/null 2>/dev/null || rc=$?
[[ $rc -eq 2 ]] && ok || fail "bad fault exit $rc (want 2)"
finish
