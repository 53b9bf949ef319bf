#!/usr/bin/env bash
# Contract: every JSON body ecuup sends to ecuup-server (configData, action and cancel feedback)
# and every JSON answer it reads (controller base, deploymentBase, cancelAction) is captured by a
# proxy and validated against hawkBit's DDI OpenAPI description with openapi_check.py.
source "$ECUUP_SRC/test/support/testlib.sh"
source "$ECUUP_SRC/test/support/ddi_server.sh"
SPEC=${ECUUP_DDI_SPEC:-}
for c in "$ECUUP_SRC/contracts" "$ECUUP_SRC/test/contracts" "$ECUUP_SRC/../shared/contracts"; do
  [ -z "$SPEC" ] && [ -f "$c/hawkbit-ddi-openapi.json" ] && SPEC=$c/hawkbit-ddi-openapi.json
done
[ -n "$SPEC" ] || { echo "skip: hawkBit DDI OpenAPI description not found"; exit 125; }
srv_start || exit 1
srv_upload_bench
capture_start || exit 1
SRV_URL=$CAPTURE_URL ddi_bench
srv_admin assign --part bms --version 1.1.0 --all >/dev/null
srv_admin assign --part gateway --version 2.4.0 --all >/dev/null
expect 0 inventory "$ecuup" inventory --progress=none
expect 0 report "$ecuup" report --progress=none
srv_admin cancel --vehicle bench-vehicle-1 >/dev/null
expect 0 "report: the cancel is accepted" "$ecuup" report --progress=none
srv_admin assign --part bms --version 1.1.0 --all >/dev/null
expect 0 "report: a new action" "$ecuup" report --progress=none
check "fetch, flash, backup" bash -c "exec >/dev/null 2>&1; '$ecuup' fetch --progress=none && '$ecuup' backup --read --progress=none && '$ecuup' flash --progress=none && '$ecuup' backup --progress=none >/dev/null 2>&1"
expect 0 "a last report" "$ecuup" report --progress=none

# Split the capture into files named after the schema each body must satisfy.
python3 - "$T/capture.jsonl" "$T/bodies" <<'PY' || not_ok "capture split"
import json, os, re, sys
out = sys.argv[2]; os.makedirs(out)
base = r"^/DEFAULT/controller/v1/bench-vehicle-1"
rules = [("PUT", base + r"/configData$", "request", "DdiConfigData"),
         ("POST", base + r"/deploymentBase/[^/]+/feedback$", "request", "DdiActionFeedback"),
         ("POST", base + r"/cancelAction/[^/]+/feedback$", "request", "DdiActionFeedback"),
         ("GET", base + r"(\?.*)?$", "response", "DdiControllerBase"),
         ("GET", base + r"/deploymentBase/[^/?]+(\?.*)?$", "response", "DdiDeploymentBase"),
         ("GET", base + r"/cancelAction/[^/?]+$", "response", "DdiCancel")]
n = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    for method, pattern, side, schema in rules:
        if e["method"] == method and re.match(pattern, e["path"]) and e["status"] < 300:
            n += 1
            with open(f"{out}/{n:03d}-{schema}-{side}.json", "w") as f: f.write(e[side])
PY
for schema in DdiConfigData DdiActionFeedback DdiControllerBase DdiDeploymentBase DdiCancel; do
  count=$(ls "$T/bodies" | grep -c -- "-$schema-")
  check "captured $count $schema bodies" test "$count" -gt 0
done
check "cancel feedback was among them" bash -c "grep -l '\"closed\"' '$T/bodies'/*DdiActionFeedback* >/dev/null"
bad=0
for f in "$T"/bodies/*.json; do
  schema=$(basename "$f" | cut -d- -f2)
  if ! python3 "$ECUUP_SRC/test/support/openapi_check.py" "$SPEC" "$schema" "$f" --strict >"$T/check.out" 2>&1; then
    bad=$((bad + 1)); echo "    $(basename "$f"): $(head -3 "$T/check.out")"; sed 's/^/      /' "$f" | head -5
  fi
done
check "every captured body matches its hawkBit schema ($(ls "$T/bodies" | wc -l) bodies)" test "$bad" -eq 0
check "feedback used the expected executions" bash -c "cat '$T'/bodies/*DdiActionFeedback* | grep -q '\"proceeding\"'"
finish
