#!/usr/bin/env bash
# `scripts/bench scale` on small counts runs to the end and prints every figure: a row per step and
# ECU count with wall time, ECU work, per-ECU overhead and RSS, then the ratio rows. The values are
# not judged (a benchmark never fails on speed), but what must hold whatever the speed does: the
# ECU work of a step never exceeds its wall time, and every ECU ended flashed.
source "$ECUUP_SRC/test/support/testlib.sh"
for b in ecuup ecuup-sim ecuup-repo; do
  [ -x "$ECUUP_BIN/$b" ] || { echo "skip: $b not built"; exit 125; }
done
expect 0 "bench scale --ecus '1 3'" env ECUUP_BIN="$ECUUP_BIN" "$ECUUP_SRC/scripts/bench" scale --ecus "1 3" --no-parallel
num='[0-9]+\.[0-9]+'
for step in inventory report fetch "backup --read" "flash --jobs 1" backup; do
  for n in 1 3; do
    if grep -qE "^${step} +${n} +${num} +${num} +-?${num} +${num}\$" "$T/out"; then ok "row: $step, $n ECUs"; else
      not_ok "no row for $step with $n ECUs"
      show_output 40
    fi
  done
  check "ratio row: $step" grep -qE "^${step} +${num} +${num}\$" "$T/out"
done
check "work never exceeds wall time" python3 - "$T/out" <<'PY'
import re, sys
rows = [l.split() for l in open(sys.argv[1]) if re.match(r"^[a-z].* \d+ +\d+\.\d+ +\d+\.\d+ ", l)]
# step... N wall work overhead rss: the work of a step never exceeds its wall time.
bad = [r for r in rows if float(r[-3]) > float(r[-4]) + 0.005]
sys.exit(1 if bad or not rows else 0)
PY
check "a flash step did ECU work" python3 - "$T/out" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.startswith("flash --jobs 1 ")]
figures = [r for r in rows if len(r) == 8]
sys.exit(0 if figures and all(float(r[5]) > 0 for r in figures) else 1)
PY

# Parallel flashing at scale, small: 2 buses of 2 ECUs and a DoIP gateway with 1, under --jobs 3.
expect 0 "bench-scale-parallel, small" env ECUUP_BIN="$ECUUP_BIN" "$ECUUP_SRC/scripts/bench-scale-parallel" \
  --buses 2 --per-bus 2 --doip 1 --jobs 3
check "the all-ECU row" grep -qE '^flash --jobs 3: 5 ECUs, 2 CAN buses \+ DoIP +[0-9]+\.[0-9]+$' "$T/out"
check "the busiest-bus row" grep -qE '^flash --jobs 1: the busiest bus alone \(2 ECUs\) +[0-9]+\.[0-9]+$' "$T/out"
check "the ratio row" grep -qE '^ratio .* +[0-9]+\.[0-9]+$' "$T/out"
check "every ECU of the busiest bus was flashed" bash -c "! grep -q 'note: only' '$T/out'"
finish
