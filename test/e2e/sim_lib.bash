# Helpers for the ecuup-sim end-to-end tests (sourced by test/e2e/sim_*.sh; not a test itself).
# Needs ECUUP_BIN (build/bin). Talks to one ECU through `ecuup-sim console` running as a coproc.
set -euo pipefail

SIM="${ECUUP_BIN:?ECUUP_BIN must point at build/bin}/ecuup-sim"
[[ -x "$SIM" ]] || { echo "skip: $SIM not built"; exit 125; }
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ecuup-sim-e2e.XXXXXX")"
trap 'sim_cleanup' EXIT
FAILS=0
CHECKS=0
PENDING_COUNT=0

sim_cleanup() {
  sim_console_stop || true
  sim_run_stop KILL || true
  [[ -n "${KEEP_WORK:-}" ]] || rm -rf "$WORK"
}

fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
ok() { CHECKS=$((CHECKS + 1)); }

# hex of a file, lower case, no separators
file_hex() { od -An -v -tx1 "$1" | tr -d ' \n'; }

# sim_console_start CONFIG STATE ECU [--fault F]...
sim_console_start() {
  local config=$1 state=$2 ecu=$3; shift 3
  coproc CONSOLE { exec "$SIM" console --config "$config" --state "$state" --ecu "$ecu" "$@" 2>>"$WORK/console.err"; }
  CONSOLE_PID_SAVED=$CONSOLE_PID
}

sim_console_stop() {
  if [[ -n "${CONSOLE_PID_SAVED:-}" ]]; then
    local fd=${CONSOLE[1]:-}
    [[ -n $fd ]] && exec {fd}>&-
    wait "$CONSOLE_PID_SAVED" 2>/dev/null || true
    CONSOLE_PID_SAVED=
  fi
}

# uds HEX: sets R to the final answer ("-" silence, "drop", "timeout"); 0x78 pendings are counted
# in PENDING_COUNT. (No $(...): the coproc's pipe and the counters live in this shell.)
uds() {
  local req=${1// /} line
  PENDING_COUNT=0
  echo "$req" >&"${CONSOLE[1]}"
  while true; do
    if ! read -t 30 -r line <&"${CONSOLE[0]}"; then R=timeout; return; fi
    if [[ ${#line} -eq 6 && $line == 7f??78 ]]; then PENDING_COUNT=$((PENDING_COUNT + 1)); continue; fi
    R=$line
    return
  done
}

sim_sleep_ms() { echo "sleep $1" >&"${CONSOLE[1]}"; }

# expect WHAT REQUEST EXPECTED_PATTERN (bash glob)
expect() {
  local what=$1 req=$2 want=$3
  uds "$req"
  if [[ $R == $want ]]; then ok; else fail "$what: ${req:0:40} -> ${R:0:60} (want $want)"; fi
}

# unlock LEVEL (odd, hex byte like 01 or 11)
unlock() {
  local level=$1 key send
  uds "27$level"
  [[ $R == 67$level* ]] || { fail "requestSeed $level -> $R"; return; }
  key=$("$SIM" key "0x$level" "${R:4}")
  send=$(printf '%02x' $((0x$level + 1)))
  expect "sendKey $level" "27$send$key" "67$send"
}

# download IMAGE ADDR_HEX8: 34, 36 x N (blocks sized from the 0x74 answer), 37.
# Sets DL_RESULT to "ok" or "<step> -> <answer>" and DL_BLOCKS to the blocks acknowledged.
download() {
  local image=$1 addr=$2 hex size max chunk counter=1 off=0 cnt
  hex=$(file_hex "$image")
  size=$(stat -c %s "$image")
  DL_BLOCKS=0
  uds "340044${addr}$(printf '%08x' "$size")"
  [[ $R == 7420* ]] || { DL_RESULT="RequestDownload -> $R"; return; }
  max=$((0x${R:4:4}))
  chunk=$(((max - 2) * 2))
  while ((off < size * 2)); do
    cnt=$(printf '%02x' $((counter & 0xff)))
    uds "36$cnt${hex:off:chunk}"
    if [[ $R != "76$cnt" ]]; then DL_RESULT="block $counter -> $R"; return; fi
    DL_BLOCKS=$counter
    off=$((off + chunk))
    counter=$((counter + 1))
  done
  uds 37
  [[ $R == 77 ]] || { DL_RESULT="RequestTransferExit -> $R"; return; }
  DL_RESULT=ok
}

finish() {
  echo "$CHECKS passed, $FAILS failed"
  [[ $FAILS -eq 0 ]]
}

# sim_client_start doip PORT ECU_ADDR | can BUS TX RX : the Python tester as the coproc `uds` talks to.
sim_client_start() {
  local client="${ECUUP_SRC:?ECUUP_SRC must point at the source dir}/test/support/uds_client.py"
  command -v python3 >/dev/null || { echo "skip: python3 missing"; exit 125; }
  if [[ $1 == doip ]]; then
    coproc CONSOLE { exec python3 "$client" doip --port "$2" --ecu "$3" --timeout "${CLIENT_TIMEOUT_MS:-1000}" 2>>"$WORK/client.err"; }
  else
    coproc CONSOLE { exec python3 "$client" can --bus "$2" --tx "$3" --rx "$4" --timeout "${CLIENT_TIMEOUT_MS:-1000}" 2>>"$WORK/client.err"; }
  fi
  CONSOLE_PID_SAVED=$CONSOLE_PID
}

# sim_run_start CONFIG STATE [run options...]: starts `ecuup-sim run`, waits for "ready"; sets SIM_PID,
# DOIP_PORT. Exits 125 (skip) when this build has no transports yet.
sim_run_start() {
  local config=$1 state=$2; shift 2
  : >"$WORK/run.out"
  "$SIM" run --config "$config" --state "$state" "$@" >"$WORK/run.out" 2>>"$WORK/run.err" &
  SIM_PID=$!
  for _ in $(seq 1 100); do
    if grep -q '^ready' "$WORK/run.out"; then
      DOIP_PORT=$(sed -n 's/.*doip_port=\([0-9]*\).*/\1/p' "$WORK/run.out")
      return 0
    fi
    if ! kill -0 "$SIM_PID" 2>/dev/null; then
      if grep -q 'built without' "$WORK/run.err"; then echo "skip: ecuup-sim built without transports"; exit 125; fi
      cat "$WORK/run.err" >&2
      fail "ecuup-sim run exited before ready"
      SIM_PID=
      return 1
    fi
    sleep 0.1
  done
  fail "ecuup-sim run: no ready line within 10 s"
  return 1
}

# sim_run_stop [SIGNAL]: stops the simulator; sets SIM_RC.
sim_run_stop() {
  SIM_RC=0
  if [[ -n "${SIM_PID:-}" ]]; then
    kill -"${1:-TERM}" "$SIM_PID" 2>/dev/null || true
    wait "$SIM_PID" || SIM_RC=$?
    SIM_PID=
  fi
}

# A free-ish UDP port pair for the virtual CAN bus (tests may run in parallel).
pick_bus_ports() {
  local base=$((20000 + (RANDOM % 900) * 10 + ($$ % 10)))  # 20000..28999: clear of the examples (29000/29001)
  BUS_SIM="udp:$((base + 1)):$base"
  BUS_TESTER="udp:$base:$((base + 1))"
}

# --- ecuup against the simulator ---------------------------------------------------------------
ECUUP="${ECUUP_BIN}/ecuup"

# need_ecuup_uds: skip unless this build's ecuup has the uds driver and both transports.
need_ecuup_uds() {
  [[ -x "$ECUUP" ]] || { echo "skip: ecuup not built"; exit 125; }
  local probe="$WORK/probe"
  mkdir -p "$probe"
  # Nothing listens on these: the answer only tells whether the driver and transports exist.
  cat >"$probe/ecuup.yaml" <<'YAML'
vehicle: probe
state_dir: state
server: {kind: dir, path: .}
ecus:
  - {name: a, driver: uds, uds: {transport: doip, doip: {port: 9, connect_timeout_ms: 200}}}
  - {name: b, driver: uds, uds: {transport: can, can: {bus: "udp:9:9", tx_id: 0x7E0, rx_id: 0x7E8}, timeouts: {p2_ms: 20}}}
YAML
  (cd "$probe" && "$ECUUP" inventory --progress none >/dev/null 2>"$probe/err") || true
  if grep -qE "not available in this build|this build has no" "$probe/err"; then
    echo "skip: ecuup lacks the uds driver or a transport: $(head -1 "$probe/err")"
    exit 125
  fi
}

# add_release REPO ECU VERSION IMAGE: copies IMAGE into the dir repository and lists it.
add_release() {
  local repo=$1 ecu=$2 version=$3 image=$4 name
  name="$ecu-$version.img"
  mkdir -p "$repo"
  cp "$image" "$repo/$name"
  [[ -f "$repo/releases.yaml" ]] || echo "releases:" >"$repo/releases.yaml"
  cat >>"$repo/releases.yaml" <<YAML
  $ecu:
    version: $version
    artifact: $name
    sha256: $(sha256sum "$image" | cut -d' ' -f1)
    size: $(stat -c %s "$image")
YAML
}

# sim_bench_dirs: BUS_SIM/BUS_TESTER picked, BENCH (ecuup's side) made, STATE (the sim's) named.
sim_bench_dirs() {
  pick_bus_ports
  BENCH="$WORK/bench"
  STATE="$WORK/sim-state"
  mkdir -p "$BENCH"
}

# The usual simulated vehicle: gw over DoIP (logical address 0x0010, 1.0.0, 64 KiB at 0x0) and bms
# on CAN (0x7E0/0x7E8, 2.0.0, 64 KiB at 0x10000); a third ECU, body, over DoIP (0x0011, 0.9.0).
# sim_ecu_yaml NAME SIZE TIMING [LINE...]: NAME's entry in a sim.yaml's `ecus:` list, its initial
# image SIZE bytes, TIMING the inside of its `timing:` mapping, each LINE added as it is
# ("    faults: [...]").
sim_ecu_yaml() {
  local name=$1 size=$2 timing=$3
  shift 3
  case $name in
    gw) printf '  - name: gw\n    doip_address: 0x0010\n    memory: [{address: 0x00000000, size: 0x10000}]\n'
        printf '    initial_image: {version: "1.0.0", size: %s}\n' "$size" ;;
    bms) printf '  - name: bms\n    can: {request_id: 0x7E0, response_id: 0x7E8}\n'
         printf '    memory: [{address: 0x00010000, size: 0x10000}]\n'
         printf '    initial_image: {version: "2.0.0", size: %s}\n' "$size" ;;
    body) printf '  - name: body\n    doip_address: 0x0011\n    memory: [{address: 0x00000000, size: 0x10000}]\n'
          printf '    initial_image: {version: "0.9.0", size: %s}\n' "$size" ;;
    *) echo "sim_ecu_yaml: no ECU '$name' in the usual vehicle" >&2; return 1 ;;
  esac
  printf '    max_block_length: 0x402\n    timing: {%s}\n' "$timing"
  [[ $# -eq 0 ]] || printf '%s\n' "$@"
}

# vehicle_bench VEHICLE: ecuup.yaml's content for the usual gw and bms (bench_config + uds_ecu).
vehicle_bench() {
  bench_config "$1"
  uds_ecu gw doip 0x0010 0x0 0x10000
  uds_ecu bms can 0x7E0 0x7E8 0x10000 0x10000
}

# sim_restart [run options...]: the simulator stopped (SIGTERM) and started again on the same
# state with $WORK/sim.yaml and the options given; then the test's write_bench (DoIP port).
sim_restart() {
  sim_run_stop TERM
  sim_run_start "$WORK/sim.yaml" "$STATE" --bus "$BUS_SIM" "$@" || exit 1
  write_bench
}

# bench_config VEHICLE: the head of a bench's ecuup.yaml (dir repository), up to `ecus:`.
bench_config() {
  printf 'vehicle: %s\nstate_dir: state\nserver: {kind: dir, path: repository}\necus:\n' "$1"
}

# uds_ecu NAME doip ADDRESS BASE SIZE | uds_ecu NAME can TX_ID RX_ID BASE SIZE: one `ecus:` entry
# for a simulated ECU: toy seed/key, a raw image at BASE, SIZE bytes read out from BASE.
uds_ecu() {
  local name=$1 transport=$2 link
  if [[ $transport == doip ]]; then
    link="doip: {port: $DOIP_PORT, ecu_address: $3}"
    shift 3
  else
    link="can: {bus: \"$BUS_TESTER\", tx_id: $3, rx_id: $4}"
    shift 4
  fi
  cat <<YAML
  - name: $name
    driver: uds
    uds:
      transport: $transport
      $link
      security: {level: 1, key_command: "$SIM key {level} {seed}"}
      image: {format: raw, base_address: $1}
      read_out: {regions: [{address: $1, size: $2}], format: raw}
YAML
}

# ecuup_run EXPECTED_RC ARGS...: runs ecuup in $BENCH, output in $WORK/ecuup.{out,err}.
ecuup_run() {
  local want=$1 rc=0; shift
  (cd "$BENCH" && "$ECUUP" "$@" --progress none >"$WORK/ecuup.out" 2>"$WORK/ecuup.err") || rc=$?
  if [[ $rc -eq $want ]]; then ok; else
    fail "ecuup $* exited $rc (want $want)"
    sed 's/^/  | /' "$WORK/ecuup.err" >&2
  fi
  ECUUP_RC=$rc
}

# ecuup_run_any ARGS...: like ecuup_run, without judging the exit code (ECUUP_RC).
ecuup_run_any() {
  ECUUP_RC=0
  (cd "$BENCH" && "$ECUUP" "$@" --progress none >"$WORK/ecuup.out" 2>"$WORK/ecuup.err") || ECUUP_RC=$?
}

# sim_version STATE ECU: the version the simulated ECU runs ("invalid" in boot mode), from its state dir.
sim_version() {
  grep -q '"valid":true' "$1/$2/state.json" 2>/dev/null || { echo invalid; return; }
  "$SIM" dump --state "$1" --ecu "$2" --image -o "$WORK/version.probe" 2>/dev/null || { echo none; return; }
  dd if="$WORK/version.probe" bs=1 skip=8 count=32 2>/dev/null | tr -d '\0'
}

# --- timed testers in Python (the sim_boot_* tests) ---------------------------------------------
# sim_py [ARGS...] <<'PY': runs Python with test/support and the module `simtest` (written to
# $WORK) importable: testers over DoIP or CAN that time every answer, DoIP connect probes and the
# control socket. The snippet prints "FAIL: ..." lines; sim_py counts them into FAILS and the
# "OK" lines into CHECKS.
sim_py() {
  command -v python3 >/dev/null || { echo "skip: python3 missing"; exit 125; }
  [[ -f "$WORK/simtest.py" ]] || sim_py_module >"$WORK/simtest.py"
  local out rc=0 line
  out=$(SIM="$SIM" PYTHONPATH="$WORK:${ECUUP_SRC:?ECUUP_SRC must point at the source dir}/test/support" \
    python3 - "$@" 2>&1) || rc=$?
  while IFS= read -r line; do
    case $line in
      OK*) ok ;;
      FAIL:*) echo "$line" >&2; FAILS=$((FAILS + 1)) ;;
      *) [[ -n $line ]] && echo "  $line" ;;
    esac
  done <<<"$out"
  [[ $rc -eq 0 ]] || fail "python snippet exited $rc"
}

sim_py_module() {
  cat <<'PY'
"""Helpers for the sim_boot_* tests: timed UDS testers, DoIP connect probes, the control socket."""
import os
import socket
import subprocess
import time

from uds_client import Doip, UdpIsoTp, is_pending

SIM = os.environ["SIM"]


def now_ms():
    return time.monotonic() * 1000.0


def check(cond, what):
    print(("OK " if cond else "FAIL: ") + what, flush=True)
    return cond


def doip_connect(port):
    """'open' when a TCP connection to 127.0.0.1:port is accepted, 'refused' when refused."""
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port))
        return "open"
    except ConnectionRefusedError:
        return "refused"
    except OSError as e:
        return "error %s" % e
    finally:
        s.close()


def control(state, line):
    """One request to the running simulator's control socket; its answer line."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(os.path.join(state, "control.sock"))
    s.sendall((line + "\n").encode())
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(256)
        if not chunk:
            break
        data += chunk
    s.close()
    return data.decode().strip()


def power_cut(state, ecu, ms):
    subprocess.run([SIM, "power-cut", "--state", state, "--ecu", ecu, "--ms", str(ms)], check=True)


class Tester:
    """One tester: 'doip:PORT:ECU' or 'can:BUS:TX:RX' (BUS as the tester sees it)."""

    def __init__(self, spec):
        kind, args = spec.split(":")[0], spec.split(":")[1:]
        if kind == "doip":
            self.link = Doip(int(args[0]), int(args[1], 0), 0x0E00)
        else:
            bus = "udp:%s:%s" % (args[1], args[2])
            self.link = UdpIsoTp(bus, int(args[3], 0), int(args[4], 0))

    def timed(self, hexreq, window_ms, stop_on_final=True):
        """Sends, then lists (ms after sending, hex) of what came within window_ms."""
        got = []
        t0 = now_ms()
        self.link.send(bytes.fromhex(hexreq))
        while True:
            left = window_ms - (now_ms() - t0)
            if left <= 0:
                return got
            try:
                msg = self.link.receive(left / 1000.0)
            except (TimeoutError, socket.timeout):
                return got
            got.append((now_ms() - t0, msg.hex()))
            if stop_on_final and not is_pending(msg):
                return got

    def request(self, hexreq, timeout_ms=1000):
        """The final answer (0x78s skipped; P2* after one), '-' for none, 'drop' when DoIP failed."""
        try:
            self.link.send(bytes.fromhex(hexreq))
            timeout = timeout_ms / 1000.0
            while True:
                msg = self.link.receive(timeout)
                if not is_pending(msg):
                    return msg.hex()
                timeout = 6.0
        except (TimeoutError, socket.timeout):
            return "-"
        except OSError:
            self.link.close()
            return "drop"

    def unlock(self, level=1):
        seed = self.request("27%02x" % level)
        if not seed.startswith("67%02x" % level):
            return seed
        key = subprocess.check_output([SIM, "key", str(level), seed[4:]], text=True).strip()
        return self.request("27%02x%s" % (level + 1, key))

    def close(self):
        self.link.close()
        if isinstance(self.link, UdpIsoTp):
            self.link.sock.close()
PY
}
