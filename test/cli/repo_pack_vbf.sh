#!/usr/bin/env bash
# CLI contract of `ecuup-repo pack vbf`: exit 2 for no arguments, unknown options, bad numbers, an
# SBL without --call, a raw image without --base and overlapping images; the happy path writes a
# VBF whose block CRC-16 and file CRC-32 a few lines of Python (independent of lib/) confirm.
source "$ECUUP_SRC/test/support/testlib.sh"
repo_bin="$ECUUP_BIN/ecuup-repo"
[ -x "$repo_bin" ] || { echo "skip: ecuup-repo not built"; exit 125; }

expect 2 "pack without a format" "$repo_bin" pack
expect 2 "pack vbf without arguments" "$repo_bin" pack vbf
expect 2 "pack vbf with an unknown option" "$repo_bin" pack vbf --no-such-option
check "errors say ecuup-repo: error:" err_has "^ecuup-repo: error:"
expect 0 "pack vbf --help" "$repo_bin" pack vbf --help
check "--help says compression method 1 is zlib" out_has "zlib"

head -c 3000 /dev/urandom >"$T/app.bin"
printf 'S00600004844521B\nS1130000000102030405060708090A0B0C0D0E0F74\nS9030000FC\n' >"$T/sbl.s19"
common=(--part-number 32000002 --ecu-address 0x7E0)
expect 2 "a raw image without --base" "$repo_bin" pack vbf --out "$T/a.vbf" "${common[@]}" "$T/app.bin"
check "says --base" err_has "base"
expect 2 "a bad number" "$repo_bin" pack vbf --out "$T/a.vbf" "${common[@]}" --base 0xZZ "$T/app.bin"
expect 2 "an erase range without a length" "$repo_bin" pack vbf --out "$T/a.vbf" "${common[@]}" --base 0 --erase 0x1000 "$T/app.bin"
expect 2 "an SBL without --call" "$repo_bin" pack vbf --out "$T/s.vbf" --type sbl "${common[@]}" "$T/sbl.s19"
expect 2 "overlapping images" "$repo_bin" pack vbf --out "$T/a.vbf" "${common[@]}" --base 0x8 "$T/sbl.s19" "$T/app.bin"
check "nothing was written" test ! -e "$T/a.vbf"
expect 1 "an image that does not exist" "$repo_bin" pack vbf --out "$T/a.vbf" "${common[@]}" "$T/missing.hex"

expect 0 "an SBL" "$repo_bin" pack vbf --out "$T/s.vbf" --type sbl --call 0x0 "${common[@]}" --vbf-version 3.0 "$T/sbl.s19"
check "prints the blocks and the checksum" out_has "1 block(s), 16 bytes of memory, file_checksum 0x"
expect 0 "an application, zlib-compressed" "$repo_bin" pack vbf --out "$T/a.vbf" "${common[@]}" --version AB \
  --erase 0x20000:0x10000 --data-format 0x10 --base 0x20000 "$T/app.bin"
check "the files' CRCs are right (checked in Python)" python3 - "$T/s.vbf" "$T/a.vbf" <<'PY'
import re, struct, sys, zlib
def crc16(data):
    crc = 0xFFFF
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc
for path in sys.argv[1:]:
    raw = open(path, "rb").read()
    end = raw.index(b"\r\n}") + 3
    header, binary = raw[:end].decode(), raw[end:]
    assert int(re.search(r"file_checksum = 0x([0-9A-F]{8});", header).group(1), 16) == zlib.crc32(binary), path
    pos = 0
    while pos < len(binary):
        address, length = struct.unpack(">II", binary[pos:pos + 8])
        data = binary[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">H", binary[pos + 8 + length:pos + 10 + length])
        if "data_format_identifier = 0x10" in header:
            data = zlib.decompress(data)
        assert crc == crc16(data), (path, hex(address))
        pos += 10 + length
    assert pos == len(binary)
PY
check "the SBL's header names its type, call and version" bash -c \
  "grep -aq '^vbf_version = 3.0;' '$T/s.vbf' && grep -aq 'sw_part_type = SBL;' '$T/s.vbf' && grep -aq 'call = 0x00000000;' '$T/s.vbf'"
check "the application's header has the erase range" grep -aq '{ 0x00020000, 0x00010000 }' "$T/a.vbf"
finish
