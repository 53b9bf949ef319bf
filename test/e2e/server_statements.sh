#!/usr/bin/env bash
# ecuup-server and signed release statements (ecuup-server(1) RELEASE STATEMENTS): with --sign-cert
# and --sign-key it writes and signs the statement of a module given statement facts, and serves
# statement and signature as two more artifacts of the module in deploymentBase (valid against
# hawkBit's DDI contract, with the right size, sha256 and sha1) that download like any other and
# verify with `openssl cms -verify`; facts given through `admin --data` while no key was there
# are signed when the server starts with one (RSA and EC keys, made here); a statement signed
# elsewhere is uploaded with its signature and served byte for byte, and one that does not match
# the module is refused.
source "${ECUUP_SRC:-.}/test/e2e/server_lib.bash"
command -v openssl >/dev/null || { echo "skip: no openssl"; exit 125; }
export ECUUP_SERVER_ADMIN_TOKEN=admin-secret
tok=statement-token-0123456789abcdef

# pki NAME ALGORITHM_ARGS: $T/NAME-ca.pem issues $T/NAME.pem (key $T/NAME.key); never committed.
pki() {
  local d=$T/$1
  shift
  openssl genpkey "$@" -out "$d-ca.key" 2>/dev/null
  openssl req -x509 -new -key "$d-ca.key" -subj "/CN=test-ca" -days 2 -out "$d-ca.pem" 2>/dev/null
  openssl genpkey "$@" -out "$d.key" 2>/dev/null
  openssl req -new -key "$d.key" -subj "/CN=test-signer" -out "$d.csr" 2>/dev/null
  openssl x509 -req -in "$d.csr" -CA "$d-ca.pem" -CAkey "$d-ca.key" -CAcreateserial -days 2 -out "$d.pem" 2>/dev/null
}
pki rsa -algorithm RSA -pkeyopt rsa_keygen_bits:2048
pki ec -algorithm EC -pkeyopt ec_paramgen_curve:P-256
pki oem -algorithm EC -pkeyopt ec_paramgen_curve:P-256
verify() { # STATEMENT SIGNATURE CA
  openssl cms -verify -binary -inform DER -content "$1" -in "$2" -CAfile "$3" -out /dev/null 2>"$T/verify.err"
}
ddi=/DEFAULT/controller/v1/V1
report() { # VERSIONS_JSON: report, then fetch the open action into $T/body (its href: $action)
  http PUT "$ddi/configData" "TargetToken $tok" "{\"data\":$1}"; expect 200 "report $1"
  http GET "$ddi" "TargetToken $tok"; expect 200 "poll"
  action=$(jget 'd["_links"]["deploymentBase"]["href"]')
  STATUS=$(curl -s -o "$T/body" -w '%{http_code}' -H "Authorization: TargetToken $tok" "$action")
  expect 200 "deploymentBase"; valid DdiDeploymentBase "deploymentBase"
}
installed() { # the vehicle installed the open action
  http POST "${action#"$URL"}/feedback" "TargetToken $tok" \
    '{"status":{"execution":"closed","result":{"finished":"success"}}}'
  expect 200 "feedback on $action"
}
# fetch_chunk PART DIR: download every artifact of PART's chunk in $T/body into DIR and check its
# size, sha256 and sha1 against what deploymentBase announced.
fetch_chunk() {
  local part=$1 dir=$2 name size sha256 sha1 href
  mkdir -p "$dir"
  cp "$T/body" "$T/deployment.json"
  while IFS=$'\t' read -r name size sha256 sha1 href; do
    STATUS=$(curl -s -o "$dir/$name" -w '%{http_code}' -H "Authorization: TargetToken $tok" "$href")
    expect 200 "download $name"
    [[ $(wc -c <"$dir/$name") == "$size" ]] || fail "$name: size differs from deploymentBase"
    [[ $(sha256sum "$dir/$name" | cut -d' ' -f1) == "$sha256" ]] || fail "$name: sha256 differs"
    [[ $(sha1sum "$dir/$name" | cut -d' ' -f1) == "$sha1" ]] || fail "$name: sha1 differs"
  done < <(python3 - "$T/deployment.json" "$part" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for c in d["deployment"]["chunks"]:
    if c["part"] == sys.argv[2]:
        for a in c["artifacts"]:
            print("\t".join([a["filename"], str(a["size"]), a["hashes"]["sha256"], a["hashes"]["sha1"],
                             a["_links"]["download"]["href"]]))
PY
  )
  cp "$T/deployment.json" "$T/body"
}
names() { jget "sorted(a['filename'] for c in d['deployment']['chunks'] if c['part'] == '$1' for a in c['artifacts'])"; }

# --- the server signs (RSA) ------------------------------------------------------------------
head -c 70000 /dev/urandom >"$T/bms.bin"
head -c 3000 /dev/urandom >"$T/bms-cal.bin"
admin vehicle add V1 --token "$tok" >/dev/null
start_server --sign-cert "$T/rsa.pem" --sign-key "$T/rsa.key"
"$SERVER" admin --url "$URL" upload --part bms --version 2.0.0 --hardware HW-A,HW-B --hardware HW-C \
  --security-version 5 --expires 2030-01-01T00:00:00Z "$T/bms.bin" >"$T/out"
grep -q "release statement signed: hardware HW-A, HW-B, HW-C; security version 5; expires 2030-01-01T00:00:00Z" \
  "$T/out" || fail "upload output: $(cat "$T/out")"
"$SERVER" admin --url "$URL" upload --part bms --version 2.0.0 "$T/bms-cal.bin" >/dev/null
admin assign --part bms --version 2.0.0 --vehicle V1 >/dev/null
report '{"ecu.bms.version":"1.0.0"}'
[[ $(names bms) == "['bms-2.0.0.release.json', 'bms-2.0.0.release.json.p7s', 'bms-cal.bin', 'bms.bin']" ]] \
  || fail "bms artifacts: $(names bms)"
fetch_chunk bms "$T/got-bms"
stmt=$T/got-bms/bms-2.0.0.release.json
sig=$T/got-bms/bms-2.0.0.release.json.p7s
verify "$stmt" "$sig" "$T/rsa-ca.pem" || fail "server's RSA signature does not verify: $(cat "$T/verify.err")"
openssl cms -cmsout -inform DER -in "$sig" -noout 2>/dev/null || fail "signature is not DER CMS"
python3 - "$stmt" "$T/bms.bin" "$T/bms-cal.bin" <<'PY' || fail "statement content: $(cat "$stmt")"
import hashlib, json, os, sys
s = json.load(open(sys.argv[1]))
assert s["part"] == "bms" and s["version"] == "2.0.0", s
assert s["hardware"] == ["HW-A", "HW-B", "HW-C"], s["hardware"]
assert s["security_version"] == 5 and s["expires"] == "2030-01-01T00:00:00Z", s
want = sorted((os.path.basename(p).replace("bms-cal", "bms-cal"), hashlib.sha256(open(p, "rb").read()).hexdigest(),
               os.path.getsize(p)) for p in sys.argv[2:])
got = sorted((a["name"], a["sha256"], a["size"]) for a in s["artifacts"])
assert got == want, (got, want)
PY
# A statement changed by one byte no longer verifies; neither does another CA.
{ cat "$stmt"; echo; } >"$T/tampered.json"
! verify "$T/tampered.json" "$sig" "$T/rsa-ca.pem" || fail "a tampered statement verified"
! verify "$stmt" "$sig" "$T/ec-ca.pem" || fail "the signature verified against another CA"
# The list of the module's artifacts names them too.
module=$(jget "[c for c in d['deployment']['chunks'] if c['part'] == 'bms'][0]['artifacts'][0]['_links']['download']['href'].split('/softwaremodules/')[1].split('/')[0]")
http GET "$ddi/softwaremodules/$module/artifacts" "TargetToken $tok"; expect 200 "artifact list"
[[ $(jget 'sorted(a["filename"] for a in d)') == "['bms-2.0.0.release.json', 'bms-2.0.0.release.json.p7s', 'bms-cal.bin', 'bms.bin']" ]] \
  || fail "artifact list: $(cat "$T/body")"
installed
stop_server TERM

# --- facts through admin --data, signed when the server starts with a key (EC) ----------------
head -c 4000 /dev/urandom >"$T/gw.bin"
admin upload --part gw --version 5.1 --hardware GW-1 "$T/gw.bin" >"$T/out"
grep -q "release statement pending" "$T/out" || fail "local upload without a key: $(cat "$T/out")"
admin --json list modules >"$T/body"
[[ $(jget '[m["statement"]["state"] for m in d if m["part"] == "gw"][0]') == pending ]] || fail "gw not pending"
start_server
grep -q "warning: 1 module(s) have release statement facts" "$T/server.err" || fail "no warning about pending statements"
stop_server TERM
start_server --sign-cert "$T/ec.pem" --sign-key "$T/ec.key"
admin assign --part gw --version 5.1 --vehicle V1 >/dev/null
report '{"ecu.bms.version":"2.0.0","ecu.gw.version":"5.0"}'
[[ $(names gw) == "['gw-5.1.release.json', 'gw-5.1.release.json.p7s', 'gw.bin']" ]] || fail "gw artifacts: $(names gw)"
fetch_chunk gw "$T/got-gw"
verify "$T/got-gw/gw-5.1.release.json" "$T/got-gw/gw-5.1.release.json.p7s" "$T/ec-ca.pem" \
  || fail "server's EC signature does not verify: $(cat "$T/verify.err")"
python3 -c 'import json,sys,time; s=json.load(open(sys.argv[1])); assert s["security_version"] == 0
import calendar; t=calendar.timegm(time.strptime(s["expires"], "%Y-%m-%dT%H:%M:%SZ")); assert 360*86400 < t-time.time() < 366*86400, s' \
  "$T/got-gw/gw-5.1.release.json" || fail "default facts: $(cat "$T/got-gw/gw-5.1.release.json")"
installed

# --- a statement signed elsewhere, uploaded with its signature --------------------------------
head -c 2500 /dev/urandom >"$T/tcu.bin"
python3 - "$T/tcu.bin" >"$T/tcu-3.0.release.json" <<'PY'
import hashlib, json, os, sys
p = sys.argv[1]
print(json.dumps({"ecuup_release": 1, "part": "tcu", "version": "3.0", "hardware": ["TCU-9"], "security_version": 2,
                  "expires": "2031-01-01T00:00:00Z",
                  "artifacts": [{"name": "tcu.bin", "sha256": hashlib.sha256(open(p, "rb").read()).hexdigest(),
                                 "size": os.path.getsize(p)}]}, indent=1))
PY
openssl cms -sign -binary -in "$T/tcu-3.0.release.json" -signer "$T/oem.pem" -inkey "$T/oem.key" -outform DER \
  -out "$T/tcu-3.0.release.json.sig" 2>/dev/null
# One that lists other bytes is refused (exit 4) and changes nothing.
sed 's/"size": [0-9]*/"size": 1/' "$T/tcu-3.0.release.json" >"$T/bad.release.json"
rc=0
"$SERVER" admin --url "$URL" upload --part tcu --version 3.0 "$T/tcu.bin" --statement "$T/bad.release.json" \
  --signature "$T/tcu-3.0.release.json.sig" >"$T/out" 2>&1 || rc=$?
[[ $rc == 4 ]] || fail "mismatched statement: exit $rc: $(cat "$T/out")"
"$SERVER" admin --url "$URL" --json upload --part tcu --version 3.0 --statement "$T/tcu-3.0.release.json" \
  --signature "$T/tcu-3.0.release.json.sig" >"$T/body"
[[ $(jget 'd["statement"]["state"] + " " + ",".join(d["statement"]["hardware"])') == "uploaded TCU-9" ]] \
  || fail "uploaded statement: $(cat "$T/body")"
admin assign --part tcu --version 3.0 --vehicle V1 >/dev/null
report '{"ecu.bms.version":"2.0.0","ecu.gw.version":"5.1","ecu.tcu.version":"2.0"}'
[[ $(names tcu) == "['tcu-3.0.release.json', 'tcu-3.0.release.json.p7s', 'tcu.bin']" ]] || fail "tcu artifacts: $(names tcu)"
fetch_chunk tcu "$T/got-tcu"
cmp -s "$T/got-tcu/tcu-3.0.release.json" "$T/tcu-3.0.release.json" || fail "uploaded statement not served unchanged"
cmp -s "$T/got-tcu/tcu-3.0.release.json.p7s" "$T/tcu-3.0.release.json.sig" || fail "uploaded signature changed"
verify "$T/got-tcu/tcu-3.0.release.json" "$T/got-tcu/tcu-3.0.release.json.p7s" "$T/oem-ca.pem" \
  || fail "uploaded signature does not verify: $(cat "$T/verify.err")"
# Software names that clients would take for a statement are refused.
rc=0
admin upload --part tcu --version 3.0 --filename x.release.json "$T/tcu.bin" >"$T/out" 2>&1 || rc=$?
[[ $rc == 2 ]] || fail "software named like a statement: exit $rc"
echo "server_statements: ok"
