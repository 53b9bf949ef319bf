#pragma once
// Runs the simulated ECUs: the transports (DoIP on TCP, ISO-TP on a CAN frame bus) feed requests to
// the EcuModels and pace long work with 0x78 responsePending; `console` does the same over stdin.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "sim/ecu_model.hpp"
#include "sim/fault.hpp"
#include "sim/sim_config.hpp"
#include "util/result.hpp"

namespace ecuup::sim {

struct ReplySink {
  std::function<void(ByteView)> send;
  std::function<void()> drop;  // DoIP: close the connection; may be empty (CAN)
};

// Hands `request` to `ecu` and delivers what it answers: 7F SID 78 while busy, then the response.
void serve_request(EcuModel& ecu, ByteView request, const ReplySink& sink);

struct RunOptions {
  std::filesystem::path config_path;
  std::filesystem::path state_dir;
  std::optional<std::uint16_t> doip_port;
  std::optional<std::string> bus;
  std::vector<std::string> faults;  // "ECU:KIND..."
  std::filesystem::path trace_file;  // candump log of the CAN side
  std::uint32_t bitrate = 0;         // >0: pace the CAN side at this nominal bitrate
  std::uint32_t data_bitrate = 0;    // CAN FD data phase of the paced bus; 0 = bitrate
  // Once ready, the ports and the VIN in FILE as NAME=VALUE lines for ecuup's config to read
  // (${ECUUP_SIM_DOIP_PORT}, ${ECUUP_SIM_CAN_BUS}, ${ECUUP_SIM_VIN}; ecuup-config(5)).
  std::filesystem::path ports_file;
};

// Bus "udp:0:0": two free UDP ports on loopback chosen now (udp:LOCAL:REMOTE for the simulator's side).
Result<std::string> free_udp_bus(const std::string& bus);

// Opens every ECU's state, starts the transports, prints "ready ..." and serves until SIGINT/SIGTERM.
Result<void> run_simulator(const RunOptions& options);

// One ECU over stdin/stdout: each line is a request in hex (or "sleep MS"); each answer is printed
// as hex, "-" for silence, "drop" for a dropped connection. For debugging and the e2e tests.
Result<void> run_console(const RunOptions& options, const std::string& ecu_name, std::istream& in, std::ostream& out);

// Loads the config and applies --fault options to it (ECU names checked).
Result<SimConfig> load_with_faults(const RunOptions& options);

}  // namespace ecuup::sim
