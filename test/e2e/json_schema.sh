#!/usr/bin/env bash
# Structured JSON (issue 11): every subcommand's --json validates against its schema in man/json/
# (an independent validator, python3-jsonschema), carries `schema`, and holds the facts as typed
# fields, not prose: versions, bytes, full sha256, source, times, exit code and kind, per ECU.
source "$ECUUP_SRC/test/support/testlib.sh"
schemas="$ECUUP_SRC/man/json"
check_py="$ECUUP_SRC/test/support/json_check.py"
python3 -c "import jsonschema" 2>/dev/null || { echo "skip: python3-jsonschema missing"; exit 125; }
valid() {  # valid SCHEMA FILE [--lines]
  if [ "${3:-}" = --lines ]; then python3 "$check_py" "$schemas" "$1" --lines "$2"; else python3 "$check_py" "$schemas" "$1" "$2"; fi
}
# run_json EXPECTED NAME SCHEMA ARGS...: runs ecuup ARGS --json, checks the exit status and the schema.
run_json() {
  local want=$1 name=$2 schema=$3
  shift 3
  expect "$want" "$name" "$ecuup" "$@" --json --progress=none
  cp "$T/out" "$T/$name.json"
  check "$name: valid against $schema" valid "$schema" "$T/$name.json"
}
bench
run_json 0 inventory step.schema.json inventory
run_json 0 report step.schema.json report
run_json 0 fetch step.schema.json fetch
run_json 0 backup-read step.schema.json backup --read
run_json 0 flash-dry step.schema.json flash --dry-run
run_json 0 restore-dry step.schema.json restore --ecu bms --dry-run
run_json 0 update-dry update.schema.json update --dry-run
run_json 0 flash step.schema.json flash
check "the live log of that flash: every event valid against progress.schema.json" \
  valid progress.schema.json "$B/state/progress.jsonl" --lines
run_json 10 status-pending status.schema.json status --no-sync
run_json 0 backup step.schema.json backup
run_json 0 backup-list step.schema.json backup --list
run_json 0 status status.schema.json status
run_json 0 update update.schema.json update
run_json 2 error-unknown-ecu error.schema.json status --ecu nosuch
run_json 1 discover-nothing discover.schema.json discover --address 127.0.0.1:9 --timeout 200

# The facts are typed fields: a script never parses a sentence.
bms_target=$(json_get "$T/report.json" "[e for e in j['ecus'] if e['name']=='bms'][0]['state']['target_version']")
bms_bytes=$(json_get "$T/fetch.json" "[e for e in j['ecus'] if e['name']=='bms'][0]['state']['download']['bytes']")
check "report: the target version is a field ($bms_target)" test -n "$bms_target" -a "$bms_target" != None
check "flash --dry-run: from, to, bytes, backup and order as fields" python3 - "$T/flash-dry.json" "$bms_target" "$bms_bytes" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
f = [e for e in j["ecus"] if e["name"] == "bms"][0]["facts"]
assert f["to_version"] == sys.argv[2] and f["from_version"] and f["from_version"] != f["to_version"], f
assert f["bytes"] == int(sys.argv[3]) and f["backup_verified"] is True and isinstance(f["order"], int), f
assert f["backup_version"] == f["from_version"] and f["ecu_asked"] is True, f
PY
check "flash: per ECU the versions, bytes, image sha256, attempts and seconds; exit code and kind" python3 - "$T/flash.json" "$bms_target" <<'PY'
import json, re, sys
j = json.load(open(sys.argv[1]))
assert j["schema"] == 1 and j["exit_code"] == 0 and j["exit_meaning"], j
e = [e for e in j["ecus"] if e["name"] == "bms"][0]
f = e["facts"]
assert e["result"] == "flashed" and e["exit_code"] == 0 and "error" not in e, e
assert f["to_version"] == sys.argv[2] and re.fullmatch("[0-9a-f]{64}", f["image_sha256"]) and f["bytes"] > 0, f
assert f["attempts"] == 1 and f["seconds"] >= 0, f
assert e["state"]["flash"]["state"] == "succeeded" and e["state"]["installed_version"] == sys.argv[2], e["state"]
PY
check "backup --list: version, the whole sha256, bytes, source and time of every backup" python3 - "$T/backup-list.json" <<'PY'
import json, re, sys
j = json.load(open(sys.argv[1]))
rows = [e for e in j["ecus"] if e["name"] == "bms"]
assert [r["result"] for r in rows] == ["current", "older"], rows
cur, old = rows[0]["facts"], rows[1]["facts"]
assert re.fullmatch("[0-9a-f]{64}", cur["sha256"]) and cur["bytes"] > 0 and cur["source"] == "flash" and cur["verified"] is True, cur
assert old["source"] == "read" and re.fullmatch("[0-9-]{10}T[0-9:]{8}Z", old["at"]), old
PY
check "a failure: the error's kind and the exit code, typed" python3 - "$T/error-unknown-ecu.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["error"]["kind"] == "usage" and j["exit_code"] == 2 and "nosuch" in j["error"]["message"], j
PY
finish
