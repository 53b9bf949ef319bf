#pragma once
// `ecuup-repo pack vbf`: a VBF file from flash images (raw, Intel HEX, S-record), one block per
// image segment.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "container/container.hpp"
#include "util/result.hpp"

namespace ecuup {

struct VbfPackRequest {
  std::vector<std::filesystem::path> images;
  std::optional<std::uint32_t> raw_base_address;  // required for a raw image
  std::filesystem::path out;
  std::string part_type = "EXE";  // SBL, EXE, DATA
  std::string part_number;
  std::string version;
  int vbf_version_major = 2;
  int vbf_version_minor = 6;
  std::uint8_t data_format = 0x00;  // 0x00 plain, 0x10 zlib (ecuup's compression method 1)
  std::vector<MemoryRange> erase;
  std::optional<std::uint32_t> call;
  std::uint32_t ecu_address = 0;
};

struct VbfPackSummary {
  std::size_t blocks = 0;
  std::uint64_t memory_bytes = 0;  // what the blocks fill in the ECU
  std::uint64_t file_bytes = 0;    // the VBF file's size
  std::uint32_t file_checksum = 0;
};

// Reads every image (raw ones at raw_base_address), writes the VBF atomically to `out`.
// Errc::usage for a request the format cannot carry (images that overlap, an SBL without call,
// a data format ecuup cannot write); Errc::config for an unreadable image; Errc::io for `out`.
Result<VbfPackSummary> pack_vbf(const VbfPackRequest& request);

}  // namespace ecuup
