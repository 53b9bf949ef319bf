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

# add_signer DIR CA NAME: DIR/NAME.pem + DIR/NAME.key, a second signer issued by DIR/CA-ca.pem.
add_signer() {
  local dir=$1 ca=$2 name=$3
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/$name.key" 2>/dev/null
  openssl req -new -key "$dir/$name.key" -subj "/CN=$name" -out "$dir/$name.csr" 2>/dev/null
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/$ca-ca.pem" -CAkey "$dir/$ca-ca.key" -CAcreateserial \
    -days 30 -out "$dir/$name.pem" 2>/dev/null
}

# make_crl DIR CA OUT [REVOKED_CERT...]: OUT, a PEM CRL of DIR/CA-ca.pem revoking those
# certificates, valid for a day, or $CRL_SECONDS seconds (`openssl ca -gencrl`, on a fresh CA
# database).
make_crl() {
  local dir=$1 ca=$2 out=$3
  shift 3
  local db=$dir/$ca-crl-db
  rm -rf "$db" && mkdir -p "$db" && : >"$db/index" && echo 1000 >"$db/number"
  printf '[ ca ]\ndefault_ca = CA_default\n[ CA_default ]\ndatabase = %s\ncrlnumber = %s\ndefault_md = default\n' \
    "$db/index" "$db/number" >"$db/ca.cnf"
  local cmd=(openssl ca -batch -config "$db/ca.cnf" -keyfile "$dir/$ca-ca.key" -cert "$dir/$ca-ca.pem")
  for cert in "$@"; do "${cmd[@]}" -revoke "$cert" 2>/dev/null || return 1; done
  local validity=(-crlhours 24)
  [ -n "${CRL_SECONDS:-}" ] && validity=(-crlsec "$CRL_SECONDS")
  "${cmd[@]}" -gencrl "${validity[@]}" -out "$out" 2>/dev/null
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

# trust_bench_config: the bench config ($ECUUP_CONFIG) trusts keys/ca.pem and names bms's hardware.
trust_bench_config() {
  python3 - "$ECUUP_CONFIG" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("server:\n", "trust:\n  keyring: keys/ca.pem\n\nserver:\n", 1)
s = s.replace("  - name: bms\n    driver: image\n", "  - name: bms\n    driver: image\n    hardware: BMS-HW-A\n", 1)
open(p, "w").write(s)
PY
  grep -q "hardware: BMS-HW-A" "$ECUUP_CONFIG" || { echo "test setup: bms has no hardware" >&2; return 1; }
}

# start_drip_server: a hostile HTTP server on 127.0.0.1; /slow... answers 10 bytes a second of a
# promised megabyte (slow retrieval), /drop... hangs up without an answer. Sets DRIP_URL.
start_drip_server() {
  local port_file=$T/drip.port
  python3 - "$port_file" <<'PY' &
import http.server, socketserver, sys, time
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        if self.path.startswith("/drop"):
            self.connection.close()
            return
        self.send_response(200)
        self.send_header("Content-Length", "1000000")
        self.end_headers()
        for _ in range(60):
            try:
                self.wfile.write(b"x" * 10); self.wfile.flush()
            except OSError:
                return
            time.sleep(1)
with socketserver.ThreadingTCPServer(("127.0.0.1", 0), H) as srv:
    open(sys.argv[1], "w").write(str(srv.server_address[1]))
    srv.serve_forever()
PY
  bg_pids+=($!)
  for _ in $(seq 50); do [ -s "$port_file" ] && break; sleep 0.1; done
  DRIP_URL=http://127.0.0.1:$(cat "$port_file")
}

# bms_flash: the sha256 of bms's flash memory in the bench ($B): "untouched" is the same value.
bms_flash() { sha256sum "$B/ecus/bms.flash" | cut -d' ' -f1; }

# refused_by TEXT DESCRIPTION: report refuses bms's target with exit 4 and an error containing
# TEXT (the rule); no task is recorded, the manifest reads back, and bms's flash is still $before.
refused_by() {
  expect 4 "$2: report refuses" "$ecuup" report --ecu bms --progress=none
  check "$2: names $1" err_has "$1"
  check "$2: no task recorded" bash -c "! grep -q 'target_version' '$B/state/manifest.yaml'"
  check "$2: the manifest reads back" manifest_readable
  check "$2: the ECU is untouched" test "$(bms_flash)" = "$before"
}
