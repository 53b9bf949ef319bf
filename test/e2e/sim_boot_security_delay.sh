#!/usr/bin/env bash
# ecuup-sim's security delay after power-on (ISO 14229-1: NRC 0x37 requiredTimeDelayNotExpired):
# requestSeed is refused for boot_security_delay_ms after the start and after every ECUReset, and
# answered with a seed once the delay is over; the security_delay fault does the same once (the
# start) or always (every power-on). The lockout after invalid keys (security_delay_ms) is apart.
source "$(dirname "$0")/sim_lib.bash"

config() {  # config EXTRA_TIMING
  cat >"$WORK/sim.yaml" <<YAML
ecus:
  - name: ecu1
    can: {request_id: 0x7E0, response_id: 0x7E8}
    initial_image: {version: "1.0.0", size: 1000}
    timing: {reset_time_ms: 100, p2_star_ms: 100$1}
YAML
}
STATE="$WORK/state"
# seed_refused WHAT / seed_given WHAT: in the extended session, requestSeed level 1.
seed_refused() { expect "$1: requestSeed refused" 2701 7f2737; }
seed_given() { expect "$1: requestSeed answered" 2701 "6701????????"; }
reset_ecu() {
  expect "reset" 1101 5101
  sim_sleep_ms 150
  expect "extended after reset" 1003 "5003*"
}

# The YAML setting: on every power-on.
config ", boot_security_delay_ms: 600"
sim_console_start "$WORK/sim.yaml" "$STATE" ecu1
expect "extended" 1003 "5003*"
seed_refused "at start"
sim_sleep_ms 650
seed_given "600 ms after start"
reset_ecu
seed_refused "after ECUReset"
expect "still refused, no lockout counted" 2701 7f2737
sim_sleep_ms 650
seed_given "600 ms after the reset"
unlock 01
sim_console_stop

# The fault, once: only the first power-on (the start) is delayed.
config ""
sim_console_start "$WORK/sim.yaml" "$STATE" ecu1 --fault ecu1:security_delay:ms=400
expect "extended" 1003 "5003*"
seed_refused "fault at start"
sim_sleep_ms 450
seed_given "fault over"
reset_ecu
seed_given "once: not after the reset"
sim_console_stop

# The fault, always: every power-on; default 1000 ms.
sim_console_start "$WORK/sim.yaml" "$STATE" ecu1 --fault ecu1:security_delay:always
expect "extended" 1003 "5003*"
seed_refused "always, at start"
sim_sleep_ms 700
seed_refused "default delay is 1000 ms"
sim_sleep_ms 400
seed_given "after 1000 ms"
reset_ecu
seed_refused "always: after the reset too"
sim_console_stop

# No delay configured: the seed comes at once (the delay is opt-in).
sim_console_start "$WORK/sim.yaml" "$STATE" ecu1
expect "extended" 1003 "5003*"
seed_given "no delay configured"
sim_console_stop
finish
