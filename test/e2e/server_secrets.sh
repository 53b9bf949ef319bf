#!/usr/bin/env bash
# ecuup-server keeps its secrets to itself: the data directory is created 0700 and the database
# with its -wal and -shm files 0600 even under umask 000; vehicle tokens are stored only as hashes
# (the token's bytes are in no file of the data directory) and still authenticate; the token is
# printed once, by `vehicle add`, and by nothing after; a database of the first schema, with plain
# tokens, is converted when the server opens it.
source "${ECUUP_SRC:-.}/test/e2e/server_lib.bash"
command -v stat >/dev/null || { echo "skip: no stat"; exit 125; }
umask 000
mode() { stat -c %a "$1"; }
# no_trace TOKEN WHAT: the token's bytes are in no file under the data directory.
no_trace() { if grep -rqaF -- "$1" "$T/data"; then fail "$2: token in $(grep -rlaF -- "$1" "$T/data")"; fi; }
ddi() { http GET "/DEFAULT/controller/v1/$1" "TargetToken $2"; }

head -c 3000 /dev/urandom >"$T/bms.bin"
admin upload --part bms --version 1.0 "$T/bms.bin" >/dev/null
out=$(admin vehicle add V1)
tok=$(sed -n 's/^vehicle V1 token \([0-9a-f]*\)$/\1/p' <<<"$out")
[[ ${#tok} == 32 ]] || fail "vehicle add printed no token: $out"
mine=chosen-token-5b0f3c9e8d7a6b5c
admin vehicle add V2 --token "$mine" >/dev/null
start_server
ddi V1 "$tok"; expect 200 "V1 with its generated token"
ddi V2 "$mine"; expect 200 "V2 with its chosen token"
ddi V1 "$mine"; expect 401 "V1 with V2's token"
http PUT /DEFAULT/controller/v1/V2/configData "TargetToken $mine" '{"data":{"ecu.bms.version":"0.9"}}'
expect 200 "a write, so the WAL holds pages"

[[ $(mode "$T/data") == 700 ]] || fail "data directory is $(mode "$T/data")"
[[ $(mode "$T/data/artifacts") == 700 ]] || fail "artifacts directory is $(mode "$T/data/artifacts")"
for f in ecuup-server.db ecuup-server.db-wal ecuup-server.db-shm; do
  [[ -f $T/data/$f ]] || fail "no $f"
  [[ $(mode "$T/data/$f") == 600 ]] || fail "$f is $(mode "$T/data/$f")"
done
for f in "$T"/data/artifacts/*; do [[ $(mode "$f") == 600 ]] || fail "${f##*/} is $(mode "$f")"; done
no_trace "$tok" "generated token"
no_trace "$mine" "chosen token"

# Nothing prints a token again: not the lists, not the management API.
for what in vehicles actions modules; do
  admin --json list "$what" >"$T/list"
  ! grep -qF -e "$tok" -e "$mine" "$T/list" || fail "admin list $what shows a token"
done
export ECUUP_SERVER_ADMIN_TOKEN=admin-secret
stop_server TERM
start_server
http GET /api/v1/vehicles "Bearer admin-secret"; expect 200 "vehicles"
! grep -qF -e "$tok" -e "$mine" "$T/body" || fail "GET /api/v1/vehicles shows a token"
ddi V1 "$tok"; expect 200 "V1 after a restart"
stop_server TERM

# A database of schema 1 (plain tokens, mode 0644 under the usual umask) is converted on open.
command -v sqlite3 >/dev/null || { echo "server_secrets: ok (schema 1 conversion skipped: no sqlite3)"; exit 0; }
rm -rf "$T/data"
mkdir -m 755 "$T/data"
old=plain-schema1-token-31415926535
(umask 022 && sqlite3 "$T/data/ecuup-server.db" >/dev/null) <<SQL
PRAGMA journal_mode=WAL;
CREATE TABLE vehicles(id TEXT PRIMARY KEY, token TEXT NOT NULL, created_at INTEGER NOT NULL,
  reported_at INTEGER, attributes_requested INTEGER NOT NULL DEFAULT 1);
CREATE TABLE attributes(vehicle_id TEXT NOT NULL REFERENCES vehicles(id) ON DELETE CASCADE, key TEXT NOT NULL,
  value TEXT NOT NULL, PRIMARY KEY(vehicle_id, key)) WITHOUT ROWID;
CREATE TABLE modules(id INTEGER PRIMARY KEY AUTOINCREMENT, part TEXT NOT NULL, version TEXT NOT NULL,
  created_at INTEGER NOT NULL, UNIQUE(part, version));
CREATE TABLE artifacts(module_id INTEGER NOT NULL REFERENCES modules(id), filename TEXT NOT NULL,
  size INTEGER NOT NULL, sha1 TEXT NOT NULL, md5 TEXT NOT NULL, sha256 TEXT NOT NULL,
  created_at INTEGER NOT NULL, PRIMARY KEY(module_id, filename));
INSERT INTO vehicles(id, token, created_at) VALUES('OLD', '$old', 1);
PRAGMA user_version=1;
SQL
grep -qaF "$old" "$T/data/ecuup-server.db" || fail "test setup: the schema 1 database lacks its plain token"
[[ $(mode "$T/data/ecuup-server.db") == 644 ]] || fail "test setup: schema 1 database is $(mode "$T/data/ecuup-server.db")"
start_server
ddi OLD "$old"; expect 200 "converted vehicle with its old token"
ddi OLD wrong; expect 401 "converted vehicle with a wrong token"
no_trace "$old" "converted token"
[[ $(mode "$T/data/ecuup-server.db") == 600 ]] || fail "converted database is $(mode "$T/data/ecuup-server.db")"
[[ $(sqlite3 "$T/data/ecuup-server.db" 'PRAGMA user_version') == 2 ]] || fail "schema version after conversion"
echo "server_secrets: ok"
