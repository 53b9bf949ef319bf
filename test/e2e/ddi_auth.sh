#!/usr/bin/env bash
# A wrong DDI token: report exits 3 with a message about authentication, and the token appears
# nowhere (stdout, stderr, log file, manifest).
source "$ECUUP_SRC/test/support/testlib.sh"
source "$ECUUP_SRC/test/support/ddi_server.sh"
srv_start || exit 1
srv_upload_bench
ddi_bench "$T/bench" bench-vehicle-1 right-token-4711
srv_admin assign --part bms --version 1.1.0 --all >/dev/null
expect 0 inventory "$ecuup" inventory --progress=none
expect 0 "report with the right token: a task for bms" "$ecuup" report --progress=none
check "the right token is not printed" bash -c "! grep -q right-token-4711 '$T/out' '$T/err'"
secret=Wr0ngT0ken-s3cr3t-9876
export ECUUP_DDI_TOKEN=$secret
expect 8 "report with a wrong token (refused)" "$ecuup" report -vv --log-file "$T/ecuup.log" --progress=plain
check "the message says the server refused the credentials" grep -Eqi "401|unauthori[sz]ed|token|authenticat" "$T/err"
check "the token is not in stdout, stderr, the log or the state" bash -c "! grep -rq -- '$secret' '$T/out' '$T/err' '$T/ecuup.log' '$B/state'"
expect 8 "fetch (of the task) with a wrong token (refused)" "$ecuup" fetch --progress=none
check "the token is not printed by fetch either" bash -c "! grep -q -- '$secret' '$T/out' '$T/err'"
unset ECUUP_DDI_TOKEN
expect 2 "no token at all: a config error naming the variable" "$ecuup" report --progress=none
check "it names ECUUP_DDI_TOKEN" err_has ECUUP_DDI_TOKEN
export ECUUP_DDI_TOKEN=right-token-4711
expect 0 "the right token fetches" "$ecuup" fetch --progress=none
finish
