#!/usr/bin/env bash
# The README's first command, minus installing and building: scripts/demo against this build.
# It exits 0, round 1's unsigned release is refused (exit 4) until ecuup-repo signs it, round 2's
# power loss is exit 5 with bms back on its backup (2.4.0), the retry
# converges (bms 2.5.0), and the source tree is left as it was (the demo works in mktemp copies).
source "$ECUUP_SRC/test/support/testlib.sh"
for b in ecuup ecuup-sim ecuup-server ecuup-repo; do
  [ -x "$ECUUP_BIN/$b" ] || { echo "skip: $b not built"; exit 125; }
done

marker="$T/started"
touch "$marker"
sleep 1  # file times have a granularity: what the demo writes must be strictly newer
# The demo's output with the terminal escapes of its headings removed.
ECUUP_SKIP_DEPS=1 ECUUP_BIN="$ECUUP_BIN" "$ECUUP_SRC/scripts/demo" >"$T/raw" 2>"$T/err"
rc=$?
sed 's/\x1b\[[0-9;]*m//g' "$T/raw" >"$T/out"
if [ "$rc" -eq 0 ]; then ok "demo exits 0"; else
  not_ok "demo exited $rc"
  grep -n 'expected exit\|did not\|error' "$T/out" | head -20
  tail -n 20 "$T/err"
fi
check "no step reported a wrong exit status" bash -c "! grep -q 'demo: expected exit' '$T/out'"
check "the demo's verdict" out_has '^demo: every step behaved as expected$'

# Round 1: report refuses bms's unsigned release by rule 'signature', and passes once it is signed.
sed -n '/^== Round 1/,/^== Round 2/p' "$T/out" >"$T/round1"
check "round 1: the unsigned release: report exits 4" \
  bash -c "grep -A400 '^== report refuses the unsigned release' '$T/round1' | grep -m1 '^(exit ' | grep -qx '(exit 4)'"
check "round 1: the refusal names bms and the rule" bash -c "grep \"rule 'signature'\" '$T/err' | grep -q bms"
check "round 1: ecuup-repo verify passes after signing" grep -q '^bms 2.4.0: ok' "$T/round1"
check "round 1: report after signing exits 0" \
  bash -c "grep -A400 '^== The publisher signs' '$T/round1' | grep -A400 '^\\$ ecuup report' | grep -m1 '^(exit ' | grep -qx '(exit 0)'"

# The lines of round 2 (power loss) up to round 3, in order.
sed -n '/^== Round 2/,/^== Round 3/p' "$T/out" >"$T/round2"
# next_after PATTERN LINE_NO: the first line number > LINE_NO matching PATTERN (0 when none).
next_after() { awk -v p="$1" -v n="$2" 'NR > n && $0 ~ p { print NR; found = 1; exit } END { if (!found) print 0 }' "$T/round2"; }
flash=$(next_after '^\$ ecuup flash$' 0)
exit5=$(next_after '^\(exit 5\)$' "$flash")
check "round 2: the power-loss flash exits 5" test "$flash" -gt 0 -a "$exit5" -gt 0
bms_runs=$(next_after '^bms runs: ' "$exit5")
check "round 2: after exit 5 bms runs its backup 2.4.0" \
  bash -c "sed -n '${bms_runs}p' '$T/round2' | grep -q '^bms runs: .*2\.4\.0'"
retry=$(next_after '^\$ ecuup flash$' "$exit5")
retry_rc=$(next_after '^\(exit ' "$retry")
check "round 2: the retried flash exits 0" bash -c "[ $retry -gt 0 ] && sed -n '${retry_rc}p' '$T/round2' | grep -qx '(exit 0)'"
# status after the retry: both UDS ECUs on the versions the repository offers.
status=$(next_after '^\$ ecuup status$' "$retry")
: >"$T/status2"
[ "$status" -gt 0 ] && sed -n "${status},\$p" "$T/round2" >"$T/status2"
check "status after the retry: bms runs 2.5.0" grep -qE '^bms .*2\.5\.0' "$T/status2"
check "status after the retry: gateway runs 1.1.0" grep -qE '^gateway .*1\.1\.0' "$T/status2"

check "round 3: the write fault is exit 5 too" grep -q '^(exit 5)$' <(sed -n '/^== Round 3/,/^== Round 4/p' "$T/out")
check "round 4: ecuup-server listened" out_has '^ecuup-server listening on http://127.0.0.1:'

# Round 5: OEM containers; the dry run shows the VBF set's boot loader step and the PDX's segments.
sed -n '/^== Round 5/,/^== Result/p' "$T/out" >"$T/round5"
check "round 5: the dry run lists the boot loader" grep -q 'boot loader: start sbl.vbf at 0x20000000' "$T/round5"
check "round 5: the dry run lists the PDX's calibration segment" grep -q 'download 0x00010000 4064 bytes' "$T/round5"
check "round 5: every ecuup step exits 0" bash -c "! grep '^(exit ' '$T/round5' | grep -vqx '(exit 0)'"
check "round 5: status shows eng 2.0.0 and bcm 3.0.0" \
  bash -c "grep -qE '^eng .*2\.0\.0' '$T/round5' && grep -qE '^bcm .*3\.0\.0' '$T/round5'"

# Nothing was written into the source tree. Build directories (a CMakeCache.txt, or build/, the
# default of scripts/demo and of scripts/vm's cache) are where other tests may write meanwhile.
changed=$(find "$ECUUP_SRC" -mindepth 1 \( -name .git -o -path "$ECUUP_SRC/build" -o -exec test -f '{}/CMakeCache.txt' \; \) \
  -prune -o -newer "$marker" -print | head -n 5)
if [ -z "$changed" ]; then ok "the source tree is untouched"; else not_ok "the demo wrote into the source tree: $changed"; fi
finish
