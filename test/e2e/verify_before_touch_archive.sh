#!/usr/bin/env bash
# Issue 13, case 7: an archive that fails its own integrity check is refused at fetch, never
# unpacked and never recorded as verified. The bench's gateway release (a tar.gz with package.yaml
# and the image) is republished with one defect at a time: a gzip trailer whose CRC-32 or length is
# wrong, a zip entry failing its CRC-32, archives cut short. The artifact's sha256 and size match
# the release each time (the server hashed what it holds); fetch exits 4 all the same, status shows
# no verified download, nothing is unpacked, and the ECU's memory stays byte-identical.
source "$ECUUP_SRC/test/support/testlib.sh"
bench
"$ecuup" inventory --progress=none >/dev/null 2>&1 || { echo "bench inventory failed"; exit 1; }
mkdir -p "$T/pkg" && tar -xzf "$B/repository/gateway-2.4.0.tar.gz" -C "$T/pkg"
flash_before=$(sha256sum <"$B/ecus/gateway.flash")

# publish FILE: gateway 2.4.0's artifact becomes FILE; releases.yaml takes its sha256 and size.
publish() {
  cp "$1" "$B/repository/gateway-2.4.0.tar.gz"
  python3 - "$B/repository/releases.yaml" "$(sha256sum <"$1" | cut -d' ' -f1)" "$(stat -c %s "$1")" <<'PY'
import sys, yaml
path, sha, size = sys.argv[1:]
doc = yaml.safe_load(open(path))
doc['releases']['gateway'].update(sha256=sha, size=int(size))
open(path, 'w').write(yaml.safe_dump(doc))
PY
}
# make_archive KIND DEFECT OUT: the gateway package as KIND (tgz, tar, zip) with DEFECT.
make_archive() {
  python3 - "$1" "$2" "$3" "$T/pkg" <<'PY'
import io, os, sys, tarfile, zipfile, gzip
kind, defect, out, pkg = sys.argv[1:]
names = sorted(os.listdir(pkg))
buf = io.BytesIO()
if kind == "zip":
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for n in names:
            z.write(os.path.join(pkg, n), n)
else:
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for n in names:
            t.add(os.path.join(pkg, n), n)
data = bytearray(buf.getvalue())
if kind == "tar" and defect == "cut_at_entry":
    # Cut where the last entry's data ends: only the end-of-archive blocks are missing.
    data = data[:len(data.rstrip(b"\0")) + 511 & ~511]
if kind == "tgz":
    data = bytearray(gzip.compress(bytes(data), mtime=0))
if defect == "trailer_crc":
    data[-8] ^= 0xFF
elif defect == "trailer_isize":
    data[-1] ^= 0x01
elif defect == "entry_crc":
    image = open(os.path.join(pkg, "gateway-2.4.0.img"), "rb").read()
    data[data.find(image[4000:4064]) + 10] ^= 0xFF
elif defect == "cut_half":
    data = data[:len(data) // 2]
elif defect == "cut_central_directory":
    data = data[:data.rfind(b"PK\x01\x02") + 20]
open(out, "wb").write(data)
PY
}

for c in tgz:trailer_crc tgz:trailer_isize tgz:cut_half zip:entry_crc zip:cut_half zip:cut_central_directory \
         tar:cut_at_entry tar:cut_half; do
  kind=${c%%:*} defect=${c#*:}
  make_archive "$kind" "$defect" "$T/artifact"
  publish "$T/artifact"
  "$ecuup" report --progress=none >/dev/null 2>&1
  expect 4 "$kind with $defect: fetch refuses it" "$ecuup" fetch --ecu gateway --progress=none
  expect 10 "$kind with $defect: status" "$ecuup" status --json --ecu gateway
  check "$kind with $defect: no verified download" \
    test "$(json_get "$T/out" '[e["verified"] for e in j["ecus"] if e["name"] == "gateway"][0]')" = False
  check "$kind with $defect: nothing unpacked" bash -c "! ls -d '$B'/state/downloads/*.d 2>/dev/null | grep -q ."
  check "$kind with $defect: the gateway's memory is untouched" test "$(sha256sum <"$B/ecus/gateway.flash")" = "$flash_before"
done

# flash has nothing verified to program: it refuses, and the ECU stays as it was.
"$ecuup" backup --read --ecu gateway --progress=none >/dev/null 2>&1
flash_before=$(sha256sum <"$B/ecus/gateway.flash")
"$ecuup" flash --ecu gateway --progress=none >"$T/out" 2>"$T/err"
rc=$?
check "flash refuses without a verified download (exit $rc, not 0, 5 or 6)" test "$rc" -ne 0 -a "$rc" -ne 5 -a "$rc" -ne 6
check "flash left the gateway's memory untouched" test "$(sha256sum <"$B/ecus/gateway.flash")" = "$flash_before"

# The same package, sound, in each form: fetched and verified.
for kind in tgz tar zip; do
  make_archive "$kind" none "$T/artifact"
  publish "$T/artifact"
  "$ecuup" report --progress=none >/dev/null 2>&1
  expect 0 "a sound $kind is fetched" "$ecuup" fetch --ecu gateway --progress=none
  check "and verified" out_has "gateway .*downloaded .*sha256 verified"
done
finish
