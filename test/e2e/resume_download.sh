#!/usr/bin/env bash
# A download interrupted by the server resumes with a Range request and transfers only the
# missing bytes (counted by the server).
source "$ECUUP_SRC/test/support/testlib.sh"
source "$ECUUP_SRC/test/support/start_fixture.sh"
bench
echo '{"drop_after": 50000, "drop_count": 100}' >"$T/control.json"
start_fixture "$B/repository" --control "$T/control.json" || exit 1
sed -i "s|    artifact: bms-1.1.0.img|    artifact: bms-1.1.0.img\n    url: http://127.0.0.1:$FIXTURE_PORT/bms-1.1.0.img|" "$B/repository/releases.yaml"
sed -i 's|  path: repository|  path: repository\n  max_attempts: 2|' "$B/ecuup.yaml"
size=$(stat -c %s "$B/repository/bms-1.1.0.img")
"$ecuup" inventory >/dev/null 2>&1; "$ecuup" report >/dev/null 2>&1

expect 3 "a server that keeps dropping the connection -> exit 3 (retry later)" "$ecuup" fetch --ecu bms
partial=$(ls "$B"/state/downloads/partial/*.part)
have=$(stat -c %s "$partial")
check "partial download kept ($have bytes: two attempts of 50000)" test "$have" -eq 100000
check "the second attempt resumed with a Range request" bash -c "grep -q 'bytes=50000-' '$FIXTURE_STATS'"
check "manifest has no verified download" bash -c "! grep -q 'verified: true' '$B/state/manifest.yaml'"

echo '{}' >"$T/control.json"
expect 0 "the rerun resumes and completes" "$ecuup" fetch --ecu bms
sent=$(json_get "$FIXTURE_STATS" 'j["bytes_sent"]["/bms-1.1.0.img"]')
check "server sent exactly the file once in total ($sent of $size bytes)" test "$sent" -eq "$size"
check "the rerun asked for bytes=100000-" bash -c "grep -q 'bytes=100000-' '$FIXTURE_STATS'"
check "verified" grep -q "verified: true" "$B/state/manifest.yaml"
check "no partial left" bash -c "! ls '$B'/state/downloads/partial/*.part 2>/dev/null | grep -q ."
finish
