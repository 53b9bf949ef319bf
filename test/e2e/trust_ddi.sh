#!/usr/bin/env bash
# The attack matrix (Uptane's list) over DDI, with `trust:` configured. Signature rows run against
# ecuup-server, which signs or serves uploaded statements as extra artifacts of the module (the
# convention of ecuup-config(5)); protocol rows run against a scripted hostile DDI server
# (test/support/ddi_fixture.py). Each ends in a clear error naming its rule, the right exit code,
# no task recorded, a manifest ecuup reads back, and the ECU untouched.
source "$ECUUP_SRC/test/support/testlib.sh"
source "$ECUUP_SRC/test/support/trustlib.sh"
source "$ECUUP_SRC/test/support/ddi_server.sh"
K=$T/keys
make_ca "$K" oem
make_ca "$K" rogue
srv_start --sign-cert "$K/oem.pem" --sign-key "$K/oem.key" || exit 1
ddi_bench
mkdir -p "$B/keys" && cp "$K/oem-ca.pem" "$B/keys/ca.pem"
trust_bench_config || exit 1
sed -i "s|^server:$|server:\n  low_speed_timeout_s: 2\n  max_attempts: 1|" "$ECUUP_CONFIG"
img=$ECUUP_SRC/examples/bench/repository/bms-1.1.0.img
before=$(bms_flash)
n=0
# offer VERSION [upload options...]: bms VERSION on the server (bms-1.1.0.img as its software),
# assigned to the vehicle.
offer() {
  local version=$1
  shift
  srv_admin upload --part bms --version "$version" --filename "bms-$version.img" "$img" "$@" >/dev/null || echo "offer: upload failed" >&2
  srv_admin assign --part bms --version "$version" --vehicle bench-vehicle-1 >/dev/null || echo "offer: assign failed" >&2
}
# statement VERSION HW SV EXPIRES SIGNER [PART] [EXTRA_ARTIFACT]: $T/s/bms-VERSION.release.json + .p7s
statement() {
  mkdir -p "$T/s"
  local out="$T/s/bms-$1.release.json" files=("$img=bms-$1.img")
  [ -n "${7:-}" ] && files+=("$7")
  write_statement "$out" "${6:-bms}" "$1" "$2" "$3" "$4" "${files[@]}"
  sign_statement "$out" "$K/$5.pem" "$K/$5.key"
  echo "$out"
}

expect 0 "inventory" "$ecuup" inventory --ecu bms --progress=none
offer 1.1.1
refused_by "rule 'signature'" "arbitrary software (unsigned)"
s=$(statement 1.1.2 BMS-HW-A 1 "$(utc_in_days 30)" rogue)
offer 1.1.2 --statement "$s" --signature "$s.p7s"
refused_by "rule 'signature'" "arbitrary software (signed by an unknown key)"
s=$(statement 1.1.3 BMS-HW-A 1 "$(utc_in_days -1)" oem)
offer 1.1.3 --statement "$s" --signature "$s.p7s"
refused_by "rule 'expiry'" "freeze (expired metadata)"
# (ecuup-server itself refuses to serve another part's statement or one of other artifacts: those
# rows run against the hostile server below.)
offer 1.1.5 --hardware GW-HW-9 --security-version 1
refused_by "rule 'hardware'" "mix-and-match (signed for another hardware)"
# The server's signing key leaked and was revoked: its CA's CRL in the vehicle's keyring refuses
# what the server signs with it, however well formed.
offer 1.1.6 --hardware BMS-HW-A --security-version 1
make_crl "$K" oem "$T/oem.crl" "$K/oem.pem"
cat "$K/oem-ca.pem" "$T/oem.crl" >"$B/keys/ca.pem"
refused_by "certificate revoked" "the server's signing key, revoked"
cp "$K/oem-ca.pem" "$B/keys/ca.pem"

# The server-signed release goes all the way and records its security version.
srv_admin upload --part bms --version 1.1.0 --hardware BMS-HW-A --security-version 5 "$img" >/dev/null
srv_admin assign --part bms --version 1.1.0 --vehicle bench-vehicle-1 >/dev/null
expect 0 "a release the server signed: report" "$ecuup" report --ecu bms --progress=none
expect 0 "fetch" "$ecuup" fetch --ecu bms --progress=none
expect 0 "backup --read" "$ecuup" backup --read --ecu bms --progress=none
expect 0 "flash" "$ecuup" flash --ecu bms --progress=none
expect 0 "backup" "$ecuup" backup --ecu bms --progress=none
check "bms runs 1.1.0" test "$(image_version "$B/ecus/bms.flash")" = 1.1.0
check "security version 5 is recorded" grep -q "^    security_version: 5" "$B/state/manifest.yaml"
before=$(bms_flash)
offer 1.2.0 --hardware BMS-HW-A --security-version 4
expect 4 "rollback (signed, older security version): report refuses" "$ecuup" report --ecu bms --progress=none
check "rollback: names rule 'security version'" err_has "rule 'security version'"
check "rollback: the manifest reads back" manifest_readable
check "rollback: the ECU is untouched" test "$(bms_flash)" = "$before"
srv_stop

# Protocol rows: a hostile DDI server.
start_drip_server
drip=$DRIP_URL

# hostile NAME VERSION HREF SIZE SHA256 [SHA1] [BODY]: a fixture serving one deployment for bms.
hostile() {
  local name=$1
  python3 - "$T/$name.json" "$@" <<'PY'
import hashlib, json, sys
out, name, version, href, size, sha256 = sys.argv[1:7]
sha1 = sys.argv[7] if len(sys.argv) > 7 else ""
body = sys.argv[8] if len(sys.argv) > 8 else ""
extra = sys.argv[9:]
hashes = {}
if sha256: hashes["sha256"] = sha256
if sha1: hashes["sha1"] = sha1
arts = [{"filename": "bms.img", "size": int(size), "hashes": hashes, "_links": {"download-http": {"href": href}}}]
served = {"bms.img": body}
for path in extra:
    data = open(path).read()
    fname = path.rsplit("/", 1)[1].replace(name + ".", "bms.", 1)
    served[fname] = data
    arts.append({"filename": fname, "size": len(data.encode()),
                 "hashes": {"sha256": hashlib.sha256(data.encode()).hexdigest()},
                 "_links": {"download-http": {"href": "{server}/artifacts/" + fname}}})
dep = {"id": "7", "deployment": {"download": "forced", "update": "forced",
       "chunks": [{"part": "bms", "version": version, "name": "bms", "artifacts": arts}]}}
sc = {"controller": "bench-vehicle-1",
      "base": {"config": {"polling": {"sleep": "00:05:00"}}, "_links": {"deploymentBase": {"href": "{base}/deploymentBase/7"}}},
      "deployments": {"7": dep}, "artifacts": served}
json.dump(sc, open(out, "w"))
PY
  [ -n "${FIX_PID:-}" ] && { kill "$FIX_PID" 2>/dev/null; wait "$FIX_PID" 2>/dev/null; }
  python3 "$ECUUP_SRC/test/support/ddi_fixture.py" --scenario "$T/$name.json" --log "$T/$name.log" >"$T/fix.out" 2>"$T/fix.err" &
  FIX_PID=$!
  bg_pids+=("$FIX_PID")
  local port=
  for _ in $(seq 100); do port=$(sed -n 's/^PORT //p' "$T/fix.out"); [ -n "$port" ] && break; sleep 0.05; done
  sed -i "s|^  url: .*|  url: http://127.0.0.1:$port|" "$ECUUP_CONFIG"
  FIX_URL=http://127.0.0.1:$port
}
host=$(cat /etc/hostname 2>/dev/null || echo x)
hsha=$(sha256sum /etc/hostname 2>/dev/null | cut -d' ' -f1)
hostile file 1.3.0 "file:///etc/hostname" "${#host}" "${hsha:-$(printf %064d 0)}"
refused_by "only http and https" "a file:// href"
hostile ftp 1.3.0 "ftp://127.0.0.1/bms.img" 10 "$(printf %064d 0)"
refused_by "only http and https" "an ftp:// href"
hostile empty "" "$drip/x" 10 "$(printf %064d 0)"
refused_by "the version is empty" "an empty version"
hostile sha1 1.3.0 "$drip/x" 10 "" "$(printf %040d 0)"
refused_by "rule 'sha256'" "a sha1-only artifact"

# signed_hostile NAME PART [EXTRA]: the fixture offers bms 1.3.0 with a statement (PEM signature)
# signed by the OEM, for PART, listing EXTRA besides the software when given.
signed_hostile() {
  local name=$1 part=$2 extra=${3:-}
  printf 'firmware-%s' "$name" >"$T/$name.bin"
  local files=("$T/$name.bin=bms.img")
  [ -n "$extra" ] && files+=("$extra")
  write_statement "$T/$name.release.json" "$part" 1.3.0 BMS-HW-A 5 "$(utc_in_days 30)" "${files[@]}"
  openssl cms -sign -binary -in "$T/$name.release.json" -signer "$K/oem.pem" -inkey "$K/oem.key" -outform PEM \
    -out "$T/$name.release.json.p7s" 2>/dev/null
  hostile "$name" 1.3.0 "{server}/artifacts/bms.img" "$(stat -c %s "$T/$name.bin")" \
    "$(sha256sum "$T/$name.bin" | cut -d' ' -f1)" "" "$(cat "$T/$name.bin")" \
    "$T/$name.release.json" "$T/$name.release.json.p7s"
}
signed_hostile mix gateway
refused_by "rule 'part'" "mix-and-match (another part's signature)"
cp "$ECUUP_SRC/examples/bench/repository/body-0.9.0.img" "$T/extra.img"
signed_hostile partial bms "$T/extra.img"
refused_by "partial bundle" "a partial bundle"

# Without trust, the protocol rules still hold: drop the keyring for the download rows.
sed -i '/^trust:/,/^$/d' "$ECUUP_CONFIG"
body=$(head -c 3000 /dev/zero | tr '\0' 'e')
first=$(printf '%s' "${body:0:1000}" | sha256sum | cut -d' ' -f1)
hostile endless 1.3.0 "{server}/artifacts/bms.img" 1000 "$first" "" "$body"
expect 0 "endless data: report" "$ecuup" report --ecu bms --progress=none
expect 4 "endless data: fetch cuts it off and refuses" "$ecuup" fetch --ecu bms --progress=none
check "endless data: says so" err_has "cut off"
check "endless data: nothing verified" bash -c "! grep -q 'verified: true' '$B/state/manifest.yaml'"
check "endless data: the manifest reads back" manifest_readable
hostile slow 1.3.1 "$drip/slow" 1000000 "$(printf %064d 0)"
expect 0 "slow retrieval: report" "$ecuup" report --ecu bms --progress=none
start=$(date +%s)
expect 3 "slow retrieval: dropped by the low-speed limit" "$ecuup" fetch --ecu bms --progress=none
check "slow retrieval: given up within seconds" test $(( $(date +%s) - start )) -lt 30
hostile drop 1.3.2 "$drip/drop" 1000 "$(printf %064d 0)"
expect 0 "a dropped request: report" "$ecuup" report --ecu bms --progress=none
expect 3 "a dropped request: fetch says retry later" "$ecuup" fetch --ecu bms --progress=none
check "dropped: the manifest reads back" manifest_readable
check "the ECU still runs 1.1.0" test "$(bms_flash)" = "$before"
finish
