#!/usr/bin/env bash
# CLI contract of ecuup-repo: exit 2 for no arguments, unknown options and bad repositories; the
# happy paths of add, sign, list and verify with a CA made here by openssl; verify exit 4 on a
# tampered artifact, a tampered statement, a foreign key and an expired statement; two concurrent
# publishers both land in releases.yaml.
source "$ECUUP_SRC/test/support/testlib.sh"
repo_bin="$ECUUP_BIN/ecuup-repo"
[ -x "$repo_bin" ] || { echo "skip: ecuup-repo not built"; exit 125; }
command -v openssl >/dev/null || { echo "skip: no openssl"; exit 125; }
# json_true FILE PYTHON_EXPR: passes when EXPR, with j = the parsed JSON file, is true.
json_true() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$1"; }

# A CA and a signer it issued, and a second CA that has nothing to do with this repository.
make_pki() { # DIR NAME
  local d=$1/$2
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d-ca.key" 2>/dev/null &&
  openssl req -x509 -new -key "$d-ca.key" -subj "/CN=$2-ca" -days 30 -out "$d-ca.pem" 2>/dev/null &&
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d.key" 2>/dev/null &&
  openssl req -new -key "$d.key" -subj "/CN=$2-signer" -out "$d.csr" 2>/dev/null &&
  openssl x509 -req -in "$d.csr" -CA "$d-ca.pem" -CAkey "$d-ca.key" -CAcreateserial -days 30 -out "$d.pem" 2>/dev/null
}
mkdir -p "$T/keys"
make_pki "$T/keys" pub || { not_ok "openssl could not make the test CA"; finish; }
make_pki "$T/keys" other || { not_ok "openssl could not make the second CA"; finish; }
CERT="$T/keys/pub.pem" KEY="$T/keys/pub.key" CA="$T/keys/pub-ca.pem"
sign_opts=(--sign-cert "$CERT" --sign-key "$KEY")

# --- the contract
expect 2 "no arguments" "$repo_bin"
expect 2 "unknown subcommand" "$repo_bin" publish
expect 2 "unknown option" "$repo_bin" list --repo "$T" --no-such-option
check "the unknown option is named" err_has "no-such-option"
check "errors say ecuup-repo: error:" err_has "^ecuup-repo: error:"
expect 0 "--help" "$repo_bin" --help
check "--help lists the subcommands" bash -c "grep -q '^  add' '$T/out' && grep -q '^  sign' '$T/out' && grep -q '^  verify' '$T/out' && grep -q '^  list' '$T/out'"
for sub in add sign verify list; do
  expect 0 "$sub --help" "$repo_bin" "$sub" --help
  check "$sub --help names the exit codes" out_has "4 verification failed"
  expect 2 "$sub without its required options" "$repo_bin" "$sub"
done
expect 0 "--version" "$repo_bin" --version
check "--version names the program" out_has "^ecuup-repo "
expect 2 "list of a directory that does not exist" "$repo_bin" list --repo "$T/nope"
check "the missing directory is named" err_has "$T/nope"
mkdir -p "$T/notrepo"
expect 2 "list of a directory without releases.yaml" "$repo_bin" list --repo "$T/notrepo"
check "says it is not a dir repository" err_has "not a dir repository"
mkdir -p "$T/bad"
printf 'releases:\n  bms: {version: 1, artifact: a.img, sha256: nothex}\n' >"$T/bad/releases.yaml"
cp "$T/bad/releases.yaml" "$T/bad.before"
expect 2 "list of a malformed releases.yaml" "$repo_bin" list --repo "$T/bad"
check "the error names file:line:col" err_has "releases.yaml:2:[0-9]*:"
printf 'payload' >"$T/a.img"
expect 2 "add to a malformed releases.yaml" "$repo_bin" add --repo "$T/bad" --part gw --version 1 "$T/a.img"
check "the malformed releases.yaml is untouched" cmp -s "$T/bad/releases.yaml" "$T/bad.before"
check "no artifact was added" test ! -e "$T/bad/a.img"
expect 2 "verify with a keyring that does not exist" "$repo_bin" verify --repo "$T/bad" --keyring "$T/nope.pem"
expect 2 "add of a file that does not exist" "$repo_bin" add --repo "$T/notrepo" --part gw --version 1 "$T/missing.img"
expect 2 "add with signing details but no signer" "$repo_bin" add --repo "$T/notrepo" --part gw --version 1 --hardware H "$T/a.img"
check "names what is missing" err_has "sign-cert"
expect 2 "add with --sign-cert but no --sign-key" "$repo_bin" add --repo "$T/notrepo" --part gw --version 1 --sign-cert "$CERT" --hardware H "$T/a.img"
expect 2 "signing without --hardware" "$repo_bin" add --repo "$T/notrepo" --part gw --version 1 "${sign_opts[@]}" "$T/a.img"
check "says a statement needs the hardware" err_has "hardware"
expect 2 "--expires and --valid-days together" "$repo_bin" add --repo "$T/notrepo" --part gw --version 1 "${sign_opts[@]}" --hardware H --expires 2030-01-01T00:00:00Z --valid-days 3 "$T/a.img"
expect 2 "an expiry in the past" "$repo_bin" add --repo "$T/notrepo" --part gw --version 1 "${sign_opts[@]}" --hardware H --expires 2020-01-01T00:00:00Z "$T/a.img"
expect 2 "an expiry that is not UTC" "$repo_bin" add --repo "$T/notrepo" --part gw --version 1 "${sign_opts[@]}" --hardware H --expires 2030-01-01 "$T/a.img"
expect 2 "a key that is not the certificate's" "$repo_bin" add --repo "$T/notrepo" --part gw --version 1 --sign-cert "$CERT" --sign-key "$T/keys/other.key" --hardware H "$T/a.img"
check "nothing was published by the refused adds" test ! -e "$T/notrepo/releases.yaml" -a ! -e "$T/notrepo/a.img"

# --- happy paths
R="$T/repo"
mkdir -p "$R" "$T/src"
head -c 20000 /dev/urandom >"$T/src/bms-2.4.0.img"
head -c 30000 /dev/urandom >"$T/src/gateway-1.1.0.img"
printf '# the bench repository\nreleases: {}\n' >"$R/releases.yaml"
expect 0 "add signed" "$repo_bin" add --repo "$R" --part bms --version 2.4.0 "${sign_opts[@]}" \
  --hardware BMS-HW-A --hardware BMS-HW-B --security-version 2 --valid-days 30 "$T/src/bms-2.4.0.img"
check "add says what it published" out_has "bms 2.4.0: bms-2.4.0.img (20000 bytes"
check "the artifact was copied" cmp -s "$T/src/bms-2.4.0.img" "$R/bms-2.4.0.img"
check "the statement and its signature are beside releases.yaml" test -s "$R/bms-2.4.0.release.json" -a -s "$R/bms-2.4.0.release.json.p7s"
check "the comment stays" grep -q '^# the bench repository' "$R/releases.yaml"
sha=$(sha256sum <"$T/src/bms-2.4.0.img" | cut -d' ' -f1)
check "releases.yaml has the entry" python3 -c "
import sys, yaml
e = yaml.safe_load(open('$R/releases.yaml'))['releases']['bms']
assert e == {'version': '2.4.0', 'artifact': 'bms-2.4.0.img', 'sha256': '$sha', 'size': 20000,
             'statement': 'bms-2.4.0.release.json'}, e"
check "openssl verifies the signature" bash -c "openssl cms -verify -binary -inform DER -in '$R/bms-2.4.0.release.json.p7s' \
  -content '$R/bms-2.4.0.release.json' -CAfile '$CA' -out /dev/null 2>/dev/null"
check "the statement says what was asked" python3 -c "
import json
s = json.load(open('$R/bms-2.4.0.release.json'))
assert s['part'] == 'bms' and s['version'] == '2.4.0' and s['security_version'] == 2, s
assert s['hardware'] == ['BMS-HW-A', 'BMS-HW-B'], s
assert s['artifacts'] == [{'name': 'bms-2.4.0.img', 'sha256': '$sha', 'size': 20000}], s"
expect 0 "add unsigned" "$repo_bin" add --repo "$R" --part gateway --version 1.1.0 "$T/src/gateway-1.1.0.img"
check "add says it is not signed" out_has "not signed"
expect 4 "verify: an unsigned release fails" "$repo_bin" verify --repo "$R" --keyring "$CA"
check "bms passes" out_has "^bms 2.4.0: ok"
check "gateway is named as not signed" out_has "gateway: not signed"
check "the error counts the failures" err_has "1 of 2 releases failed"
expect 0 "verify --part bms alone" "$repo_bin" verify --repo "$R" --keyring "$CA" --part bms
expect 2 "verify --part of a part not listed" "$repo_bin" verify --repo "$R" --keyring "$CA" --part nope
expect 2 "sign of a part not listed" "$repo_bin" sign --repo "$R" --part nope "${sign_opts[@]}" --hardware H
expect 2 "sign of an unsigned release without --hardware" "$repo_bin" sign --repo "$R" --part gateway "${sign_opts[@]}"
expect 0 "sign the unsigned release" "$repo_bin" sign --repo "$R" --part gateway "${sign_opts[@]}" --hardware GW-HW-1
expect 0 "verify: all good" "$repo_bin" verify --repo "$R" --keyring "$CA"
check "both pass" bash -c "grep -q '^bms 2.4.0: ok' '$T/out' && grep -q '^gateway 1.1.0: ok' '$T/out'"
mkdir -p "$T/ring" && cp "$T/keys/other-ca.pem" "$T/ring/a.pem" && cp "$CA" "$T/ring/b.pem"
expect 0 "verify with a keyring directory" "$repo_bin" verify --repo "$R" --keyring "$T/ring"
expect 0 "verify --json" "$repo_bin" verify --repo "$R" --keyring "$CA" --json
check "verify --json says ok" json_true "$T/out" 'j["ok"] is True and len(j["releases"]) == 2 and j["releases"][0]["problems"] == []'
expect 0 "re-sign keeps the hardware, renews the expiry" "$repo_bin" sign --repo "$R" --part gateway "${sign_opts[@]}" --expires 2099-12-31T00:00:00Z
check "the hardware was kept" grep -q GW-HW-1 "$R/gateway-1.1.0.release.json"
expect 0 "list" "$repo_bin" list --repo "$R"
check "list has a header" out_has "^PART *VERSION *ARTIFACT *SIZE *SIGNED *SECURITY *EXPIRES *HARDWARE"
check "list shows bms" out_has "^bms *2.4.0 *bms-2.4.0.img *20000 *yes *2 .*BMS-HW-A,BMS-HW-B"
check "list shows gateway's new expiry" out_has "^gateway .*2099-12-31T00:00:00Z *GW-HW-1"
expect 0 "list --json" "$repo_bin" list --repo "$R" --json
check "list --json" json_true "$T/out" '[(x["part"], x["signed"], x["security_version"]) for x in j["releases"]] == [("bms", True, 2), ("gateway", True, 0)]'
cp "$R/releases.yaml" "$T/releases.before"
expect 2 "the same version with other bytes is refused" "$repo_bin" add --repo "$R" --part bms --version 2.4.0 "$T/src/gateway-1.1.0.img"
mkdir -p "$T/src2" && printf 'different' >"$T/src2/bms-2.4.0.img"
expect 2 "a different file under a name the repository has is refused" "$repo_bin" add --repo "$R" --part bms --version 2.5.0 "$T/src2/bms-2.4.0.img"
check "the artifact was not overwritten" cmp -s "$T/src/bms-2.4.0.img" "$R/bms-2.4.0.img"
check "releases.yaml is unchanged" cmp -s "$R/releases.yaml" "$T/releases.before"
expect 0 "the same file and version again is fine" "$repo_bin" add --repo "$R" --part bms --version 2.4.0 "${sign_opts[@]}" --hardware BMS-HW-A "$T/src/bms-2.4.0.img"
check "says the file was already there" out_has "already in the repository"

# --- verify finds what a vehicle would refuse
cp -r "$R" "$T/pristine"
reset_repo() { rm -rf "$R" && cp -r "$T/pristine" "$R"; }
printf 'X' | dd of="$R/bms-2.4.0.img" bs=1 seek=100 conv=notrunc 2>/dev/null
expect 4 "verify: a tampered artifact" "$repo_bin" verify --repo "$R" --keyring "$CA"
check "the artifact's sha256 is the problem" out_has "bms: artifact bms-2.4.0.img has sha256"
check "gateway still passes" out_has "^gateway 1.1.0: ok"
expect 4 "sign refuses a tampered artifact" "$repo_bin" sign --repo "$R" --part bms "${sign_opts[@]}"
reset_repo
sed -i 's/BMS-HW-A/BMS-HW-Z/' "$R/bms-2.4.0.release.json"
expect 4 "verify: a tampered statement" "$repo_bin" verify --repo "$R" --keyring "$CA"
check "the signature is the problem" out_has "bms: statement bms-2.4.0.release.json:"
reset_repo
expect 4 "verify: a foreign keyring" "$repo_bin" verify --repo "$R" --keyring "$T/keys/other-ca.pem"
check "both releases fail" err_has "2 of 2 releases failed"
expect 0 "sign with the other CA's signer" "$repo_bin" sign --repo "$R" --part bms --sign-cert "$T/keys/other.pem" --sign-key "$T/keys/other.key"
expect 4 "verify: a release signed by a foreign key" "$repo_bin" verify --repo "$R" --keyring "$CA" --part bms
reset_repo
# An expired statement: written and signed here by openssl, as ecuup-repo refuses to sign one.
python3 - "$R/bms-2.4.0.release.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["expires"] = "2021-01-01T00:00:00Z"
open(sys.argv[1], "w").write(json.dumps(s, indent=2, sort_keys=True) + "\n")
PY
openssl cms -sign -binary -in "$R/bms-2.4.0.release.json" -signer "$CERT" -inkey "$KEY" -outform DER \
  -out "$R/bms-2.4.0.release.json.p7s" 2>/dev/null
expect 4 "verify: an expired statement" "$repo_bin" verify --repo "$R" --keyring "$CA"
check "the expiry is the problem" out_has "bms: .*expired"
expect 0 "list still reads the expired statement" "$repo_bin" list --repo "$R"
check "list shows its expiry" out_has "2021-01-01T00:00:00Z"
reset_repo
rm "$R/gateway-1.1.0.img"
expect 4 "verify: a missing artifact" "$repo_bin" verify --repo "$R" --keyring "$CA" --json
check "verify --json names the problem" json_true "$T/out" 'j["ok"] is False and "missing" in j["releases"][1]["problems"][0]'
reset_repo

# --- two publishers at once: both land, releases.yaml stays valid
C="$T/concurrent"
mkdir -p "$C"
pids=()
for i in $(seq 1 6); do
  head -c 300000 /dev/urandom >"$T/src/p$i.img"
  "$repo_bin" add --repo "$C" --part "part$i" --version "1.$i" "${sign_opts[@]}" --hardware HW-$i "$T/src/p$i.img" \
    >"$T/c$i.out" 2>&1 &
  pids+=($!)
done
rc_all=0
for p in "${pids[@]}"; do wait "$p" || rc_all=1; done
check "every concurrent add succeeded" test "$rc_all" -eq 0
check "releases.yaml lists all six parts" python3 -c "
import yaml
r = yaml.safe_load(open('$C/releases.yaml'))['releases']
assert sorted(r) == ['part%d' % i for i in range(1, 7)], sorted(r)"
expect 0 "the concurrently published repository verifies" "$repo_bin" verify --repo "$C" --keyring "$CA"
check "no temporary file is left" bash -c "! ls -A '$C' | grep -q -e '\.tmp\.' -e '\.incoming\.'"
finish
