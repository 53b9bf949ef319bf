#!/usr/bin/env bash
# The command driver with a vendor-style tool whose images carry no ecuup header: {ecu}, {image}
# and {version} reach the tool (the task's target when flashing, the backup's when restoring), a
# failing tool is restored from the backup (exit 5), and exit status + stdout are the contract.
source "$ECUUP_SRC/test/support/testlib.sh"
W=$T/bench
mkdir -p "$W/repository" "$W/tools"
cat >"$W/tools/vendor-flasher" <<'SH'
#!/bin/sh
# vendor-flasher ECU version|flash|read ...: memory in ECU.mem, version in ECU.ver, calls logged.
set -eu
ecu=$1 cmd=$2; shift 2
echo "$cmd ecu=$ecu $*" >>calls.log
case "$cmd" in
  version) cat "$ecu.ver" ;;
  flash)   image=$1 version=$2
           [ ! -e "fail-$ecu" ] || { rm "fail-$ecu"; echo "programming error at 0x8000" >&2; exit 3; }
           cp "$image" "$ecu.mem" && echo "$version" >"$ecu.ver" ;;
  read)    cp "$ecu.mem" "$1" ;;
esac
SH
chmod +x "$W/tools/vendor-flasher"
head -c 20000 /dev/urandom >"$W/ecm.mem"; echo 2.0.0 >"$W/ecm.ver"
release() {  # release VERSION: a headerless binary as the newest ecm release
  head -c 30000 /dev/urandom >"$W/repository/ecm-$1.bin"
  cat >"$W/repository/releases.yaml" <<YAML
releases:
  ecm:
    version: $1
    artifact: ecm-$1.bin
    sha256: $(sha256sum <"$W/repository/ecm-$1.bin" | cut -d' ' -f1)
YAML
}
cat >"$W/ecuup.yaml" <<'YAML'
vehicle: cmd-bench
state_dir: state
server: {kind: dir, path: repository}
ecus:
  - name: ecm
    driver: command
    command:
      version: tools/vendor-flasher {ecu} version
      flash: tools/vendor-flasher {ecu} flash {image} {version}
      read: tools/vendor-flasher {ecu} read {output}
YAML
export ECUUP_CONFIG=$W/ecuup.yaml
release 3.1.0
for step in inventory report fetch; do
  expect 0 "$step" "$ecuup" $step --progress=none
done
expect 0 "backup --read" "$ecuup" backup --read --progress=plain
read_size=$(stat -c %s "$(ls "$W"/state/backups/ecm/* | head -1)")
check "its progress counts the bytes the tool read ($read_size), not 0 B" err_has "ecm read: done, $(python3 -c "print(f'{$read_size/1024:.1f} KiB')") in"
expect 0 "flash through the vendor tool" "$ecuup" flash --progress=jsonl
image_size=$(stat -c %s "$W/repository/ecm-3.1.0.bin")
check "the flash's progress ends with the whole image acknowledged by the tool" \
  err_has "\"done\":$image_size,\"ecu\":\"ecm\",\"event\":\"end\""
check "the tool got {ecu}, {image} and the target {version}" grep -q "^flash ecu=ecm .*/state/downloads/.* 3.1.0$" "$W/calls.log"
check "the ECU holds the release" cmp -s "$W/ecm.mem" "$W/repository/ecm-3.1.0.bin"
expect 0 "backup keeps it" "$ecuup" backup --progress=none
backup_file=$(ls "$W"/state/backups/ecm/* | head -1)

release 3.2.0
touch "$W/fail-ecm"   # the next flash fails (once)
for step in inventory report fetch; do "$ecuup" $step --progress=none >/dev/null 2>&1; done
: >"$W/calls.log"
expect 5 "a failing tool: restored from the backup" "$ecuup" flash --progress=none
check "the tool's own message is named" err_has "programming error at 0x8000"
check "first the target version, then the backup's" \
  bash -c "grep '^flash ' '$W/calls.log' | awk '{print \$NF}' | tr '\n' ' ' | grep -qx '3.2.0 3.1.0 '"
check "the restore wrote the backup" cmp -s "$W/ecm.mem" "$W/repository/ecm-3.1.0.bin"
expect 0 "the retry converges" "$ecuup" flash --progress=none
check "ECU on 3.2.0" test "$(cat "$W/ecm.ver")" = 3.2.0
finish
