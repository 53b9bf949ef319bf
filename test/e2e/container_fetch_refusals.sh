#!/usr/bin/env bash
# Corrupt OEM containers are refused at `fetch` with exit 4, before any ECU is touched: a VBF
# block whose CRC-16 is wrong (with a file checksum that matches, so the block check is what
# refuses), a VBF whose file checksum is wrong, a PDX with malformed XML, a PDX whose data file is
# missing, a VBF block outside the ECU's memory.ranges. Each leaves a readable manifest, no
# verified download, and a next fetch of a good release that converges.
source "$(dirname "$0")/sim_lib.bash"
need_ecuup_uds
sim_bench_dirs
REPO_TOOL="$ECUUP_BIN/ecuup-repo"
cat >"$WORK/sim.yaml" <<'YAML'
doip: {port: 0}
ecus:
  - name: ecm
    doip_address: 0x0070
    memory: [{address: 0x00000000, size: 0x20000}]
    initial_image: {version: "1.0.0", size: 4000}
YAML
sim_run_start "$WORK/sim.yaml" "$STATE" --bus "$BUS_SIM" || exit 1
{ bench_config sim-refusals
  cat <<YAML
  - name: ecm
    driver: uds
    uds:
      transport: doip
      doip: {port: $DOIP_PORT, ecu_address: 0x0070}
      security: {level: 1, key_command: "$SIM key {level} {seed}"}
      memory: {ranges: [{address: 0x0, size: 0x20000}]}
YAML
} >"$BENCH/ecuup.yaml"
"$SIM" mkimage --version 2.0.0 --size 8000 --seed 50 -o "$WORK/app.img"
vbf() {  # OUT BASE
  "$REPO_TOOL" pack vbf --out "$1" --part-number APP-1 --version 2.0.0 --base "$2" --ecu-address 0x70 "$WORK/app.img" >/dev/null
}
# vbf_edit IN OUT MODE: block = flip a data byte and fix the file checksum; checksum = only the checksum.
vbf_edit() {
  python3 - "$@" <<'PY'
import re, sys, zlib
data = bytearray(open(sys.argv[1], "rb").read())
end = data.index(b"}", data.index(b"header")) + 1   # the binary part starts after the header's brace
if sys.argv[3] == "block":
    data[end + 8 + 100] ^= 0xFF
    crc = zlib.crc32(bytes(data[end:]))
else:
    crc = (int(re.search(rb"file_checksum\s*=\s*0x([0-9A-Fa-f]{8})", bytes(data[:end])).group(1), 16) ^ 1)
head = re.sub(rb"file_checksum\s*=\s*0x[0-9A-Fa-f]{8}", b"file_checksum = 0x%08X" % crc, bytes(data[:end]))
open(sys.argv[2], "wb").write(head + bytes(data[end:]))
PY
}
# pdx_edit IN OUT MODE: xml = cut an element's closing tag; missing = drop the data file from the zip.
pdx_edit() {
  python3 - "$@" <<'PY'
import sys, zipfile
src, out, mode = sys.argv[1:4]
with zipfile.ZipFile(src) as z, zipfile.ZipFile(out, "w") as w:
    for info in z.infolist():
        body = z.read(info.filename)
        name = info.filename.lower()
        if mode == "xml" and name.endswith((".odx-f", ".odx")):
            body = body.replace(b"</SESSIONS>", b"", 1)
        if mode == "missing" and not name.endswith((".xml", ".odx-f", ".odx")):
            continue
        w.writestr(info, body)
PY
}
vbf "$WORK/good.vbf" 0x0
vbf_edit "$WORK/good.vbf" "$WORK/bad-block.vbf" block
vbf_edit "$WORK/good.vbf" "$WORK/bad-checksum.vbf" checksum
vbf "$WORK/outside.vbf" 0x30000
"$REPO_TOOL" pack pdx --out "$WORK/good.pdx" --ecu ecm --version 2.0.0 --extern --block code:"$WORK/app.img@0x0" >/dev/null
pdx_edit "$WORK/good.pdx" "$WORK/bad-xml.pdx" xml
pdx_edit "$WORK/good.pdx" "$WORK/missing.pdx" missing

ecuup_run 0 inventory
publish() { rm -rf "$BENCH/repository"; add_release "$BENCH/repository" ecm 2.0.0 "$1"; ecuup_run 0 report; }
refused() {  # FILE PATTERN
  publish "$1"
  ecuup_run 4 fetch
  grep -qiE "$2" "$WORK/ecuup.err" && ok || fail "$(basename "$1"): want /$2/: $(cat "$WORK/ecuup.err")"
  ecuup_run 10 status --json
  python3 - "$WORK/ecuup.out" <<'PY' && ok || fail "$(basename "$1"): a download is marked verified"
import json, sys
ecm = json.load(open(sys.argv[1]))["ecus"][0]
download = (ecm.get("state") or {}).get("download")
sys.exit(1 if download and download.get("verified") else 0)
PY
}
refused "$WORK/bad-block.vbf" "CRC-16"
refused "$WORK/bad-checksum.vbf" "file.?checksum"
refused "$WORK/outside.vbf" "outside the ECU's memory"
refused "$WORK/bad-xml.pdx" "xml|parse"
refused "$WORK/missing.pdx" "missing|not found|not in the PDX"
[[ $(sim_version "$STATE" ecm) == 1.0.0 ]] && ok || fail "ecm runs $(sim_version "$STATE" ecm)"
# A good release converges.
publish "$WORK/good.vbf"
ecuup_run 0 fetch
publish "$WORK/good.pdx"
ecuup_run 0 fetch
sim_run_stop TERM
finish
