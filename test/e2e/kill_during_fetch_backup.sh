#!/usr/bin/env bash
# kill -9 while downloading and while reading a backup out: the manifest still parses and records
# nothing half-done as done, and rerunning the step converges.
source "$ECUUP_SRC/test/support/testlib.sh"
source "$ECUUP_SRC/test/support/start_fixture.sh"
bench
manifest_ok() {  # manifest_ok PYTHON_EXPR: the manifest parses as YAML and m satisfies EXPR
  python3 -c "
import sys, yaml
m = yaml.safe_load(open('$B/state/manifest.yaml'))
sys.exit(0 if ($1) else 1)"
}

# fetch: the server goes silent mid-body; ecuup is killed while it waits.
echo '{"stall_after": 60000, "stall_count": 1, "stall_ms": 20000}' >"$T/control.json"
start_fixture "$B/repository" --control "$T/control.json" || exit 1
sed -i "s|    artifact: bms-1.1.0.img|    artifact: bms-1.1.0.img\n    url: http://127.0.0.1:$FIXTURE_PORT/bms-1.1.0.img|" "$B/repository/releases.yaml"
"$ecuup" inventory >/dev/null 2>&1; "$ecuup" report >/dev/null 2>&1
"$ecuup" fetch --ecu bms --progress=none >/dev/null 2>&1 &
pid=$!
for _ in $(seq 200); do
  [ "$(json_get "$FIXTURE_STATS" 'j["bytes_sent"].get("/bms-1.1.0.img", 0)' 2>/dev/null)" = 60000 ] && break
  sleep 0.05
done
sleep 0.3
kill -9 "$pid"; wait "$pid" 2>/dev/null
check "after kill -9 in fetch: the manifest parses, bms has its task and no verified download" \
  manifest_ok "m['ecus']['bms']['task']['target_version'] == '1.1.0' and not (m['ecus']['bms'].get('download') or {}).get('verified')"
echo '{}' >"$T/control.json"
expect 0 "fetch again converges" "$ecuup" fetch --ecu bms
check "verified, with the release's sha256" manifest_ok \
  "m['ecus']['bms']['download']['verified'] and m['ecus']['bms']['download']['sha256'] == '$(sha256sum <"$B/repository/bms-1.1.0.img" | cut -d' ' -f1)'"

# backup --read: a slow tool is killed midway; no backup is recorded, the store holds nothing half-read.
sed -i 's|read: tools/body-tool read ecus/body.flash {output}|read: "sleep 30; tools/body-tool read ecus/body.flash {output}"|' "$B/ecuup.yaml"
"$ecuup" backup --read --ecu body --progress=none >/dev/null 2>&1 &
pid=$!
sleep 1
kill -9 "$pid"; wait "$pid" 2>/dev/null
pkill -f "sleep 30; tools/body-tool" 2>/dev/null
check "after kill -9 in backup --read: the manifest parses and records no backup of body" \
  manifest_ok "'backup' not in m['ecus'].get('body', {})"
check "no backup file of body in the store" bash -c "! ls '$B'/state/backups/body/* 2>/dev/null | grep -q ."
sed -i 's|read: "sleep 30; tools/body-tool read ecus/body.flash {output}"|read: tools/body-tool read ecus/body.flash {output}|' "$B/ecuup.yaml"
expect 0 "backup --read again converges" "$ecuup" backup --read --ecu body
check "body's backup is its software" cmp -s "$(ls "$B"/state/backups/body/*)" "$B/ecus/body.flash"
finish
