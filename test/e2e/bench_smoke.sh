#!/usr/bin/env bash
# `scripts/bench flash --smoke` runs to the end and prints every figure line: each link's
# throughput row, the rows against the issue's reference ceilings, the DoIP 4 MiB end-to-end row
# and the RSS row, with numbers
# in their columns. The values are not judged (a benchmark never fails on speed); on this
# sanitizer build it must say that the figures are meaningless.
source "$ECUUP_SRC/test/support/testlib.sh"
for b in ecuup ecuup-sim; do
  [ -x "$ECUUP_BIN/$b" ] || { echo "skip: $b not built"; exit 125; }
done

expect 0 "bench flash --smoke" env ECUUP_BIN="$ECUUP_BIN" "$ECUUP_SRC/scripts/bench" flash --smoke
num='[0-9]+(\.[0-9]+)?'
# figure LABEL REGEX_AFTER_LABEL: a line that is LABEL, then figures matching the regex.
figure() {
  local label=$1 rest=$2 n
  n=$(grep -cE "^${label} +${rest}\$" "$T/out")
  if [ "$n" -ge 1 ]; then ok "figure line: $label"; else
    not_ok "no figure line '$label' matching /$rest/"
    show_output 60
  fi
}
figure 'CAN 500k, 8-byte frames' "$num +$num +$num +[0-9]+ KiB"
figure 'CAN FD 500k/2M, 64-byte frames' "$num +$num +$num +[0-9]+ KiB"
figure 'DoIP loopback, 4 KiB blocks' "$num +- +- +[0-9]+ MiB"
figure 'DoIP loopback, 64 KiB blocks' "$num +- +- +[0-9]+ MiB"
# Against the issue's reference ceilings: 30.1 and 183 kB/s are the issue's, printed as given.
figure 'CAN 500k, 8-byte frames' "$num +30\.1 +$num"
figure 'CAN FD 500k/2M, 64-byte frames' "$num +183 +$num"
figure '1 MiB image, DoIP 64 KiB blocks' "[0-9]+ MiB +[0-9:.]+ +$num"
# The end-to-end DoIP flash: total, download and reset seconds.
figure 'DoIP 4 MiB, 4 KiB blocks' "$num +$num +$num"
check "one ceiling note per modelled bus" test "$(grep -cE '^  (can500|canfd): 4095-byte TransferData' "$T/out")" -eq 2

# This is the sanitizer build the tests run on (ECUUP_SANITIZE=ON): the warning must be there,
# on stdout with the figures and on stderr as the run starts. A plain build must not get it.
# grep -c reads all of ldd's output: grep -q could exit first and fail the pipe under pipefail.
if [ "$(ldd "$ECUUP_BIN/ecuup" | grep -cE 'lib(a|ub)san')" -gt 0 ]; then
  check "sanitizer warning with the figures" out_has 'is a sanitizer build: these figures are meaningless'
  check "sanitizer warning as the run starts" err_has 'is a sanitizer build: these figures are meaningless'
else
  check "no sanitizer warning on a plain build" bash -c "! grep -q 'sanitizer build' '$T/out' '$T/err'"
fi
finish
