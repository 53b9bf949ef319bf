#!/usr/bin/env bash
# What killed runs leave in the state directory (temp siblings of atomic writes, backup copies and
# read-outs that never reached the store, half-extracted archives) is removed by the next step
# that takes the manifest lock; resumable downloads, backups, statements and extracted artifacts
# stay, and readers and dry runs remove nothing.
source "$ECUUP_SRC/test/support/testlib.sh"
bench
prepare_flash || { echo "setup failed"; exit 1; }
S=$B/state
listing() { (cd "$S" && find . -mindepth 1 ! -name manifest.lock ! -name progress.jsonl | sort); }
before=$(listing)
[ -d "$S/backups/bms" ] && [ -n "$(ls "$S"/downloads/*.d 2>/dev/null)" ] || { echo "setup: no backup or extracted artifact"; exit 1; }
extracted=$(ls -d "$S"/downloads/*.d | head -1)

# What kill -9 at each point would have left, 64 KiB each.
dead=("$S/.manifest.yaml.tmp.4242.0123abcd" "$S/backups/.readout-bms" "$S/backups/bms/.incoming.4242"
      "$S/downloads/partial/.abc.part.meta.tmp.4242.77")
for f in "${dead[@]}"; do head -c 65536 /dev/urandom >"$f"; done
mkdir -p "$S/downloads/.deadbeef.d.extract-Xy12Ab/sub" && echo half >"$S/downloads/.deadbeef.d.extract-Xy12Ab/sub/f"
# Kept: a resumable download, and a file of an extracted artifact whose name only looks like one.
head -c 1000 /dev/urandom >"$S/downloads/partial/feed.part"
echo inside >"$extracted/.x.tmp.1.2"

expect 0 "a dry run" "$ecuup" flash --dry-run --progress=none
expect 10 "status --no-sync" "$ecuup" status --no-sync --progress=none
check "readers and dry runs remove nothing" bash -c 'for f in "$@"; do [ -e "$f" ] || exit 1; done' _ "${dead[@]}"

expect 10 "status (takes the lock)" "$ecuup" status --progress=none
for f in "${dead[@]}" "$S/downloads/.deadbeef.d.extract-Xy12Ab"; do
  check "removed: ${f#"$S"/}" test ! -e "$f"
done
check "a resumable download stays" test -s "$S/downloads/partial/feed.part"
check "a file inside an extracted artifact stays" test -s "$extracted/.x.tmp.1.2"
rm -f "$S/downloads/partial/feed.part" "$extracted/.x.tmp.1.2"
check "everything else is as it was" test "$(listing)" = "$before"
expect 0 "the update goes on" "$ecuup" flash --progress=none
finish
