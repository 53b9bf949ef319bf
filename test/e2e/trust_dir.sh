#!/usr/bin/env bash
# The attack matrix (Uptane's list) against a `dir` repository with `trust:` configured: each
# hostile release ends in a clear error naming its rule, the right exit code, no task recorded,
# a manifest ecuup reads back, and the ECU untouched. A signed release then goes all the way.
source "$ECUUP_SRC/test/support/testlib.sh"
source "$ECUUP_SRC/test/support/trustlib.sh"
bench
K=$T/keys
make_ca "$K" pub
make_ca "$K" rogue
trust_bench_config
python3 - "$ECUUP_CONFIG" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("  path: repository\n", "  path: repository\n  low_speed_timeout_s: 2\n  max_attempts: 1\n", 1)
open(p, "w").write(s)
PY
mkdir -p "$B/keys" && cp "$K/pub-ca.pem" "$B/keys/ca.pem"
R=$B/repository
before=$(bms_flash)
art=$R/bms-1.1.0.img
sha=$(sha256sum "$art" | cut -d' ' -f1)
size=$(stat -c %s "$art")

# release VERSION [extra releases.yaml lines...]: bms's entry, the other parts untouched.
release() {
  local version=$1
  shift
  {
    echo "releases:"
    echo "  bms:"
    echo "    version: \"$version\""
    echo "    artifact: $(basename "$art")"
    echo "    sha256: $sha"
    echo "    size: $size"
    for line in "$@"; do echo "    $line"; done
  } >"$R/releases.yaml"
}
# signed VERSION HW SV EXPIRES SIGNER [PART] [ARTIFACTS...]: a statement for the release, signed.
signed() {
  local version=$1 hw=$2 sv=$3 expires=$4 signer=$5 part=${6:-bms}
  shift 6 2>/dev/null || shift $#
  local files=("$@")
  [ ${#files[@]} -gt 0 ] || files=("$art")
  write_statement "$R/bms.release.json" "$part" "$version" "$hw" "$sv" "$expires" "${files[@]}"
  sign_statement "$R/bms.release.json" "$K/$signer.pem" "$K/$signer.key"
}

expect 0 "inventory" "$ecuup" inventory --ecu bms --progress=none
release 1.1.0
refused_by "rule 'signature'" "arbitrary software (unsigned)"

signed 1.1.0 BMS-HW-A 1 "$(utc_in_days 30)" rogue
release 1.1.0 "statement: bms.release.json"
refused_by "rule 'signature'" "arbitrary software (signed by an unknown key)"

signed 1.1.0 BMS-HW-A 1 "$(utc_in_days 30)" pub
printf 'x' >>"$R/bms.release.json"
refused_by "rule 'signature'" "a tampered statement"

signed 1.1.0 BMS-HW-A 1 "$(utc_in_days -1)" pub
refused_by "rule 'expiry'" "freeze (expired metadata)"

signed 1.1.0 BMS-HW-A 1 "$(utc_in_days 30)" pub gateway
refused_by "rule 'part'" "mix-and-match (another part's signature)"

signed 1.1.0 GW-HW-9 1 "$(utc_in_days 30)" pub
refused_by "rule 'hardware'" "mix-and-match (another hardware's signature)"

signed 1.2.0 BMS-HW-A 1 "$(utc_in_days 30)" pub
refused_by "rule 'version'" "a signature of another version"

# A leaked signing key, revoked: the keyring gets its CA's CRL. The other signer of that CA keeps
# working below, with revocation checked on every signature from here on.
add_signer "$K" pub leaked
signed 1.1.0 BMS-HW-A 1 "$(utc_in_days 30)" leaked
expect 0 "before its CRL, the second signer's release is accepted" "$ecuup" report --ecu bms --dry-run --progress=none
check "before its CRL: it would be a task" out_has "bms .*would-task"
make_crl "$K" pub "$T/pub.crl" "$K/leaked.pem"
cat "$K/pub-ca.pem" "$T/pub.crl" >"$B/keys/ca.pem"
refused_by "certificate revoked" "a revoked signer (a leaked key)"
check "revoked: says what to do" err_has "sign the release again with a key that is not revoked"
make_crl "$K" rogue "$T/rogue.crl"
cat "$K/pub-ca.pem" "$K/rogue-ca.pem" "$T/rogue.crl" >"$B/keys/ca.pem"
signed 1.1.0 BMS-HW-A 1 "$(utc_in_days 30)" pub
refused_by "unable to get certificate CRL" "a keyring with CRLs, but none of the signer's CA"
check "no CRL: says what to do" err_has "put the CA's latest CRL into the keyring"
cat "$K/pub-ca.pem" "$T/pub.crl" >"$B/keys/ca.pem"

cp "$R/body-0.9.0.img" "$T/extra.img"
signed 1.1.0 BMS-HW-A 1 "$(utc_in_days 30)" pub bms "$art" "$T/extra.img"
refused_by "partial bundle" "a partial bundle"

release "" "statement: bms.release.json"
refused_by "the version is empty" "an empty version"
release $'1.1\t0' "statement: bms.release.json"
refused_by "non-printable" "a version with a control character"

release 1.1.0 "url: file:///etc/hostname"
refused_by "only http:// and https://" "a file:// URL"
release 1.1.0 "url: ftp://127.0.0.1/bms.img"
refused_by "only http:// and https://" "an ftp:// URL"

# The signed release: it goes all the way, and its security version is recorded.
signed 1.1.0 BMS-HW-A 5 "$(utc_in_days 30)" pub
release 1.1.0 "statement: bms.release.json"
expect 0 "a signed release is accepted" "$ecuup" report --ecu bms --progress=none
check "the task records the statement" grep -q "statement: statements/bms/" "$B/state/manifest.yaml"
expect 0 "fetch" "$ecuup" fetch --ecu bms --progress=none
expect 0 "backup --read" "$ecuup" backup --read --ecu bms --progress=none
# Endless data at flash time is caught too: the artifact on disk changed after fetch.
dl=$B/state/$(python3 -c "import yaml,sys; m=yaml.safe_load(open(sys.argv[1])); print([e for e in m['ecus'] if e['name']=='bms'][0]['download']['artifact'])" "$B/state/manifest.yaml" 2>/dev/null || true)
if [ -f "$dl" ]; then
  cp "$dl" "$T/dl.keep"
  printf 'more' >>"$dl"
  expect 4 "flash refuses an artifact that no longer matches the signed size" "$ecuup" flash --ecu bms --progress=none
  check "names the signed size" err_has "the statement signs"
  check "ECU untouched after the refused flash" test "$(bms_flash)" = "$before"
  cp "$T/dl.keep" "$dl"
  expect 0 "fetch again" "$ecuup" fetch --ecu bms --progress=none
fi
expect 0 "flash" "$ecuup" flash --ecu bms --progress=none
expect 0 "backup" "$ecuup" backup --ecu bms --progress=none
check "the ECU runs 1.1.0" test "$(image_version "$B/ecus/bms.flash")" = "1.1.0"
check "security version 5 is recorded" grep -q "^    security_version: 5" "$B/state/manifest.yaml"
after=$(bms_flash)

# Rollback: a newer version string, signed, with a lower security version; allow_downgrade does not help.
cp "$ECUUP_SRC/examples/bench/repository-next/bms-1.2.0.img" "$R/bms-1.2.0.img"
sed -i 's/^allow_downgrade: false/allow_downgrade: true/' "$ECUUP_CONFIG"
art=$R/bms-1.2.0.img
sha=$(sha256sum "$art" | cut -d' ' -f1)
size=$(stat -c %s "$art")
cp "$art" "$T/bms-1.2.0.keep"
signed 1.2.0 BMS-HW-A 4 "$(utc_in_days 30)" pub
release 1.2.0 "statement: bms.release.json"
before=$after
expect 4 "rollback (an older security version): report refuses" "$ecuup" report --ecu bms --progress=none
check "rollback: names rule 'security version'" err_has "rule 'security version'"
check "rollback: the manifest reads back" manifest_readable
check "rollback: the ECU is untouched" test "$(bms_flash)" = "$before"

# Endless data: the repository's file is longer than the size its entry announces.
signed 1.2.0 BMS-HW-A 5 "$(utc_in_days 30)" pub
expect 0 "report the 1.2.0 release" "$ecuup" report --ecu bms --progress=none
printf 'endless' >>"$R/bms-1.2.0.img"
expect 4 "endless data: fetch cuts it off and refuses" "$ecuup" fetch --ecu bms --progress=none
check "endless data: says it was cut off" err_has "cut off"
check "endless data: nothing verified" bash -c "! grep -q 'verified: true' '$B/state/manifest.yaml'"
check "endless data: the manifest reads back" manifest_readable

# Slow retrieval and a dropped request: a local HTTP server that drips, or hangs up.
start_drip_server
cp "$T/bms-1.2.0.keep" "$R/bms-1.2.0.img"
# What the endless answer left was cut at the signed size; start these downloads from nothing.
rm -rf "$B/state/downloads/partial"
# (another version: a new task, whose artifact comes from that server; the download never completes)
signed 1.2.1 BMS-HW-A 5 "$(utc_in_days 30)" pub
release 1.2.1 "statement: bms.release.json" "url: $DRIP_URL/slow"
expect 0 "report the release served over HTTP" "$ecuup" report --ecu bms --progress=none
start=$(date +%s)
expect 3 "slow retrieval: dropped by the low-speed limit" "$ecuup" fetch --ecu bms --progress=none
check "slow retrieval: given up within seconds, not minutes" test $(( $(date +%s) - start )) -lt 30
signed 1.2.2 BMS-HW-A 5 "$(utc_in_days 30)" pub
release 1.2.2 "statement: bms.release.json" "url: $DRIP_URL/drop"
expect 0 "report the release whose server hangs up" "$ecuup" report --ecu bms --progress=none
expect 3 "a dropped request: retry later" "$ecuup" fetch --ecu bms --progress=none
check "dropped: nothing verified" bash -c "! grep -q 'verified: true' '$B/state/manifest.yaml'"
check "dropped: the manifest reads back" manifest_readable
check "the ECU still runs 1.1.0" test "$(bms_flash)" = "$after"

# A key revoked after report admitted its release: fetch checks the kept statement again.
add_signer "$K" pub late
signed 1.2.3 BMS-HW-A 5 "$(utc_in_days 30)" late
release 1.2.3 "statement: bms.release.json"
expect 0 "report a release of a signer not yet revoked" "$ecuup" report --ecu bms --progress=none
make_crl "$K" pub "$T/pub.crl" "$K/leaked.pem" "$K/late.pem"
cat "$K/pub-ca.pem" "$T/pub.crl" >"$B/keys/ca.pem"
expect 4 "revoked after report: fetch refuses the kept statement" "$ecuup" fetch --ecu bms --progress=none
check "revoked after report: names it" err_has "certificate revoked"
check "revoked after report: the manifest reads back" manifest_readable
check "revoked after report: the ECU still runs 1.1.0" test "$(bms_flash)" = "$after"

# A keyring CRL that runs out stops every release of its CA: status says so before a report meets it.
"$ecuup" status --no-sync --progress=none >"$T/out" 2>"$T/err"
check "a current CRL: status has no trust note" bash -c "! grep -q 'trust: the CRL' '$T/out' '$T/err'"
CRL_SECONDS=1 make_crl "$K" pub "$T/pub.crl" "$K/leaked.pem" "$K/late.pem"
cat "$K/pub-ca.pem" "$T/pub.crl" >"$B/keys/ca.pem"
sleep 2
"$ecuup" status --no-sync --progress=none >"$T/out" 2>"$T/err"
check "an expired CRL: status says so and what to do" \
  bash -c "cat '$T/out' '$T/err' | grep -q 'trust: the CRL of CN=pub-ca in .* expired at .*until a fresh CRL'"
finish
