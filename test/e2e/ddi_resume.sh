#!/usr/bin/env bash
# ecuup-server killed (-9) in the middle of a 20 MB download: fetch gives up with exit 3 and keeps
# the partial file; after a restart the rerun resumes it (Range + If-Range) and the file verifies.
source "$ECUUP_SRC/test/support/testlib.sh"
source "$ECUUP_SRC/test/support/ddi_server.sh"
size=20000000
"$ECUUP_BIN/ecuup-sim" mkimage --version 1.2.0 --size "$size" -o "$T/bms-1.2.0.img" >/dev/null || exit 1
sha=$(sha256sum "$T/bms-1.2.0.img" | cut -d' ' -f1)
srv_start || exit 1
srv_admin upload --part bms --version 1.2.0 "$T/bms-1.2.0.img" >/dev/null
proxy_start 4000000 || exit 1   # 4 MB/s: the download takes ~5 s
SRV_URL=$PROXY_URL ddi_bench
srv_admin assign --part bms --version 1.2.0 --vehicle bench-vehicle-1 >/dev/null
sed -i 's/^  max_attempts: .*/  max_attempts: 2/' "$B/ecuup.yaml"

expect 0 inventory "$ecuup" inventory --progress=none
expect 0 report "$ecuup" report --progress=none
partial="$B/state/downloads/partial/$sha.part"
"$ecuup" fetch --ecu bms --progress=plain >"$T/fetch1.out" 2>"$T/fetch1.err" &
fetch_pid=$!
for _ in $(seq 200); do
  [ -f "$partial" ] && [ "$(stat -c %s "$partial")" -gt 2000000 ] && break
  sleep 0.05
done
have=$(stat -c %s "$partial" 2>/dev/null || echo 0)
check "the download was under way when the server died ($have bytes)" test "$have" -gt 0 -a "$have" -lt "$size"
srv_stop KILL
wait "$fetch_pid"
rc=$?
check "fetch exits 3 while the server is down (got $rc)" test "$rc" -eq 3
check "it names the server/network failure" grep -qi "download\|connect\|server" "$T/fetch1.err" "$T/fetch1.out"
kept=$(stat -c %s "$partial" 2>/dev/null || echo 0)
check "the partial file was kept ($kept of $size bytes)" test "$kept" -gt 0 -a "$kept" -lt "$size"
check "the artifact is not counted as downloaded" test ! -e "$B/state/downloads/$sha"

srv_restart || exit 1
: >"$T/proxy.log"
expect 0 "fetch after the restart" "$ecuup" fetch --ecu bms --progress=none
check "the rerun asked for the rest (Range: bytes=$kept-)" grep -qi "^Range: bytes=$kept-" "$T/proxy.log"
check "with If-Range on the artifact's strong ETag" grep -qi "^If-Range: \"$sha\"" "$T/proxy.log"
check "the verified download is byte-exact" cmp -s "$B/state/downloads/$sha" "$T/bms-1.2.0.img"
check "the partial file is gone" test ! -e "$partial"
finish
