# Signed releases for the shell tests: source after testlib.sh. Keys and certificates are made at
# test time with the openssl command, never committed.

# make_ca DIR NAME [genpkey args]: DIR/NAME-ca.pem (anchor), DIR/NAME.pem + DIR/NAME.key (signer).
make_ca() {
  local dir=$1 name=$2
  shift 2
  local alg=("$@")
  [ ${#alg[@]} -gt 0 ] || alg=(-algorithm EC -pkeyopt ec_paramgen_curve:P-256)
  mkdir -p "$dir"
  openssl genpkey "${alg[@]}" -out "$dir/$name-ca.key" 2>/dev/null
  openssl req -x509 -new -key "$dir/$name-ca.key" -subj "/CN=$name-ca" -days 30 -out "$dir/$name-ca.pem" 2>/dev/null
  openssl genpkey "${alg[@]}" -out "$dir/$name.key" 2>/dev/null
  openssl req -new -key "$dir/$name.key" -subj "/CN=$name-signer" -out "$dir/$name.csr" 2>/dev/null
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/$name-ca.pem" -CAkey "$dir/$name-ca.key" -CAcreateserial \
    -days 30 -out "$dir/$name.pem" 2>/dev/null
}

# write_statement OUT PART VERSION HARDWARE SECURITY_VERSION EXPIRES ARTIFACT_FILE[=NAME]...
# Writes a release statement (format 1) listing each artifact by name with its sha256 and size.
write_statement() {
  python3 - "$@" <<'PY'
import hashlib, json, os, sys
out, part, version, hardware, sv, expires, *files = sys.argv[1:]
arts = []
for f in files:
    path, _, name = f.partition("=")
    data = open(path, "rb").read()
    arts.append({"name": name or os.path.basename(path), "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})
doc = {"ecuup_release": 1, "part": part, "version": version, "hardware": hardware.split(","),
       "security_version": int(sv), "expires": expires, "artifacts": arts}
open(out, "w").write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
PY
}

# sign_statement FILE CERT KEY: FILE.p7s, a detached DER CMS signature made by the openssl command.
sign_statement() {
  openssl cms -sign -binary -in "$1" -signer "$2" -inkey "$3" -outform DER -out "$1.p7s" 2>/dev/null
}

# A UTC time N days from now (negative: in the past), in the statement's form.
utc_in_days() { date -u -d "$1 days" +%Y-%m-%dT%H:%M:%SZ; }

# manifest_readable: the manifest parses (ecuup reads it back) after whatever happened.
manifest_readable() { "$ecuup" status --no-sync --json --progress=none >/dev/null 2>&1 || [ $? -eq 10 ]; }
