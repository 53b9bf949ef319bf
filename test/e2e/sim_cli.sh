#!/usr/bin/env bash
# ecuup-sim's small subcommands and its command-line contract: key (the documented toy algorithm),
# mkimage (the ECUUPIMG header: magic, version, length, CRC-32), dump errors, --help texts, exit codes.
source "$(dirname "$0")/sim_lib.bash"

# key[i] = ((seed[i] XOR 0x5A) + level + i) mod 256
[[ $("$SIM" key 1 01020304) == 5c5a5c62 ]] && ok || fail "key 1 01020304 = $("$SIM" key 1 01020304)"
[[ $("$SIM" key 0x11 ffffffff) == b6b7b8b9 ]] && ok || fail "key 0x11 ffffffff = $("$SIM" key 0x11 ffffffff)"
rc=0; "$SIM" key 1 0g 2>/dev/null || rc=$?; [[ $rc -eq 2 ]] && ok || fail "key with a bad seed: exit $rc"
rc=0; "$SIM" key 2>/dev/null || rc=$?; [[ $rc -eq 2 ]] && ok || fail "key without arguments: exit $rc"

"$SIM" mkimage --version 3.1.4-beta --size 5000 --seed 9 -o "$WORK/a.img"
"$SIM" mkimage --version 3.1.4-beta --size 5000 --seed 9 -o "$WORK/b.img"
cmp -s "$WORK/a.img" "$WORK/b.img" && ok || fail "mkimage is not reproducible for one seed"
"$SIM" mkimage --version 3.1.4-beta --size 5000 --seed 10 -o "$WORK/c.img"
cmp -s "$WORK/a.img" "$WORK/c.img" && fail "different seeds gave the same payload" || ok
if command -v python3 >/dev/null; then
  python3 - "$WORK/a.img" <<'PY' && ok || fail "mkimage header is wrong"
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
magic, version, length, crc, reserved = struct.unpack(">8s32sII16s", data[:64])
assert magic == b"ECUUPIMG", magic
assert version.rstrip(b"\0") == b"3.1.4-beta", version
assert length == 5000 == len(data) - 64, length
assert crc == zlib.crc32(data[64:]) & 0xFFFFFFFF
assert reserved == bytes(16)
PY
fi
printf 'hello' >"$WORK/payload"
"$SIM" mkimage --version 1 --payload "$WORK/payload" -o "$WORK/p.img"
[[ $(tail -c 5 "$WORK/p.img") == hello && $(stat -c %s "$WORK/p.img") -eq 69 ]] && ok || fail "mkimage --payload"
rc=0; "$SIM" mkimage --version 1 --size 5 --payload "$WORK/payload" -o "$WORK/x" 2>/dev/null || rc=$?
[[ $rc -eq 2 ]] && ok || fail "mkimage with --size and --payload: exit $rc"
rc=0; "$SIM" mkimage --version 1 -o "$WORK/x" 2>/dev/null || rc=$?
[[ $rc -eq 2 ]] && ok || fail "mkimage without a payload: exit $rc"
rc=0; "$SIM" mkimage --version 123456789012345678901234567890123 --size 1 -o "$WORK/x" 2>/dev/null || rc=$?
[[ $rc -eq 2 ]] && ok || fail "mkimage with a 33-character version: exit $rc"

rc=0; "$SIM" dump --state "$WORK/none" --ecu x -o "$WORK/d" 2>"$WORK/err" || rc=$?
[[ $rc -ne 0 && $rc -ne 2 ]] && grep -q 'no flash state' "$WORK/err" && ok || fail "dump of a missing ECU: exit $rc $(cat "$WORK/err")"

"$SIM" run --help >"$WORK/help"
for word in request_id response_id max_block_length initial_image power_loss wrong_checksum slow_erase once always \
            "0x5A" "ready doip_port"; do
  grep -q -- "$word" "$WORK/help" && ok || fail "run --help does not mention $word"
done
"$SIM" key --help | grep -q 0x5A && ok || fail "key --help does not document the algorithm"
rc=0; "$SIM" 2>/dev/null || rc=$?; [[ $rc -eq 2 ]] && ok || fail "no subcommand: exit $rc"
rc=0; "$SIM" run --config 2>/dev/null || rc=$?; [[ $rc -eq 2 ]] && ok || fail "run --config without a value: exit $rc"
rc=0; "$SIM" run --config "$WORK/missing.yaml" 2>/dev/null || rc=$?; [[ $rc -eq 2 ]] && ok || fail "missing config: exit $rc"
"$SIM" --version | grep -q '^ecuup-sim ' && ok || fail "--version"

# Config validation names file:line:col.
bad() {  # bad NAME YAML PATTERN
  printf '%s\n' "$2" >"$WORK/$1.yaml"
  local rc=0
  "$SIM" run --config "$WORK/$1.yaml" --state "$WORK/st" 2>"$WORK/$1.err" || rc=$?
  if [[ $rc -eq 2 ]] && grep -qE "$3" "$WORK/$1.err"; then ok; else fail "$1: exit $rc, $(cat "$WORK/$1.err")"; fi
}
bad noecus 'bus: udp:1:2' 'noecus.yaml:1:1: .*ecus'
bad noaddr $'ecus:\n  - name: a' "noaddr.yaml:2:5: .*doip_address and/or can"
bad dup $'ecus:\n  - {name: a, doip_address: 1}\n  - {name: a, doip_address: 2}' 'dup.yaml:3:5: duplicate'
bad even $'ecus:\n  - {name: a, doip_address: 1, security_levels: [2]}' 'even.yaml:2:.*odd'
bad f189 $'ecus:\n  - name: a\n    doip_address: 1\n    dids: {F189: "x"}' 'f189.yaml:4:.*F189'
bad overlap $'ecus:\n  - name: a\n    doip_address: 1\n    memory: [{address: 0, size: 16}, {address: 8, size: 16}]' 'overlap.yaml:4:.*overlap'
bad fault $'ecus:\n  - {name: a, doip_address: 1, faults: ["boom"]}' "fault.yaml:2:.*unknown kind"
bad nobus $'ecus:\n  - {name: a, can: {request_id: 1, response_id: 2}}' "need 'bus:'"
bad canid $'ecus:\n  - {name: a, can: {request_id: 0x800, response_id: 2}}' 'canid.yaml:2:.*too large'
finish
