#!/usr/bin/env bash
# The CI slice of scripts/torture (issue 13): 50 randomised interruptions of `ecuup update` (kill -9,
# SIGINT, SIGTERM, SIGHUP, ECU power cuts, ecuup-sim faults, image write faults) over the sim and the
# image bench, from a fixed seed, each followed by up to 3 undisturbed reruns. Fails when any trial
# fails a check (torn manifest, altered backup, no convergence, ECU left in its boot loader, a false
# exit 6, death by signal, an exit code that lies). Replay one trial with the command it prints;
# TORTURE_KEEP=DIR keeps the failing trials' directories.
set -uo pipefail
: "${ECUUP_BIN:?set ECUUP_BIN to the build bin directory}"
: "${ECUUP_SRC:?set ECUUP_SRC to the source directory}"
for b in ecuup ecuup-sim; do
  [[ -x $ECUUP_BIN/$b ]] || { echo "skip: $ECUUP_BIN/$b not built"; exit 125; }
done
command -v python3 >/dev/null || { echo "skip: python3 missing"; exit 125; }
exec python3 "$ECUUP_SRC/scripts/torture" --trials 50 --seed 13000 --bench all --jobs 2 --timeout 40 \
  --bin "$ECUUP_BIN" --quiet ${TORTURE_KEEP:+--keep "$TORTURE_KEEP"}
