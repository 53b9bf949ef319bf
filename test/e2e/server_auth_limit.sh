#!/usr/bin/env bash
# ecuup-server rate-limits failed authentication per client address: after --auth-failure-limit
# failures (DDI or management API) within --auth-failure-window seconds, the address gets 429 with
# Retry-After -- even with a valid token, and before a body is read -- until the window ends;
# another address (127.0.0.2, also loopback) is not affected meanwhile.
source "${ECUUP_SRC:-.}/test/e2e/server_lib.bash"
export ECUUP_SERVER_ADMIN_TOKEN=admin-secret
tok=auth-limit-token-0123456789ab
admin vehicle add V1 --token "$tok" >/dev/null
start_server --auth-failure-limit 3 --auth-failure-window 3
base=/DEFAULT/controller/v1/V1
# get FROM_ADDRESS AUTH PATH: status in $STATUS, headers in $T/headers.
get() { STATUS=$(curl -s --interface "$1" -D "$T/headers" -o "$T/body" -w "%{http_code}" -H "Authorization: $2" "$URL$3") || true; }
retry_after() { sed -n 's/^Retry-After: *\([0-9]*\).*/\1/Ip' "$T/headers"; }
other=127.0.0.2
get $other "TargetToken $tok" "$base"
if [[ $STATUS == 000 ]]; then
  echo "note: cannot send from $other here; the other-address check is skipped"
  other=
fi

get 127.0.0.1 "TargetToken $tok" "$base"; expect 200 "valid token"
get 127.0.0.1 "TargetToken wrong" "$base"; expect 401 "failure 1"
get 127.0.0.1 "Bearer wrong" /api/v1/vehicles; expect 401 "failure 2 (management API)"
get 127.0.0.1 "TargetToken wrong" "$base"; expect 401 "failure 3"
start=$(date +%s.%N)
get 127.0.0.1 "TargetToken $tok" "$base"; expect 429 "valid token after 3 failures"
[[ $(jget 'd["errorCode"]') == hawkbit.server.error.auth.tooManyFailures ]] || fail "429 body: $(cat "$T/body")"
wait_s=$(retry_after)
[[ $wait_s =~ ^[1-3]$ ]] || fail "Retry-After '$wait_s' not within the 3 s window"
get 127.0.0.1 "Bearer admin-secret" /api/v1/vehicles; expect 429 "management API from a refused address"
rc=0
"$SERVER" admin --url "$URL" list vehicles >"$T/out" 2>&1 || rc=$?
[[ $rc == 3 ]] && grep -q "HTTP 429" "$T/out" || fail "admin --url from a refused address: exit $rc: $(cat "$T/out")"
# Refused before the body: a 100 KB configData from the refused address is answered 429, not 413.
head -c 100000 /dev/zero >"$T/zeros"
STATUS=$(curl -s -o "$T/body" -w '%{http_code}' -X PUT -H "Authorization: TargetToken $tok" \
  --data-binary "@$T/zeros" "$URL$base/configData"); expect 429 "body from a refused address"
if [[ -n $other ]]; then
  get $other "TargetToken $tok" "$base"; expect 200 "another address meanwhile"
fi

# The window ends: the address may try again.
sleep "$(python3 -c "import time; print(max(0.0, $start + $wait_s + 0.2 - time.time()))")"
get 127.0.0.1 "TargetToken $tok" "$base"; expect 200 "valid token after the window"
get 127.0.0.1 "Bearer admin-secret" /api/v1/vehicles; expect 200 "management API after the window"
echo "server_auth_limit: ok"
