#pragma once
// ecuup-sim's small subcommands (key, mkimage, dump, power-cut): what each does once its command
// line is parsed. `run` and `console` are in sim_server.hpp.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "util/result.hpp"

namespace ecuup::sim {

// The toy SecurityAccess key (toy_key.hpp) for the requestSeed sub-function `level_text` and the
// seed in hex, as hex. Errc::usage on a bad level or seed.
Result<std::string> toy_key_hex(const std::string& level_text, const std::string& seed_hex);

struct MkimageOptions {
  std::string version;
  std::optional<std::uint32_t> size;  // payload of this many pseudo-random bytes...
  std::uint64_t seed = 1;
  std::string payload;  // ...or this file's bytes
  std::string output;
};

// Writes a software image (ECUUPIMG header + payload) to `output`.
Result<void> make_image(const MkimageOptions& options);

struct DumpOptions {
  std::string state_dir = "ecuup-sim-state";
  std::string ecu;
  std::string output;
  std::optional<std::uint32_t> address;  // the region starting here; default the lowest
  bool image_only = false;               // only the image at the region's start (header + payload)
};

// Writes an ECU's flash memory, as the simulator persisted it, to `output`.
Result<void> dump_flash(const DumpOptions& options);

struct PowerCutOptions {
  std::string state_dir = "ecuup-sim-state";
  std::vector<std::string> ecus;
  bool all = false;
  std::uint32_t ms = 1000;
};

// Cuts the power of ECUs of the simulator running on `state_dir`, through its control socket.
Result<void> power_cut(const PowerCutOptions& options);

}  // namespace ecuup::sim
