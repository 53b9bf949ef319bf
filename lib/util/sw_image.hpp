#pragma once
// ecuup's software image convention: a 64-byte header in front of the payload, so an ECU (the
// image driver, the simulator) can tell which version it runs and check what was written.
//   0  magic "ECUUPIMG"            8 bytes
//   8  version, NUL-padded ASCII   32 bytes
//  40  payload length              u32 big-endian
//  44  CRC-32/IEEE of the payload  u32 big-endian
//  48  reserved, zero              16 bytes
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "util/bytes.hpp"
#include "util/result.hpp"

namespace ecuup {

inline constexpr std::size_t k_sw_image_header_size = 64;
inline constexpr std::size_t k_sw_image_version_max = 32;
inline constexpr std::string_view k_sw_image_magic = "ECUUPIMG";

struct SwImageInfo {
  std::string version;
  std::uint32_t payload_size = 0;
  std::uint32_t crc32 = 0;
};

// CRC-32/IEEE (reflected, poly 0xEDB88320), incremental: crc32(b, crc32(a)) == crc32(a+b).
std::uint32_t crc32(ByteView data, std::uint32_t previous = 0);

Bytes make_sw_image(std::string_view version, ByteView payload);
// Errc::verify when the magic is missing or the version field is malformed.
Result<SwImageInfo> parse_sw_image_header(ByteView first_bytes);
// Reads the header and checks the payload's length and CRC, streaming.
Result<SwImageInfo> verify_sw_image_file(const std::filesystem::path& path, std::uint64_t offset = 0);

}  // namespace ecuup
