#pragma once
// The simulator's YAML configuration: which ECUs exist, how they are reached (DoIP logical
// address, CAN ids), what they answer, their memory, timing and faults. Format: `ecuup-sim run --help`.
#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "sim/fault.hpp"
#include "util/bytes.hpp"
#include "util/result.hpp"

namespace ecuup::sim {

struct CanIds {
  std::uint32_t request_id = 0;   // the tester sends requests with this id (the ECU receives it)
  std::uint32_t response_id = 0;  // the ECU answers with this id
  bool extended = false;          // 29-bit ids
  bool fd = false;                // answer with CAN FD frames
};

struct DidConfig {
  std::uint16_t id = 0;
  Bytes value;
  bool writable = false;  // 0x2E allowed (extended/programming session, security unlocked)
};

struct MemoryRegion {
  std::uint32_t address = 0;
  std::uint32_t size = 0;
};

struct EcuTiming {
  std::uint32_t erase_time_ms = 100;
  std::uint32_t write_bytes_per_s = 0;  // 0: writing takes no modelled time
  std::uint32_t reset_time_ms = 200;    // silent while "rebooting" after 0x11 or a power loss
  std::uint32_t s3_timeout_ms = 5000;   // non-default session falls back to default without requests
  std::uint32_t p2_ms = 50;             // reported in the 0x50 response
  std::uint32_t p2_star_ms = 5000;      // reported in the 0x50 response (10 ms units on the wire)
  std::uint32_t security_delay_ms = 1000;  // lockout after too many invalid keys
  // Off the network (DoIP refused, CAN silent) this long after 0x11 or a power loss; replaces
  // reset_time_ms when > 0.
  std::uint32_t boot_time_ms = 0;
  // requestSeed answers 0x37 this long after every power-on or reset (ISO 14229-1 allows a delay
  // timer at power-up); counted from the moment the ECU answers again.
  std::uint32_t boot_security_delay_ms = 0;
};

// RAM for a secondary boot loader: a download here needs no erase and is gone at the next reset;
// RoutineControl `routine` with the call address (4 bytes) starts what was downloaded there. With
// `required`, the erase routine and downloads to flash are refused (conditionsNotCorrect) until a
// boot loader runs, as on ECUs whose primary boot loader cannot program flash itself.
struct SblConfig {
  std::uint32_t address = 0;
  std::uint32_t size = 0;
  std::uint16_t routine = 0x0301;
  bool required = false;
};

struct InitialImage {
  std::string version;
  std::uint32_t size = 4096;  // payload bytes (deterministic pattern)
};

struct EcuConfig {
  std::string name;
  std::optional<std::uint16_t> doip_address;
  // Its own DoIP entity on this TCP port (0 = a free one), rather than the shared one on doip.port:
  // then its power cuts and boots close and reopen a listener nothing else uses.
  std::optional<std::uint16_t> doip_port;
  std::optional<CanIds> can;
  std::vector<DidConfig> dids;
  std::vector<MemoryRegion> memory;
  std::optional<InitialImage> initial_image;
  std::vector<std::uint8_t> security_levels{1};  // requestSeed sub-functions (odd)
  std::uint8_t programming_level = 1;            // level that unlocks erase/download/upload/2E
  std::uint32_t security_attempts = 3;           // invalid keys before 0x36 and the lockout delay
  EcuTiming timing;
  std::uint32_t max_block_length = 0;  // 0: derived (CAN 0x0FFF, DoIP-only 4096+2)
  bool programming_from_default = false;  // allow 10 02 directly from the default session
  std::string boot_marker = "BOOT";    // F189 while no valid software is installed
  std::optional<SblConfig> sbl;
  // RequestDownload's compression method 1 (zlib, the high nibble of the dataFormatIdentifier) is
  // accepted and decompressed as it arrives; false: only plain data (0x00).
  bool compression = true;
  std::vector<FaultSpec> faults;
};

struct SimConfig {
  std::string bus;  // frame bus spec ("udp:LOCAL:REMOTE", "socketcan:IFACE"), empty = no CAN
  // The vehicle's VIN: F190 of every ECU that does not configure its own, and the DoIP entities'
  // announcements. Empty: a random one per start (ECUUPSIM + 9 digits), so that two simulators
  // are never the same vehicle.
  std::string vin;
  std::string doip_bind = "127.0.0.1";
  std::uint16_t doip_port = 13400;
  std::uint32_t doip_max_data_size = 0;  // 0: derived from the largest block length
  // The shared DoIP entity's EID and the vehicle's GID (6 bytes each); empty: random per start
  // (EID: a locally administered MAC address; GID: the shared entity's EID).
  std::optional<std::array<std::uint8_t, 6>> doip_eid;
  std::optional<std::array<std::uint8_t, 6>> doip_gid;
  // Where the vehicle announcements go ("HOST[:PORT]"); empty: the bind address's broadcast
  // address (127.255.255.255 on loopback, else 255.255.255.255), port 13400; "none": nowhere.
  std::string doip_announce;
  std::uint8_t doip_power_mode = 0x01;  // diagnostic power mode answered on UDP (0x4004): ready
  std::vector<EcuConfig> ecus;

  const EcuConfig* find(const std::string& name) const;
};

// Errc::config with "FILE:LINE:COL: ..." on any problem, unknown keys included.
Result<SimConfig> load_sim_config(const std::filesystem::path& path);
Result<SimConfig> parse_sim_config(const std::string& yaml, const std::string& origin);

// Fills what the config left to chance: a random VIN (when none is configured), the EID and GID,
// and F190 (the VIN) on every ECU that does not answer it already.
void complete_identity(SimConfig& config);

// Block length rule shared by the config and the model.
std::uint32_t effective_max_block_length(const EcuConfig& ecu);

}  // namespace ecuup::sim
