#pragma once
// The `uds` ECU driver: ISO 14229 over ISO-TP/CAN or DoIP (ecuup-uds(7) documents its config).
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "ecu/driver.hpp"
#include "ecu/uds_link.hpp"
#include "transport/link.hpp"
#include "uds/client.hpp"
#include "uds/programming.hpp"
#include "util/image.hpp"

namespace ecuup {

// How identification DIDs are shown: ASCII text (trailing NUL/0xFF/space trimmed; hex when not
// printable), or always hex.
enum class DidEncoding { ascii, hex };

struct UdsDriverSettings {
  std::string ecu_name;
  UdsTransportSettings transport;
  std::filesystem::path trace_file;
  UdsClientOptions client;
  UdsSequenceOptions sequence;  // includes version_did, steps, regions
  DidEncoding version_encoding = DidEncoding::ascii;
  std::map<std::string, std::uint16_t> identification;  // name -> DID (serial: F18C, ...)
  // The hardware part number, for signed releases bound to hardware (extra "hardware"); 0: none.
  // An ECU that answers it with a negative response simply has none.
  std::uint16_t hardware_did = 0xF191;  // vehicleManufacturerECUHardwareNumber (ISO 14229-1)
  std::string key_command;             // template with {seed} {level} {level_hex} {ecu}
  std::filesystem::path key_library;   // exports ecuup_seed_to_key()
  std::chrono::milliseconds key_timeout{10000};
  // In recovery mode (EcuDriver::set_recovery: a restore, re-reading an ECU after a failure) every
  // operation keeps trying through silence, refused or dropped links and NRCs 0x21/0x22/0x37 for
  // this long before it gives up with the last failure.
  std::chrono::milliseconds recovery_window{60000};
  // Where the ECU accepts downloads (memory.ranges); empty: not checked.
  std::vector<MemoryRange> memory_ranges;
  ImageFormat image_format = ImageFormat::auto_detect;
  std::uint32_t image_base_address = 0;
  ImageFormat read_out_format = ImageFormat::auto_detect;  // auto: raw for one region at the base, else srec
};

// Reads `ecu.settings` (the `uds:` section); Errc::config with file:line:col.
Result<UdsDriverSettings> parse_uds_settings(const EcuConfig& ecu, const DriverContext& context);

Result<std::unique_ptr<EcuDriver>> make_uds_driver(const EcuConfig& ecu, const DriverContext& context);

// For tests and tools: the driver over links from `open_link` (called again after a reset drops one).
using DiagLinkFactory = std::function<Result<std::unique_ptr<DiagLink>>()>;
Result<std::unique_ptr<EcuDriver>> make_uds_driver(UdsDriverSettings settings, DiagLinkFactory open_link);

// "1.2.0" from 31 2E 32 2E 30 00 00; non-printable data as hex.
std::string decode_did(ByteView data, DidEncoding encoding);

}  // namespace ecuup
