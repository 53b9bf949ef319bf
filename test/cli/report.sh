#!/usr/bin/env bash
# CLI contract of `ecuup report`, and its happy path on the example bench.
source "$ECUUP_SRC/test/support/testlib.sh"
source "$ECUUP_SRC/test/support/cli_contract.sh"
contract report
bench
expect 1 "report before inventory names the missing step" "$ecuup" report
check "hint to run inventory" err_has "run \`ecuup inventory\` first"
"$ecuup" inventory >/dev/null 2>&1
cp "$B/state/manifest.yaml" "$T/manifest.before"
expect 0 "report --dry-run" "$ecuup" report --dry-run
check "dry run shows the task the repository would give" out_has "bms .*would-task .*1.0.0 -> 1.1.0 (131136 bytes)"
check "dry run leaves the manifest byte-identical" cmp -s "$B/state/manifest.yaml" "$T/manifest.before"
check "dry run tells the repository nothing" test ! -e "$B/repository/reports"
expect 0 "report" "$ecuup" report
check "bms gets a task" out_has "bms .*task .*1.0.0 -> 1.1.0"
check "body is up to date" out_has "body .*up-to-date"
check "the repository recorded the inventory" test -f "$B/repository/reports/bench-vehicle-1.json"
# A release older than what is installed is a downgrade: refused unless the config allows it.
sed -i 's/version: 1.1.0/version: 0.5.0/' "$B/repository/releases.yaml"
expect 2 "downgrade refused" "$ecuup" report
check "downgrade is explained" err_has "downgrade from 1.0.0 to 0.5.0 refused"
sed -i 's/allow_downgrade: false/allow_downgrade: true/' "$B/ecuup.yaml"
expect 0 "downgrade allowed by config" "$ecuup" report
check "downgrade task recorded" out_has "bms .*task .*1.0.0 -> 0.5.0"
rm "$B/repository/releases.yaml"
expect 3 "repository unavailable -> exit 3" "$ecuup" report
finish
