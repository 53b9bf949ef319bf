#!/usr/bin/env bash
# --progress=bar on a real pseudo-terminal: ECUs flashed in parallel each get a live line, redrawn
# in place; each finished job leaves one final line; nothing is left half-drawn, no line overflows
# the terminal's width, and a restore shows as its own line. The screen is what a terminal would
# show after interpreting the escape sequences (test/support/tty_screen.py).
source "$ECUUP_SRC/test/support/testlib.sh"
screen="$ECUUP_SRC/test/support/tty_screen.py"
cols=90

# bms and gateway at the same order, slow enough for several redraws each.
bench
sed -i "s/write_speed_bps: 1048576/write_speed_bps: 150000/; s/order: 2/order: 1/" "$B/ecuup.yaml"
cd "$B" && prepare_flash || { not_ok "prepare the bench"; finish; }

expect 0 "parallel flash with bars on a terminal" python3 "$screen" $cols "$T/raw" "$T/screen" -- "$ecuup" flash --progress=bar -v
show_screen() { sed 's/^/    screen: /' "$T/screen"; }
for ecu in bms gateway; do
  n=$(grep -c "^$ecu flash done: [0-9.]* KiB in [0-9.]* s" "$T/screen")
  if [ "$n" -eq 1 ]; then ok "$ecu: one final line, done"; else not_ok "$ecu: $n final lines"; show_screen; fi
done
if grep -q "ETA [0-9]\|[0-9]%" "$T/screen"; then not_ok "a live line was left on the screen"; show_screen; else ok "no live line left behind"; fi
# Two live lines at once: the board moved the cursor up over two rows to redraw them.
check "both jobs were live on the board at the same time" grep -qa $'\e\[2A' "$T/raw"
check "the result table follows the finished lines" bash -c "grep -n 'gateway flash' '$T/screen' | head -1 | cut -d: -f1 | \
  xargs -I{} awk 'NR>{} && /^ECU +RESULT/ {found=1} END {exit !found}' '$T/screen'"
if grep -q "done.*ecuup:\|ecuup:.*\[#" "$T/screen"; then not_ok "a note shares a line with a bar"; show_screen; else ok "notes on lines of their own"; fi

# A failed flash: its line ends FAILED, the restore gets a line of its own, exit 5.
bench "$T/bench2"
sed -i "s/write_speed_bps: 1048576/write_speed_bps: 150000/; s/order: 2/order: 1/" "$B/ecuup.yaml"
cd "$B" && prepare_flash || { not_ok "prepare the second bench"; finish; }
mkdir -p "$B/faults" && echo "fail-write 1" >"$B/faults/bms"
expect 5 "a failed flash beside a good one, on a terminal" python3 "$screen" $cols "$T/raw" "$T/screen" -- "$ecuup" flash --progress=bar
check "bms: its flash line ends FAILED" grep -q "^bms flash FAILED: " "$T/screen"
check "bms: the restore has a line of its own, done" grep -q "^bms restore done: " "$T/screen"
check "gateway: done beside it" grep -q "^gateway flash done: " "$T/screen"
if grep -q "ETA [0-9]\|[0-9]%" "$T/screen"; then not_ok "a live line was left on the screen"; show_screen; else ok "no live line left behind"; fi

# --progress=auto (the default): bars on a terminal, plain lines without escapes off one.
bench "$T/bench3"
cd "$B" && prepare_flash || { not_ok "prepare the third bench"; finish; }
expect 0 "default progress on a terminal" python3 "$screen" $cols "$T/raw" "$T/screen" -- "$ecuup" flash --ecu bms
check "auto on a terminal draws bars (cursor movement)" grep -qa $'\e\[' "$T/raw"
"$ecuup" restore --ecu bms --progress=none >/dev/null 2>&1
expect 0 "default progress into a pipe" "$ecuup" flash --ecu bms
check "auto off a terminal: plain lines" err_has "^bms flash: done"
check "auto off a terminal: no escape sequences" bash -c "! grep -qa $'\e' '$T/err'"
finish
