#!/usr/bin/env bash
# examples/ci/gitlab-ci.yml and examples/ci/github-actions.yml run as shipped: their jobs' script
# lines run here (test/support/ci_jobs.py: stage order / needs order, when/if, allow_failure,
# retry) against a fresh copy of examples/bench, with each job's outcome asserted: on a fresh
# bench, again on the updated bench, and when a download fails verification or a flash fails.
source "$ECUUP_SRC/test/support/testlib.sh"
python3 -c 'import yaml' 2>/dev/null || { echo "SKIP: python3-yaml is missing (scripts/install-deps installs it)"; exit 125; }
export PATH="$ECUUP_BIN:$PATH"
gitlab="$ECUUP_SRC/examples/ci/gitlab-ci.yml"
github="$ECUUP_SRC/examples/ci/github-actions.yml"

# pipeline KIND FILE RUN: runs the pipeline in $T/RUN (its CI working directory) against the bench
# in $B; the jobs' outcomes end up in $T/RUN.json and, one "job:result:exit" per job, in $T/RUN.jobs.
pipeline() {
  local kind=$1 file=$2 run=$3
  mkdir -p "$T/$run"
  python3 "$ECUUP_SRC/test/support/ci_jobs.py" "$kind" "$file" --workdir "$T/$run" \
    --set ECUUP_CONFIG="$B/ecuup.yaml" --result "$T/$run.json" >"$T/$run.log" 2>&1
  local code=$?
  python3 -c 'import json, sys
for j in json.load(open(sys.argv[1]))["jobs"]:
    print(j["name"], j["result"], "-" if j["exit"] is None else j["exit"], sep=":")' \
    "$T/$run.json" >"$T/$run.jobs" 2>/dev/null
  return $code
}
# jobs_are RUN "job:result:exit"...: the jobs ran in this order with these outcomes.
jobs_are() {
  local run=$1
  shift
  local want got
  want=$(printf '%s\n' "$@")
  got=$(cat "$T/$run.jobs" 2>/dev/null)
  if [ "$want" = "$got" ]; then
    ok "$run: jobs $(echo $got)"
  else
    not_ok "$run: jobs"
    diff <(echo "$want") <(echo "$got") | sed 's/^/    want<  got>: /'
    sed 's/^/    log: /' "$T/$run.log" | tail -40
  fi
}
# expect_pipeline CODE DESC KIND FILE RUN: the runner exits CODE (0 passed, 1 failed).
expect_pipeline() {
  local want=$1 desc=$2
  shift 2
  pipeline "$@"
  local got=$?
  if [ "$got" -eq "$want" ]; then ok "$desc (exit $got)"; else not_ok "$desc: exit $got, expected $want"; fi
}

for kind in gitlab github; do
  file=${!kind}
  # 1. A fresh bench: no backups yet. Every job passes and the bench ends up updated.
  bench "$T/$kind-bench"
  expect_pipeline 0 "$kind: the pipeline passes on a fresh bench" "$kind" "$file" "$kind-fresh"
  jobs_are "$kind-fresh" inventory:passed:0 report:passed:0 fetch:passed:0 backup-read:passed:0 \
    flash:passed:0 backup:passed:0 status:passed:0
  check "$kind: bms updated to 1.1.0" test "$(image_version "$B/ecus/bms.flash")" = 1.1.0
  check "$kind: status.json says nothing is pending" test "$(json_get "$T/$kind-fresh/status.json" 'j["pending"]')" = False
  check "$kind: no ECU had a backup before" python3 -c \
    'import json, sys; sys.exit(any(e["result"] != "none" for e in json.load(open(sys.argv[1]))["ecus"]))' \
    "$T/$kind-fresh/backups.json"
  check "$kind: backup-read read out all three" test "$(grep -Eo '^(bms|gateway|body) +read ' "$T/$kind-fresh.log" | sort -u | wc -l)" -eq 3

  # 2. The same bench again: nothing to do, nothing read out again.
  expect_pipeline 0 "$kind: the pipeline passes again on the updated bench" "$kind" "$file" "$kind-again"
  jobs_are "$kind-again" inventory:passed:0 report:passed:0 fetch:passed:0 backup-read:passed:0 \
    flash:passed:0 backup:passed:0 status:passed:0
  check "$kind: no ECU read out again" grep -q "every ECU has a backup" "$T/$kind-again.log"

  # 3. A download fails verification (exit 4, nothing touched): the later steps are skipped;
  #    status still runs and reports the pending work (10) as a warning; the pipeline fails.
  bench "$T/$kind-bad-download"
  printf 'X' | dd of="$B/repository/bms-1.1.0.img" bs=1 seek=1000 conv=notrunc status=none
  expect_pipeline 1 "$kind: a download that fails verification fails the pipeline" "$kind" "$file" "$kind-bad-download"
  if [ "$kind" = gitlab ]; then
    jobs_are "$kind-bad-download" inventory:passed:0 report:passed:0 fetch:failed:4 backup-read:skipped:- \
      flash:skipped:- backup:skipped:- status:allowed_failure:10
  else
    # The workflow's status step turns 10 into a warning itself.
    jobs_are "$kind-bad-download" inventory:passed:0 report:passed:0 fetch:failed:4 backup-read:skipped:- \
      flash:skipped:- backup:skipped:- status:passed:0
  fi
  check "$kind: bms untouched" test "$(image_version "$B/ecus/bms.flash")" = "$(image_version "$ECUUP_SRC/examples/bench/ecus/bms.flash")"

  # 4. A flash fails midway (exit 5, the ECU restored): not retried, backup skipped, status fails.
  bench "$T/$kind-bad-flash"
  mkdir -p "$B/faults" && echo "fail-write 1" >"$B/faults/bms"
  expect_pipeline 1 "$kind: a failed flash fails the pipeline" "$kind" "$file" "$kind-bad-flash"
  jobs_are "$kind-bad-flash" inventory:passed:0 report:passed:0 fetch:passed:0 backup-read:passed:0 \
    flash:failed:5 backup:skipped:- status:failed:5
  check "$kind: the failed flash was not retried" test "$(json_get "$T/$kind-bad-flash.json" \
    '[x["attempts"] for x in j["jobs"] if x["name"] == "flash"]')" = "[1]"
done
finish
