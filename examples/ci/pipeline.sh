#!/usr/bin/env bash
# A hardware-in-the-loop CI job as shell steps, one ecuup subcommand per step, so the CI system
# shows which step failed and can retry just that one. Exit codes (see ecuup(1)) drive the flow:
#   3 = server/network: retry later   4 = a download failed verification: nothing was touched
#   5 = flash failed, ECU restored    6 = flash AND restore failed: stop the bench, call a person
#   7 = another ecuup holds the bench (use --wait)
#   8 = refused: the server rejected the token, or TLS trust failed; never retried, a person must act
#   9 = wrong vehicle (VIN)           11 = an ECU's preconditions are not met (battery, speed, bench
#                                        supply): nothing was touched; make the bench safe, run again
# Usage: ECUUP_CONFIG=/path/to/ecuup.yaml examples/ci/pipeline.sh
set -uo pipefail
ecuup=${ECUUP:-ecuup}
opts=(--progress=plain --log-file "${CI_LOG_DIR:-.}/ecuup.log" --wait 600)

step() {
  echo "::step $*"
  "$ecuup" "$@" "${opts[@]}"
  code=$?
  case $code in
    0) return 0 ;;
    3) echo "::warning server unreachable during '$1'; retrying once in 30 s"; sleep 30
       "$ecuup" "$@" "${opts[@]}" || exit $? ;;
    8) echo "::error '$1' refused: the server rejected the bench's token, or TLS trust failed; fix the credentials"
       exit 8 ;;
    11) echo "::error '$1': an ECU's preconditions are not met (see the log); nothing was touched"
        exit 11 ;;
    6) echo "::error '$1': an ECU failed to flash AND to restore; the bench needs a person"
       "$ecuup" status --json --progress=none > "${CI_LOG_DIR:-.}/ecuup-status.json"; exit 6 ;;
    *) echo "::error '$1' failed with exit $code"; exit $code ;;
  esac
}

step inventory
step report
step fetch
# First run on a new bench: read every ECU's software out as its backup (flash refuses without one).
"$ecuup" backup --list --json --progress=none | python3 -c '
import json, sys
missing = [e["name"] for e in json.load(sys.stdin)["ecus"] if e["result"] == "none"]
print(" ".join("--ecu " + m for m in missing))' > /tmp/ecuup-missing-backups
if [ -s /tmp/ecuup-missing-backups ]; then
  # shellcheck disable=SC2046
  step backup --read $(cat /tmp/ecuup-missing-backups)
fi
step flash
step backup
"$ecuup" status --json --progress=none > "${CI_LOG_DIR:-.}/ecuup-status.json"
code=$?
[ "$code" -eq 0 ] || { echo "::error status exit $code"; exit $code; }
