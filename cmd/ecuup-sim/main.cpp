// ecuup-sim: virtual ECUs for ecuup's tests, demo and benchmarks. main() parses the command line
// and calls one function per subcommand; `ecuup-sim run --help` documents the YAML and the faults.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <string>

#include "help_text.hpp"
#include "sim/sim_server.hpp"
#include "sim/tools.hpp"
#include "util/exit_code.hpp"

namespace {

using namespace ecuup;
using namespace ecuup::sim;

int report(const Result<void>& result) {
  if (result) return 0;
  std::fprintf(stderr, "ecuup-sim: error: %s\n", result.error().message.c_str());
  return static_cast<int>(exit_code_for(result.error().code));
}

int print_key(const std::string& level, const std::string& seed) {
  auto key = toy_key_hex(level, seed);
  if (key) std::puts(key->c_str());
  return report(key ? success() : Result<void>(std::move(key).error()));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ecuup-sim: virtual ECUs (UDS over DoIP and CAN) with persisted flash and fault injection"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "ecuup-sim " ECUUP_VERSION);

  RunOptions run;
  std::string state_dir = "ecuup-sim-state";
  std::uint16_t doip_port = 0;
  std::string bus;
  auto* run_cmd = app.add_subcommand("run", "serve the configured ECUs over DoIP and CAN until SIGINT/SIGTERM");
  run_cmd->add_option("--config", run.config_path, "the simulator's YAML file")->required();
  run_cmd->add_option("--state", state_dir, "state directory (flash memory, valid flag)")->capture_default_str();
  auto* port_opt = run_cmd->add_option("--doip-port", doip_port, "DoIP TCP port (0 = any free port)");
  auto* bus_opt = run_cmd->add_option("--bus", bus, "CAN bus: udp:LOCAL:REMOTE (udp:0:0 = two free ports) or socketcan:IFACE");
  run_cmd->add_option("--ports-file", run.ports_file,
                      "once ready, write ECUUP_SIM_DOIP_PORT, ECUUP_SIM_CAN_BUS (ecuup's side) and ECUUP_SIM_VIN to "
                      "FILE as NAME=VALUE lines, for an ecuup config that reads ${ECUUP_SIM_...}");
  run_cmd->add_option("--fault", run.faults, "inject a fault: ECU:KIND[...] (repeatable; see below)");
  run_cmd->add_option("--trace", run.trace_file, "write the CAN side's frames to FILE (candump log; pcapng if FILE ends in .pcapng)");
  run_cmd->add_option("--bitrate", run.bitrate, "pace the CAN side as a bus of this bitrate would (benchmarks)");
  run_cmd->add_option("--data-bitrate", run.data_bitrate, "CAN FD data-phase bitrate of the paced bus (0 = --bitrate)");
  run_cmd->footer(std::string("Prints 'ready doip_port=N' (or 'ready') on stdout once listening, and takes power cuts "
                              "('ecuup-sim power-cut') on STATE/control.sock.\n\n") +
                  k_config_help +
                  "\n" + k_fault_help);

  RunOptions console;
  std::string console_ecu;
  std::string console_state = "ecuup-sim-state";
  auto* console_cmd = app.add_subcommand("console", "talk UDS to one ECU over stdin/stdout (hex lines; 'sleep MS')");
  console_cmd->add_option("--config", console.config_path, "the simulator's YAML file")->required();
  console_cmd->add_option("--ecu", console_ecu, "ECU name")->required();
  console_cmd->add_option("--state", console_state, "state directory")->capture_default_str();
  console_cmd->add_option("--fault", console.faults, "inject a fault: ECU:KIND[...]");
  console_cmd->footer(std::string("Each answer is printed as hex on its own line ('-' = silence, 'drop' = connection "
                                  "dropped); 0x78 pending answers are printed too.\n\n") +
                      k_config_help + "\n" + k_fault_help);

  std::string key_level, key_seed;
  auto* key_cmd = app.add_subcommand("key", "print the toy SecurityAccess key for LEVEL and SEEDHEX");
  key_cmd->add_option("LEVEL", key_level, "the requestSeed sub-function (1, 3, 0x11, ...)")->required();
  key_cmd->add_option("SEEDHEX", key_seed, "the seed from the 67 response, hex")->required();
  key_cmd->footer("key[i] = ((seed[i] XOR 0x5A) + LEVEL + i) mod 256. Not a secret: a documented toy so that "
                  "ecuup's key_command (e.g. \"ecuup-sim key {level} {seed}\") can be tested.");

  MkimageOptions mk;
  std::uint32_t mk_size = 0;
  auto* mk_cmd = app.add_subcommand("mkimage", "write a software image (64-byte ECUUPIMG header + payload)");
  mk_cmd->add_option("--version", mk.version, "version stored in the header (F189 after flashing)")->required();
  auto* size_opt = mk_cmd->add_option("--size", mk_size, "payload of N pseudo-random bytes");
  mk_cmd->add_option("--seed", mk.seed, "seed of the pseudo-random payload")->capture_default_str();
  auto* payload_opt = mk_cmd->add_option("--payload", mk.payload, "payload file");
  mk_cmd->add_option("-o,--output", mk.output, "output image file")->required();
  size_opt->excludes(payload_opt);
  mk_cmd->footer("Header: magic \"ECUUPIMG\" (8), version NUL-padded (32), payload length u32 BE, CRC-32/IEEE of "
                 "the payload u32 BE, 16 zero bytes.");

  DumpOptions dump;
  std::uint32_t dump_address = 0;
  auto* dump_cmd = app.add_subcommand("dump", "write an ECU's flash memory to a file (for read-back checks)");
  dump_cmd->add_option("--state", dump.state_dir, "state directory")->capture_default_str();
  dump_cmd->add_option("--ecu", dump.ecu, "ECU name")->required();
  dump_cmd->add_option("-o,--output", dump.output, "output file")->required();
  auto* address_opt = dump_cmd->add_option("--address", dump_address, "region start address (default: the lowest)");
  dump_cmd->add_flag("--image", dump.image_only, "only the software image at the region's start (header + payload)");

  PowerCutOptions cut;
  auto* cut_cmd = app.add_subcommand("power-cut", "cut the power of ECUs of a running simulator for a while");
  cut_cmd->add_option("--state", cut.state_dir, "the running simulator's state directory")->capture_default_str();
  cut_cmd->add_option("--ecu", cut.ecus, "ECU name (repeatable)");
  cut_cmd->add_flag("--all", cut.all, "every ECU of the simulator");
  cut_cmd->add_option("--ms", cut.ms, "how long the power stays off, in milliseconds")->capture_default_str();
  cut_cmd->footer("The cut happens at once, whatever the ECU is doing: work in progress is lost (a block being "
                  "programmed is left half-written), DoIP connections are closed and refused and the CAN node is "
                  "off the bus; then the ECU boots as after a reset (boot_time_ms, boot_security_delay_ms). "
                  "Talks to the simulator through STATE/control.sock (see ecuup-sim(1)).");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : static_cast<int>(ExitCode::usage);
  }

  if (run_cmd->parsed()) {
    run.state_dir = state_dir;
    if (port_opt->count()) run.doip_port = doip_port;
    if (bus_opt->count()) run.bus = bus;
    return report(run_simulator(run));
  }
  if (console_cmd->parsed()) {
    console.state_dir = console_state;
    return report(run_console(console, console_ecu, std::cin, std::cout));
  }
  if (key_cmd->parsed()) return print_key(key_level, key_seed);
  if (mk_cmd->parsed()) {
    if (size_opt->count()) mk.size = mk_size;
    return report(make_image(mk));
  }
  if (cut_cmd->parsed()) return report(power_cut(cut));
  if (dump_cmd->parsed()) {
    if (address_opt->count()) dump.address = dump_address;
    return report(dump_flash(dump));
  }
  return 0;
}
