#!/usr/bin/env bash
# CLI contract of `ecuup update`, and its happy path on the example bench.
source "$ECUUP_SRC/test/support/testlib.sh"
source "$ECUUP_SRC/test/support/cli_contract.sh"
contract update
bench
# On a fresh bench, a dry run plans every step on what the steps before it would have done.
expect 0 "update --dry-run on a fresh bench" "$ecuup" update --dry-run --json
# plan_is STEP ECU GLOB: that ECU's "result:detail" in that step of the JSON plan matches GLOB.
plan_is() {
  local got
  got=$(python3 -c "import json,sys; j=json.load(open('$T/out')); s={x['step']:x for x in j['steps']}; print(' '.join(e['result']+':'+e['detail'] for e in s[sys.argv[1]]['ecus'] if e['name']==sys.argv[2]))" "$1" "$2")
  # shellcheck disable=SC2053
  [[ $got == $3 ]] || { echo "    $1 $2: $got"; return 1; }
}
check "report would give bms its task" plan_is report bms 'would-task:1.0.0 -> 1.1.0 (131136 bytes)'
check "fetch would download its bytes" plan_is fetch bms 'would-fetch:1 artifact(s), 131136 bytes'
check "flash plans bms first (order 1), its backup read out first" \
  plan_is flash bms 'would-flash:1.0.0 -> 1.1.0, 131136 bytes once fetched, backup read out first, order 1'
check "flash plans gateway second (order 2)" plan_is flash gateway '*2.3.0 -> 2.4.0*order 2'
check "body is up to date" plan_is report body 'up-to-date:*'
check "no manifest written" test ! -e "$B/state/manifest.yaml"
check "nothing downloaded" test ! -e "$B/state/downloads"
check "the repository was told nothing" test ! -e "$B/repository/reports"
"$ecuup" inventory >/dev/null 2>&1
cp "$B/state/manifest.yaml" "$T/manifest.before"
expect 0 "update --dry-run" "$ecuup" update --dry-run
check "dry run flashes nothing" test "$(image_version "$B/ecus/bms.flash")" = 1.0.0
check "dry run leaves the manifest byte-identical" cmp -s "$B/state/manifest.yaml" "$T/manifest.before"
expect 0 "update runs every step, reading backups it lacks" "$ecuup" update --progress=none
check "bms on 1.1.0" test "$(image_version "$B/ecus/bms.flash")" = 1.1.0
check "gateway on 2.4.0" test "$(image_version "$B/ecus/gateway.flash")" = 2.4.0
check "status shown last" out_has "status of bench-vehicle-1"
expect 0 "a second update has nothing to do" "$ecuup" update --json
check "JSON lists all steps" bash -c "python3 -c 'import json,sys; j=json.load(sys.stdin); assert [s[\"step\"] for s in j[\"steps\"]]==[\"inventory\",\"report\",\"fetch\",\"flash\",\"backup\"]' <'$T/out'"
finish
