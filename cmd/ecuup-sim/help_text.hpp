#pragma once
// Long --help texts: the YAML format, the faults, the toy security algorithm.

namespace ecuup::sim {

inline constexpr const char* k_config_help = R"(CONFIGURATION (YAML)
  bus: udp:29001:29000     CAN side (ECU's local:remote port, or socketcan:IFACE); --bus overrides;
                           omit when no ECU has 'can'
  vin: WVWZZZ1KZAW000001   the vehicle's VIN: F190 of every ECU (unless its dids say otherwise) and
                           the DoIP announcements; default: random per start (ECUUPSIM + 9 digits)
  doip:
    port: 13400            TCP port on 127.0.0.1; --doip-port overrides; 0 = a free port; the same
                           port on UDP answers vehicle identification, entity status, power mode
    bind: 127.0.0.1
    max_data_size: 0       DoIP entity status max data size (0 = from the block lengths)
    eid: "02:00:00:00:00:01"   the entity's EID (default: random per start)
    gid: "02:00:00:00:00:01"   the vehicle's GID (default: the EID)
    announce: 127.255.255.255:13400   where the 3 vehicle announcements go after start ("none": nowhere)
  ecus:
    - name: bms                       no ':', '/' or blanks; used in --fault, dump and the state dir
      doip_address: 0x0010            DoIP logical address (optional)
      doip_port: 13401                its own DoIP entity on this port (0 = a free one, printed
                                      as doip_port.NAME=N); default: the shared doip.port
      can:                            optional; ids as seen on the bus
        request_id: 0x7E0             the tester sends with this id
        response_id: 0x7E8            the ECU answers with this id
        extended: false               29-bit ids
        fd: false                     answer in CAN FD frames
      memory:                         flash regions (default: one MiB at 0x0)
        - {address: 0x00010000, size: 0x40000}
      initial_image: {version: "1.0.0", size: 8192}
                                      programmed into the first region on the very first run
                                      (without it the ECU starts empty, in boot mode)
      dids:                           DID (4 hex digits): value
        F18C: "SN-0001"               ASCII
        F190: "WVWZZZ1KZAW000001"
        F187: {hex: "0102A0"}         raw bytes
        0100: {ascii: "x", writable: true}   0x2E allowed (extended/programming + security)
      security_levels: [1]            requestSeed sub-functions (odd); key = level + 1
      programming_level: 1            the level that unlocks 0x2E, 0x31 FF00/FF01, 0x34, 0x35
      security_attempts: 3            invalid keys before 0x36 and the lockout delay
      timing:
        erase_time_ms: 100            0x31 FF00 duration (0x78 while busy)
        write_bytes_per_s: 0          0x36 write speed; 0 = instant
        reset_time_ms: 200            silent time after 0x11 or a power loss (still reachable)
        boot_time_ms: 0               >0: off the network this long after 0x11, a power loss or a
                                      power cut (DoIP refused, CAN silent); replaces reset_time_ms
        boot_security_delay_ms: 0     requestSeed answers 0x37 this long after every power-on
                                      (start, 0x11, power loss or cut), from when it answers again
        s3_timeout_ms: 5000           S3: back to the default session (security locked, transfer
                                      dropped) when no request came for this long
        p2_ms: 50                     reported in the 0x50 response
        p2_star_ms: 5000              reported in the 0x50 response; 0x78 repeats every P2*/2 (<= 2 s)
        security_delay_ms: 1000       lockout after too many invalid keys (NRC 0x37 meanwhile)
      max_block_length: 0x0FFF        0x74/0x75 maxNumberOfBlockLength, counts SID + counter;
                                      default 0x0FFF (4095: fits ISO-TP's 12-bit length) when the ECU
                                      is on CAN, 4098 (4096 data bytes) when it is on DoIP only
      programming_from_default: false allow 10 02 straight from the default session
      boot_marker: BOOT               what F189 reads while no valid software is installed
      sbl: {address: 0x20000000, size: 0x1000, routine: 0x0301, required: false}
                                      RAM for a secondary boot loader, started by the routine at
                                      its call address; required: no erase/download before it runs
      compression: zlib               accept compression method 1 (DFI 0x10) as zlib; none: plain only
      faults: ["nrc:0x36:0x72:block=3"]   as --fault, without the ECU prefix

STATE DIR (--state, default ./ecuup-sim-state)
  STATE/control.sock            the running simulator's control socket (ecuup-sim power-cut)
  STATE/ECU/flash-AAAAAAAA.bin  one file per region (erased = 0xFF)
  STATE/ECU/state.json          {"valid": true|false}; F189 comes from the image header in flash
                                while valid. Erase makes it invalid; 31 01 FF01 validates it.

UDS SERVICES
  10 01/02/03 sessions (02 only from 03 unless the ECU has no valid software), 11 01..03 reset,
  27 seed/key, 28, 85, 3E, 22 (F189 version, F186 session, configured DIDs), 2E, 14, 19 01/02/0A,
  31 01 FF00 erase [ALFID addr size] (none = all regions), 31 01 FF01 check (image header magic +
  CRC-32 of the payload at the start of the first region, and of any further region that starts
  with an image header; failure = NRC 0x72), 31 01 0203,
  34/36/37 download (range must be erased), 35/36/37 upload. Positive routine answers end with
  status 00. NRCs: 0x7F wrong session, 0x22 conditions, 0x33 security, 0x35 invalid key,
  0x36/0x37 attempts and delay, 0x73 block counter (a repeated block is acknowledged, not
  rewritten), 0x13 length, 0x24 sequence, 0x31 range, 0x70 download to unerased flash,
  0x71 more data than requested, 0x72 programming failure, 0x21 busy.
  Without valid software (boot mode) F189 reads the boot marker and 0x2E/0x35 answer 0x22.

SECURITY (toy algorithm, not a secret)
  seed: 4 random bytes; key[i] = ((seed[i] XOR 0x5A) + level + i) mod 256, level = the requestSeed
  sub-function. 'ecuup-sim key LEVEL SEEDHEX' prints it (usable as ecuup's key_command).
)";

inline constexpr const char* k_fault_help = R"(FAULTS (--fault ECU:KIND[:ARGS][:block=K][:ms=N][:once|:always], or 'faults:' per ECU)
  A fault fires once (default) or always. Blocks count the TransferData requests of the
  current download, from 1; repeated blocks are not counted. sub=S only matches requests with
  sub-function S (bit 7 ignored); rid=R only RoutineControl of routine R.
  nrc:SID:NRC[:sub=S][:rid=R][:block=K]
                          answer service SID with NRC (e.g. bms:nrc:0x36:0x72:block=5,
                          bms:nrc:0x31:0x22; bms:nrc:0x10:0x22:sub=0x02:always refuses the
                          programming session); on 0x36 the transfer is aborted
  silence:block=K[:ms=N]  answer block K, then nothing for N ms (default 2000); the ECU comes
                          back in the default session with the transfer aborted
  drop:block=K[:ms=N]     write block K, then drop the DoIP connection (on CAN: lose the answer)
                          and fall back to the default session; with ms=N the ECU is also
                          unreachable for N ms (a node off the bus)
  power_loss:block=K      half of block K is written, the software is invalid, the ECU reboots
                          (silent for reset_time_ms, or boot_time_ms off the network) into boot mode: F189 reads the boot marker and
                          only programming works until a complete flash passes the check routine
  slow_erase[:ms=N]       the erase routine takes N ms (default 10 x erase_time_ms + 1 s)
  wrong_checksum          the check routine (31 01 FF01) fails with NRC 0x72
  security_delay[:ms=N]   after a power-on (the start of the simulator, 0x11, a power loss or
                          cut) requestSeed answers 0x37 for N ms (default 1000); once = the
                          first power-on only (the start), always = every one
  slow_boot[:ms=N]        the next boot (after 0x11, a power loss or cut) takes N ms (default
                          3000): off the network meanwhile (DoIP refused, CAN silent)
  late:SID[:sub=S][:rid=R][:block=K][:ms=N]
                          the answer to SID (TransferData block K; bms:late:0x31:rid=0xFF00 is the
                          erase) comes N ms late (default 1000) with no 0x78 meanwhile, i.e. after
                          the tester's P2; it is sent all the same
  Vehicle states (they hold for the whole run; once/always do not apply):
  low_battery[:mv=N]      the supply reads N mV (default 10900; else 12600) on DID F442
  moving[:kmh=N]          the vehicle drives at N km/h (default 30; else 0) on DID F40D
  engine_running          the engine runs: DID 0100 reads 2 (else 0)
  31 01 0203 (checkProgrammingPreconditions, extended session) lists the conditions not met:
  01 engine running, 02 vehicle moving, 03 supply below 12.0 V; nothing listed = all met.
)";

}  // namespace ecuup::sim
