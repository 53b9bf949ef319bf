#!/usr/bin/env bash
# examples/ci/pipeline.sh runs the bench example to the end. (The GitLab and GitHub pipelines:
# ci_examples.sh; the systemd units, as installed: package_deb.sh.)
source "$ECUUP_SRC/test/support/testlib.sh"
bench
export ECUUP="$ecuup" CI_LOG_DIR="$T"
expect 0 "the CI pipeline example" bash "$ECUUP_SRC/examples/ci/pipeline.sh"
check "bms on 1.1.0" test "$(image_version "$B/ecus/bms.flash")" = 1.1.0
check "status JSON written" json_get "$T/ecuup-status.json" 'j["pending"] is False'
check "log written" grep -q "flash finished: exit 0" "$T/ecuup.log"
finish
