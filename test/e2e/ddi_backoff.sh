#!/usr/bin/env bash
# 429 and 503 in front of the real ecuup-server (the capture proxy answers them itself): ecuup waits
# at least the Retry-After the server asked for, retries and succeeds; when the server keeps
# answering 503, it gives up after max_attempts with exit 3.
source "$ECUUP_SRC/test/support/testlib.sh"
source "$ECUUP_SRC/test/support/ddi_server.sh"
srv_start || exit 1
srv_upload_bench
V=/DEFAULT/controller/v1/bench-vehicle-1
capture_start '[{"method":"PUT","path":"/configData$","status":503,"retry_after":1,"count":1},
  {"method":"GET","path":"^'$V'(\\?.*)?$","status":429,"retry_after":2,"count":1},
  {"method":"GET","path":"/artifacts/bms-1.1.0.img$","status":503,"retry_after":1,"count":1},
  {"method":"GET","path":"/artifacts/gateway-2.4.0.tar.gz$","status":429,"count":1}]' || exit 1
SRV_URL=$CAPTURE_URL ddi_bench
srv_admin assign --part bms --version 1.1.0 --all >/dev/null
srv_admin assign --part gateway --version 2.4.0 --all >/dev/null
expect 0 inventory "$ecuup" inventory --progress=none
expect 0 "report through a 503 and a 429" "$ecuup" report --progress=none
check "bms and gateway have tasks" bash -c "grep -q 'bms .*task' '$T/out' && grep -q 'gateway .*task' '$T/out'"
expect 0 "fetch through a 503 and a 429" "$ecuup" fetch --progress=plain
check "both downloads verified" bash -c "grep -q 'bms .*downloaded' '$T/out' && grep -q 'gateway .*downloaded' '$T/out'"
# gap PATH_REGEX METHOD: seconds between the injected answer and the retry of the same request.
gap() { python3 - "$T/capture.jsonl" "$1" "$2" <<'PY'
import json, re, sys
es = [json.loads(l) for l in open(sys.argv[1])]
es = [e for e in es if e["method"] == sys.argv[3] and re.search(sys.argv[2], e["path"])]
i = next(i for i, e in enumerate(es) if e.get("injected"))
print(f"{es[i + 1]['t'] - es[i]['t']:.2f}")
PY
}
waited=$(gap '/configData$' PUT)
check "configData retried after Retry-After: 1 (waited ${waited}s)" python3 -c "assert $waited >= 0.95"
waited=$(gap "^$V(\\?.*)?\$" GET)
check "controller base retried after Retry-After: 2 (waited ${waited}s)" python3 -c "assert $waited >= 1.95"
waited=$(gap '/artifacts/bms-1.1.0.img$' GET)
check "download retried after Retry-After: 1 (waited ${waited}s)" python3 -c "assert $waited >= 0.95"
waited=$(gap '/artifacts/gateway-2.4.0.tar.gz$' GET)
check "429 without Retry-After: its own backoff, 0.5 s with jitter (waited ${waited}s)" python3 -c "assert $waited >= 0.2"

# A server that keeps answering 503: exit 3 after max_attempts (2 here), naming the status.
sed -i 's/^  max_attempts: .*/  max_attempts: 2/' "$B/ecuup.yaml"
capture_log=$(grep -c . "$T/capture.jsonl")
capture_start '[{"path":".","status":503,"retry_after":1,"count":1000}]' || exit 1
# the proxy listens on a new port: point the config at it
sed -i "s|^  url: .*|  url: $CAPTURE_URL|" "$B/ecuup.yaml"
expect 3 "report while every answer is 503" "$ecuup" report --progress=none
check "the message names the 503 and the attempts" bash -c "grep -q '503' '$T/err' && grep -q '2 attempts' '$T/err'"
n=$(tail -n +$((capture_log + 1)) "$T/capture.jsonl" | grep -c '"injected": true')
check "ecuup made exactly the attempts it was allowed ($n)" test "$n" -eq 2
finish
